"""One UNet forward: ours vs diffusers' UNet2DConditionModel on the same weights, interleaved.

Full-size SD1.5 UNet, fp32, batch 2, 32x32 latents (``--latent 64`` for 64x64). Both models share
the very same parameter tensors (diffusers' converter only renames keys, and the reference loads
them with ``assign=True``), so only one copy of the weights is in memory. Also reports achieved
FLOP/s divided by the machine's fp32 matmul FLOP/s (measured every round). The FLOPs are the
model's (``torch.utils.flop_counter`` on diffusers' forward, which runs every convolution
directly): our Winograd convolutions do fewer multiplies for the same result, so ours reports
effective FLOP/s, and its executed FLOPs too.

Run: python benchmarks/unet_step.py [--latent 32|64] [--repeat 5] [--smoke] [--compiled]
    [--keep-half]
Goal (issue 3): ours / diffusers <= 1.0. ``--size`` is another name for ``--latent``.

``--keep-half`` stores our UNet's weights in fp16 and upcasts them per layer as it runs
(``diffusion.weight_cast``: the engine's CPU default for fp16 files) while diffusers keeps
float32 weights: the per-step price of keeping an fp16 file's weights as stored.

``--compiled`` instead compares our UNet compiled by TorchCompileModel's wrapper
(``torch.compile``, inductor) with the same UNet eager: the first call's compile time, then the
interleaved forward times and compiled / eager (issue 14).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.diffusers_ref import diffusers_twin  # noqa: E402
from benchmarks.step_timing import report, timed_rounds  # noqa: E402
from diffusion.model_patches import TorchCompile  # noqa: E402
from diffusion.unet import UNetConfig, UNetModel, sd1_config  # noqa: E402
from diffusion.weight_cast import cast_weights  # noqa: E402

logger = logging.getLogger("unet_step")


def _reference_config(cfg: UNetConfig) -> dict[str, object]:
    """SD1-family UNet2DConditionModel config (attention on every level but the last)."""
    levels = len(cfg.channel_mult)
    return {
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "down_block_types": ["CrossAttnDownBlock2D"] * (levels - 1) + ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (levels - 1),
        "block_out_channels": [cfg.model_channels * m for m in cfg.channel_mult],
        "layers_per_block": cfg.num_res_blocks[0],
        "cross_attention_dim": cfg.context_dim,
        "attention_head_dim": cfg.num_heads,
    }


def _smoke_config() -> UNetConfig:
    return sd1_config().replace(
        model_channels=32,
        channel_mult=(1, 2),
        num_res_blocks=(2, 2),
        transformer_depth=(1, 1, 0, 0),
        transformer_depth_output=(0, 0, 0, 1, 1, 1),
        context_dim=64,
    )


def build_pair(cfg: UNetConfig) -> tuple[UNetModel, torch.nn.Module]:
    import diffusers
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    torch.manual_seed(0)
    ours = UNetModel(cfg).eval().requires_grad_(False)
    ref = diffusers_twin(ours, "model.diffusion_model.", diffusers.UNet2DConditionModel,
                         _reference_config(cfg), convert_ldm_unet_checkpoint)
    return ours, ref


def keep_half(model: UNetModel) -> UNetModel:
    """``model`` with fp16 weights upcast per layer (its float32 tensors are replaced)."""
    with torch.no_grad():
        for module in model.modules():
            for name, param in list(module._parameters.items()):
                if param is not None and param.is_floating_point():
                    module._parameters[name] = torch.nn.Parameter(param.half(),
                                                                  requires_grad=False)
    cast_weights(model, torch.float32)
    return model


def compiled_vs_eager(cfg: UNetConfig, latent: int, repeat: int, label: str) -> None:
    """Our UNet through TorchCompileModel's wrapper vs eager, interleaved."""
    torch.manual_seed(0)
    ours = UNetModel(cfg).eval().requires_grad_(False)
    compiled = TorchCompile("inductor")(ours)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, latent, latent, generator=gen)
    t = torch.tensor([999.0, 500.0])
    context = torch.randn(2, 77, cfg.context_dim, generator=gen)
    with torch.inference_mode():
        start = time.perf_counter()
        got = compiled(x, t, context)
        compile_s = time.perf_counter() - start
        want = ours(x, t, context)
        rel = float((got - want).abs().max() / want.abs().max())
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(repeat):
            for name, fn in (("eager", ours), ("compiled", compiled)):
                start = time.perf_counter()
                fn(x, t, context)
                times[name].append(time.perf_counter() - start)
    eager_s, fast_s = statistics.median(times["eager"]), statistics.median(times["compiled"])
    print(f"unet {label} batch 2 latent {latent}x{latent} fp32, torch.compile inductor, "
          f"{torch.get_num_threads()} threads")
    print(f"first compiled call (compile) {compile_s:.1f} s")
    print(f"eager {eager_s:.3f} s  compiled {fast_s:.3f} s  compiled/eager {fast_s / eager_s:.3f}"
          f"  (max rel diff {rel:.1e}, median of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", "--size", type=int, default=32, choices=(32, 64))
    parser.add_argument("--keep-half", action="store_true",
                        help="our weights stored fp16, upcast per layer (diffusers: fp32)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny UNet, finishes in seconds")
    parser.add_argument("--compiled", action="store_true",
                        help="compiled (TorchCompileModel) vs eager instead of vs diffusers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = _smoke_config() if args.smoke else sd1_config()
    if args.compiled:
        compiled_vs_eager(cfg, args.latent, args.repeat, "smoke" if args.smoke else "sd15")
        return
    ours, ref = build_pair(cfg)
    if args.keep_half:  # diffusers keeps the float32 tensors; ours gets fp16 copies
        ours = keep_half(ours)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, args.latent, args.latent, generator=gen)
    t = torch.tensor([999.0, 500.0])
    context = torch.randn(2, 77, cfg.context_dim, generator=gen)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as executed:
            got = ours(x, t, context)
        with FlopCounterMode(display=False) as counter:
            want = ref(x, t, context).sample
        rel = float((got - want).abs().max() / want.abs().max())
        times, peaks = timed_rounds({"ours": lambda: ours(x, t, context),
                                     "diffusers": lambda: ref(x, t, context)}, args.repeat)
    storage = "fp16 weights upcast per layer" if args.keep_half else "fp32 weights"
    print(f"unet {'smoke' if args.smoke else 'sd15'} batch 2 latent {args.latent}x{args.latent} "
          f"fp32 compute, ours: {storage}")
    report(times, peaks, counter.get_total_flops(), executed.get_total_flops(), rel, "forward")


if __name__ == "__main__":
    main()
