"""Prepared GPU benchmark: our engine vs diffusers' pipelines on the same random weights.

For SD1.5 at 512² and SDXL at 1024² (batch 1, CFG 7, euler, ``--steps``), on one CUDA device:

* checkpoint load time: our model manager opening the fp16 file and making every component
  resident on the device (the file in the page cache: it was just written);
* sampling it/s: steps ÷ the time from the first UNet forward to the end of the last one, ours
  through the real workflow (CheckpointLoaderSimple → CLIPTextEncode ×2 → KSampler → VAEDecode)
  and diffusers' ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` built from the same
  file with diffusers' single-file converters (fp16 weights; diffusers upcasts the SDXL VAE);
* peak VRAM of one warm job (``torch.cuda.max_memory_allocated``), each side alone.

Full size on CUDA takes a few minutes (goal: under 10). ``--dry-run`` runs the same code on tiny
models on the CPU in seconds (CI runs it: ``tests/benchmarks/test_gpu_suite.py``); its figures
mean nothing beyond "the suite works".

    python benchmarks/gpu_suite.py [--steps 20] [--arch sd15 sdxl]
    python benchmarks/gpu_suite.py --dry-run
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from diffusers_ref import diffusers_pipeline  # noqa: E402

from diffusion.checkpoint_maker import Arch, checkpoint_layout, make_checkpoint  # noqa: E402
from executor.jobs import JobRequest  # noqa: E402
from executor.memory import budget_from_devices  # noqa: E402
from latentgraph.app import (  # noqa: E402
    build_engine,
    build_registry,
    default_model_folders,
    folders_under,
)
from nodes.models import local_ports  # noqa: E402

SIZES: dict[str, int] = {"sd15": 512, "sdxl": 1024}
NEGATIVE = "blurry, low quality"


@dataclass
class Side:
    label: str
    its: float  # sampling iterations per second
    peak_mib: float  # peak device memory of the timed job (CUDA), peak RSS on CPU
    load_s: float | None = None


class LoopClock:
    """First UNet forward start to last UNet forward end, synchronised on CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.first: float | None = None
        self.last = 0.0

    def attach(self, module: torch.nn.Module) -> None:
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _pre(self, *_: Any) -> None:
        if self.first is None:
            self._sync()
            self.first = time.perf_counter()

    def _post(self, *_: Any) -> None:
        self._sync()
        self.last = time.perf_counter()

    def reset(self) -> None:
        self.first = None

    def its(self, steps: int) -> float:
        assert self.first is not None, "no UNet forward ran"
        return steps / (self.last - self.first)


def workflow(arch: str, seed: int, size: int, steps: int) -> dict[str, Any]:
    def encode(text: str) -> dict[str, Any]:
        return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}}

    return {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": f"{arch}.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": encode(f"a lighthouse on a cliff, take {seed}"), "7": encode(NEGATIVE),
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    }


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device, job_peak_rss: int | None = None) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return (job_peak_rss or 0) / 2**20


def timed_load(manager: Any, path: Path, device: torch.device) -> float:
    """Opens ``path`` and makes every component resident (then leaves them there)."""
    start = time.perf_counter()
    for handle in manager.open(path).values():
        with handle.use():
            pass
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def run_ours(arch: str, base: Path, device: torch.device, size: int, steps: int) -> Side:
    folders = folders_under(base)
    ports = local_ports(default_model_folders(folders), device=device)
    ports = dataclasses.replace(ports, memory=budget_from_devices(ports.devices))
    engine = build_engine(build_registry(folders), folders, ports=ports)
    manager = ports.models
    load_s = timed_load(manager, base / "models" / "checkpoints" / f"{arch}.safetensors", device)
    clock = LoopClock(device)
    result = engine.execute(JobRequest("warm", workflow(arch, 0, size, steps), ("8",)))
    if not result.ok:
        raise RuntimeError(f"our {arch} warm-up failed: {result.failure}")
    keys = engine.history.get("4", "CheckpointLoaderSimple")
    model = engine.cache.get(keys[1]).outputs[0][0]
    with manager.use(model.unet) as unet:
        clock.attach(unet)
    reset_peak(device)
    result = engine.execute(JobRequest("timed", workflow(arch, 1, size, steps), ("8",)))
    if not result.ok:
        raise RuntimeError(f"our {arch} run failed: {result.failure}")
    side = Side("ours", clock.its(steps), peak_mib(device, result.peak_rss_bytes), load_s)
    manager.unload_all()
    return side


def run_diffusers(arch: str, path: Path, device: torch.device, tiny: bool, size: int,
                  steps: int, scratch: Path) -> Side:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipe = diffusers_pipeline(arch, path, checkpoint_layout(arch, tiny=tiny), scratch, dtype)
    pipe.to(device)
    clock = LoopClock(device)
    clock.attach(pipe.unet)

    def call(seed: int) -> None:
        generator = torch.Generator(device).manual_seed(seed)
        with torch.no_grad():
            pipe(f"a lighthouse on a cliff, take {seed}", negative_prompt=NEGATIVE, height=size,
                 width=size, num_inference_steps=steps, guidance_scale=7.0,
                 generator=generator, output_type="np")

    call(0)
    clock.reset()
    reset_peak(device)
    call(1)
    return Side("diffusers", clock.its(steps), peak_mib(device))


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def report(arch: str, size: int, steps: int, file_mib: float, ours: Side, ref: Side,
           unit: str) -> None:
    print(f"{arch} {size}x{size}, {steps} steps, batch 1, cfg 7 (file {file_mib:.0f} MiB)")
    print(f"  checkpoint load (ours, to device): {ours.load_s:.2f} s")
    for side in (ours, ref):
        print(f"  {side.label:9s} {side.its:7.2f} it/s   peak {unit} {side.peak_mib:8.0f} MiB")
    print(f"  it/s ours / diffusers: {ours.its / ref.its:.3f}")


def suite(archs: list[Arch], device: torch.device, tiny: bool, steps: int,
          size_of: Callable[[str], int]) -> None:
    unit = "VRAM" if device.type == "cuda" else "RSS (ours: job record)"
    for arch in archs:
        with tempfile.TemporaryDirectory(prefix="lg-gpu-") as tmp:
            base = Path(tmp)
            path = base / "models" / "checkpoints" / f"{arch}.safetensors"
            path.parent.mkdir(parents=True)
            make_checkpoint(arch, path, tiny=tiny, dtype="fp16", seed=0)
            size = size_of(arch)
            ours = run_ours(arch, base, device, size, steps)
            free(device)
            ref = run_diffusers(arch, path, device, tiny, size, steps, base)
            free(device)
            report(arch, size, steps, path.stat().st_size / 2**20, ours, ref, unit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny models on the CPU: checks the suite runs (seconds)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--arch", nargs="+", choices=list(SIZES), default=list(SIZES))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.dry_run:
        suite(args.arch, torch.device("cpu"), True, min(args.steps, 2), lambda _: 64)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_suite: no CUDA device here; use --dry-run to check the suite")
        print(f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        suite(args.arch, torch.device("cuda"), False, args.steps, SIZES.__getitem__)
    print(f"suite took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
