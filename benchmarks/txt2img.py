"""txt2img, warm: Latentgraph vs diffusers' StableDiffusionPipeline on the same random weights.

A random SD1.5 checkpoint (fp16 file; both sides compute in fp32) is written to a temp dir. Ours
runs the API workflow CheckpointLoaderSimple → CLIPTextEncode ×2 → EmptyLatentImage → KSampler
(euler, normal) → VAEDecode through an engine built by the composition root; diffusers runs a
StableDiffusionPipeline assembled from the same file with diffusers' single-file converters and
local configs (EulerDiscreteScheduler, linspace timesteps). After one warm-up run each, timed runs
interleave the two with a new prompt and seed each time (text encoding reruns on both sides).
Hooks time our text encoders, UNet forwards and VAE decoder; the rest of the wall time is our
overhead. Finally a seed-only rerun must read no weights and re-encode nothing.

With ``--memory`` only our engine runs (no diffusers in the process): a cold job (loads every
component) then a warm one with a new prompt; prints each job record's peak RSS
(``JobOutcome.peak_rss_bytes``: the process's high-water mark, reset as each job starts), the
process's anonymous and file-backed RSS after each, and what the model manager holds.

    python benchmarks/txt2img.py            # 256×256, 10 steps, full-size SD1.5 (slow on CPU)
    python benchmarks/txt2img.py --smoke    # tiny model, 64×64, 3 steps (< 30 s)
    python benchmarks/txt2img.py --memory --size 512 --steps 4 [--file sd15.safetensors]
    python benchmarks/txt2img.py --memory --pipeline sdxl-refiner --size 1024 --steps 2
    python benchmarks/txt2img.py --memory --pipeline switch --size 256 --steps 1 --budget 6G

``--pipeline sdxl-refiner`` runs SDXL base → refiner (``benchmarks/memory_workflows.py``) and
``switch`` one job per file over three SD1.5 files, twice round, under ``--budget``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.diffusers_ref import clip_tokenizer, unet_config, vae_config  # noqa: E402
from benchmarks.load import rss_mib  # noqa: E402
from benchmarks.memory_workflows import refiner_workflow  # noqa: E402
from diffusion.checkpoint_maker import checkpoint_layout, make_checkpoint  # noqa: E402
from diffusion.latent_format import SD15  # noqa: E402
from executor.jobs import JobOutcome, JobRequest  # noqa: E402
from latentgraph.app import (  # noqa: E402
    build_engine,
    build_registry,
    default_model_folders,
    folders_under,
)
from latentgraph.cli_serve import parse_size  # noqa: E402

NEGATIVE = "blurry, low quality"


def workflow(prompt: str, seed: int, size: int, steps: int) -> dict[str, Any]:
    def encode(text: str) -> dict[str, Any]:
        return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}}

    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": encode(prompt), "7": encode(NEGATIVE),
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    }


class Timer:
    """Accumulates the wall time spent inside hooked modules' forward calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start: dict[int, float] = {}

    def attach(self, module: torch.nn.Module, label: str) -> None:
        def pre(mod: torch.nn.Module, args: Any) -> None:
            self._start[id(mod)] = time.perf_counter()

        def post(mod: torch.nn.Module, args: Any, out: Any) -> None:
            elapsed = time.perf_counter() - self._start.pop(id(mod))
            self.seconds[label] = self.seconds.get(label, 0.0) + elapsed

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def take(self) -> dict[str, float]:
        out, self.seconds = self.seconds, {}
        return out


# ---------------------------------------------------------------- diffusers from the same file

def diffusers_pipeline(path: Path, tiny: bool, scratch: Path) -> Any:
    import diffusers
    import transformers
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    layout = checkpoint_layout("sd15", tiny=tiny)
    state = {k: v.float() for k, v in load_file(path).items()}  # fp16 file, fp32 compute
    u_cfg = unet_config(layout.unet)
    unet = diffusers.UNet2DConditionModel(**u_cfg).eval()
    unet.load_state_dict(convert_ldm_unet_checkpoint(state, u_cfg), strict=True)
    assert layout.vae is not None
    v_cfg = vae_config(layout.vae, SD15.scale_factor)
    vae = diffusers.AutoencoderKL(**v_cfg).eval()
    vae.load_state_dict(convert_ldm_vae_checkpoint(state, v_cfg), strict=True)
    t = layout.text[0][1]
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=t.vocab_size, hidden_size=t.width, intermediate_size=t.width * t.mlp_ratio,
        num_hidden_layers=t.layers, num_attention_heads=t.heads,
        max_position_embeddings=t.max_positions, hidden_act=t.activation,
        layer_norm_eps=t.eps, bos_token_id=49406, eos_token_id=49407, pad_token_id=1)).eval()
    converted = convert_ldm_clip_checkpoint(state)
    if not hasattr(text, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    converted = {k: v for k, v in converted.items() if not k.endswith("position_ids")}  # a buffer
    text.load_state_dict(converted, strict=True)
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, timestep_spacing="linspace", steps_offset=1)
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=clip_tokenizer(scratch), unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---------------------------------------------------------------- runs

@contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def run_ours(engine: Any, prompt: dict[str, Any], job: str) -> tuple[float, JobOutcome]:
    with timed() as seconds:
        result = engine.execute(JobRequest(job, prompt, ("8",)))
    if not result.ok:
        raise RuntimeError(f"our run failed: {result.failure}")
    return seconds[0], result


def hook_ours(engine: Any, prompt: dict[str, Any], timer: Timer) -> None:
    """Hooks on the resident modules behind the loader's cached handles."""
    keys = engine.history.get("4", "CheckpointLoaderSimple")
    model, clip, vae = (slot[0] for slot in engine.cache.get(keys[1]).outputs)
    manager = engine.ports.models
    for handle, label, pick in [(model.unet, "unet", lambda m: m),
                                *[(e.handle, "text", lambda m: m) for e in clip.encoders],
                                (vae.handle, "vae_decode", lambda m: m.decoder)]:
        with manager.use(handle) as module:
            timer.attach(pick(module), label)


def hook_diffusers(pipe: Any, timer: Timer) -> None:
    timer.attach(pipe.unet, "unet")
    timer.attach(pipe.text_encoder, "text")
    timer.attach(pipe.vae.decoder, "vae_decode")


def run_diffusers(pipe: Any, text: str, seed: int, size: int, steps: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    with timed() as seconds, torch.no_grad():
        pipe(text, negative_prompt=NEGATIVE, height=size, width=size, num_inference_steps=steps,
             guidance_scale=7.0, generator=generator, output_type="np")
    return seconds[0]


def summarize(label: str, totals: list[float], parts: list[dict[str, float]]) -> dict[str, float]:
    total = sum(totals) / len(totals)
    mean = {k: sum(p.get(k, 0.0) for p in parts) / len(parts) for k in ("text", "unet",
                                                                        "vae_decode")}
    outside = total - sum(mean.values())
    print(f"{label:9s} total {total:8.3f} s | text {mean['text']:.3f} unet {mean['unet']:.3f} "
          f"vae_decode {mean['vae_decode']:.3f} | outside {outside:.3f} s "
          f"({100 * outside / total:.2f} %)")
    return {"total": total, "outside_pct": 100 * outside / total}


def seed_only_rerun(engine: Any, prompt: dict[str, Any]) -> None:
    manager = engine.ports.models
    loads = manager.loads
    prompt["3"]["inputs"]["seed"] += 1000
    seconds, result = run_ours(engine, prompt, "seed-only")
    reasons = {k: v.value for k, v in result.reasons.items()}
    re_encoded = [n for n in ("6", "7") if n in result.executed]
    print(f"seed-only rerun {seconds:.3f} s: executed {sorted(result.executed)}, "
          f"reloaded components {manager.loads - loads}, re-encoded {re_encoded}, "
          f"reasons {reasons}")
    if manager.loads != loads or re_encoded or "4" in result.executed:
        raise SystemExit("FAIL: a seed-only rerun reloaded or re-encoded")


def place_checkpoint(args: argparse.Namespace, base: Path) -> Path:
    """``--file`` linked into the models folder, or a random fp16 SD1.5 written there."""
    place_file(base, "sd15.safetensors", args.file, "sd15", 0, args.smoke)
    return base / "models" / "checkpoints" / "sd15.safetensors"


def place_file(base: Path, name: str, given: Path | None, arch: str, seed: int,
               smoke: bool) -> None:
    """``given`` linked into the models folder as ``name``, or a random fp16 file made there."""
    path = base / "models" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if given is not None:
        path.symlink_to(given.resolve())
        return
    with timed() as made:
        make_checkpoint(arch, path, tiny=smoke, dtype="fp16", seed=seed)  # type: ignore[arg-type]
    print(f"{name}: {path.stat().st_size / 2**20:.0f} MiB written in {made[0]:.1f} s")


def memory_jobs(args: argparse.Namespace, base: Path
                ) -> list[tuple[str, dict[str, Any]]]:
    """(job name, prompt) pairs of the ``--pipeline``, their files placed under ``base``."""
    size, steps = (64, 3) if args.smoke else (args.size, args.steps)
    texts = ("a lighthouse at dusk", "a red bicycle, studio")
    if args.pipeline == "sdxl-refiner":
        place_file(base, "sdxl.safetensors", args.file, "sdxl", 0, args.smoke)
        place_file(base, "sdxl-refiner.safetensors", args.refiner_file, "sdxl-refiner", 1,
                   args.smoke)
        if steps < 2:
            raise SystemExit("--pipeline sdxl-refiner needs --steps 2 or more (base, refiner)")
        switch = min(steps - 1, max(1, round(steps * 0.8)))  # the refiner runs at least one
        return [(job, refiner_workflow(text, 1, size, steps, switch))
                for job, text in zip(("cold", "warm"), texts, strict=True)]
    if args.pipeline == "switch":
        names = [f"sd15-{n}.safetensors" for n in range(3)]
        for n, name in enumerate(names):
            place_file(base, name, None, "sd15", n, args.smoke)
        jobs = []
        for n in range(2 * len(names)):
            prompt = workflow(texts[n % 2], n, size, steps)
            prompt["4"]["inputs"]["ckpt_name"] = names[n % len(names)]
            jobs.append((f"{names[n % len(names)]}#{n}", prompt))
        return jobs
    place_checkpoint(args, base)
    return [(job, workflow(text, 1, size, steps))
            for job, text in zip(("cold", "warm"), texts, strict=True)]


def memory(args: argparse.Namespace, base: Path) -> None:
    size, steps = (64, 3) if args.smoke else (args.size, args.steps)
    jobs = memory_jobs(args, base)
    folders = folders_under(base)
    ports = None
    if args.budget is not None:
        from nodes.models import local_ports

        ports = local_ports(default_model_folders(folders), budget_bytes=args.budget)
    engine = build_engine(build_registry(folders), folders, ports=ports)
    manager = engine.ports.models
    print(f"{args.pipeline} {size}x{size}, {steps} steps, model budget "
          f"{manager.budget_bytes / 2**30:.2f} GiB; before any job: {rss_mib()}")
    for job, prompt in jobs:
        seconds, result = run_ours(engine, prompt, job)
        peak = (result.peak_rss_bytes or 0) / 2**30
        now = rss_mib()
        held = [(name, on) for _, name, on in manager.resident()]
        print(f"{job} job {seconds:.1f} s: job peak RSS {peak:.2f} GiB | after: anon "
              f"{now['RssAnon'] / 1024:.2f} GiB, file {now['RssFile'] / 1024:.2f} GiB | "
              f"models {manager.device_bytes / 2**30:.2f} GiB held {held}")


def benchmark(args: argparse.Namespace, base: Path) -> None:
    size, steps = (64, 3) if args.smoke else (args.size, args.steps)
    path = place_checkpoint(args, base)
    print(f"{size}x{size}, {steps} steps, euler, cfg 7, torch threads {torch.get_num_threads()}")
    folders = folders_under(base)
    engine = build_engine(build_registry(folders), folders)
    pipe = diffusers_pipeline(path, args.smoke, base)
    warm_ours, _ = run_ours(engine, workflow("warm-up", 0, size, steps), "warm")
    warm_diffusers = run_diffusers(pipe, "warm-up", 0, size, steps)
    print(f"warm-up (loads): ours {warm_ours:.2f} s, diffusers {warm_diffusers:.2f} s")
    ours_timer, ref_timer = Timer(), Timer()
    hook_ours(engine, workflow("warm-up", 0, size, steps), ours_timer)
    hook_diffusers(pipe, ref_timer)
    ours: tuple[list[float], list[dict[str, float]]] = ([], [])
    ref: tuple[list[float], list[dict[str, float]]] = ([], [])
    prompt: dict[str, Any] = {}
    for i in range(args.repeats):
        text = f"a photograph of an astronaut riding a horse, take {i}"
        prompt = workflow(text, i + 1, size, steps)
        seconds, _ = run_ours(engine, prompt, f"ours-{i}")
        ours[0].append(seconds)
        ours[1].append(ours_timer.take())
        ref[0].append(run_diffusers(pipe, text, i + 1, size, steps))
        ref[1].append(ref_timer.take())
    mine = summarize("ours", *ours)
    theirs = summarize("diffusers", *ref)
    print(f"ratio ours / diffusers: {mine['total'] / theirs['total']:.3f}  (goal <= 1.0); "
          f"ours outside model parts: {mine['outside_pct']:.2f} %  (goal <= 3 %)")
    seed_only_rerun(engine, prompt)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, 64x64, 3 steps")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side")
    parser.add_argument("--memory", action="store_true",
                        help="ours only: peak RSS of a cold and a warm job")
    parser.add_argument("--file", type=Path,
                        help="fp16 SD1.5 (SDXL base with --pipeline sdxl-refiner) checkpoint "
                             "to use (default: make one)")
    parser.add_argument("--pipeline", choices=("sd15", "sdxl-refiner", "switch"),
                        default="sd15", help="--memory: one SD1.5 file, SDXL base -> refiner "
                        "(80 %% of the steps on the base), or three SD1.5 files in turn")
    parser.add_argument("--refiner-file", type=Path, help="fp16 SDXL refiner to use")
    parser.add_argument("--budget", type=parse_size, default=None,
                        help="the model manager's budget (e.g. 6G; default: half the RAM)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lg-bench-") as tmp:
        (memory if args.memory else benchmark)(args, Path(tmp))


if __name__ == "__main__":
    main()



