"""LoRA on a full-size SD1.5 UNet: time to apply a rank-32 kohya LoRA and to switch between two
LoRA stacks, against reloading the checkpoint; peak memory.

Writes a random fp16 SD1.5 checkpoint (``diffusion.checkpoint_maker``) unless ``--file`` is
given, and two rank-32 kohya LoRAs over every linear layer of the UNet's transformer blocks (what
kohya trains by default). Through one ``ModelManager`` (fp32 on CPU): load the UNet, apply LoRA
A (read the file, map its keys, build the patched copy), apply B, switch back to A and to B
(both copies kept resident), then drop everything and reload the checkpoint for comparison.

Run: python benchmarks/lora.py [--file PATH] [--rank 32] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import rss_mib  # noqa: E402
from diffusion.checkpoint_maker import make_checkpoint  # noqa: E402
from diffusion.memory import ModelHandle, ModelManager  # noqa: E402
from diffusion.patching import PatchSet  # noqa: E402
from diffusion.patching.lora import load_lora_file, lora_patches, unet_target  # noqa: E402
from nodes.models.sources import open_model_file  # noqa: E402


def write_lora(unet: nn.Module, path: Path, rank: int, seed: int) -> Path:
    """kohya (``lora_unet_<ldm name>``) down/up/alpha for every transformer-block linear."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, module in unet.named_modules():
        if isinstance(module, nn.Linear) and "transformer_blocks" in name:
            key = "lora_unet_" + name.replace(".", "_")
            state[f"{key}.lora_down.weight"] = (
                torch.randn(rank, module.in_features, generator=gen) * 0.01).half()
            state[f"{key}.lora_up.weight"] = (
                torch.randn(module.out_features, rank, generator=gen) * 0.01).half()
            state[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file(state, path)
    return path


def timed(action: str, fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{action:<44} {seconds:8.3f} s   RSS anon {rss_mib()['RssAnon']:8.0f} MiB")
    return seconds


def patch_set(handle: ModelHandle, path: Path) -> PatchSet:
    targets = {"unet": unet_target(handle.opened.empty("unet").config)}  # type: ignore[attr-defined]
    return lora_patches(load_lora_file(path), targets, {"unet": 1.0}).patch_set("unet")


def use(manager: ModelManager, handle: ModelHandle, patches: PatchSet) -> None:
    with manager.use(handle, patches):
        pass


def run(checkpoint: Path, work: Path, rank: int) -> None:
    manager = ModelManager(budget_bytes=64 << 30, opener=open_model_file)
    handle = manager.open(checkpoint)["unet"]
    load = timed("load the UNet (cold)", lambda: use(manager, handle, PatchSet.EMPTY))
    with manager.use(handle) as unet:
        paths = [write_lora(unet, work / f"{n}.safetensors", rank, seed)
                 for seed, n in enumerate("ab")]
    print(f"LoRA files: {paths[0].stat().st_size / 2**20:.1f} MiB each (rank {rank})")
    sets: dict[str, PatchSet] = {}
    first = timed("apply LoRA A (read, map, patched copy)",
                  lambda: (sets.setdefault("a", patch_set(handle, paths[0])),
                           use(manager, handle, sets["a"])))
    second = timed("switch to LoRA B (read, map, patched copy)",
                   lambda: (sets.setdefault("b", patch_set(handle, paths[1])),
                            use(manager, handle, sets["b"])))
    timed("switch back to A (copy still resident)", lambda: use(manager, handle, sets["a"]))
    timed("switch to B again", lambda: use(manager, handle, sets["b"]))
    peak = rss_mib()["VmHWM"]
    manager.unload_all()
    gc.collect()
    reload = timed("reload the checkpoint (after unload_all)",
                   lambda: use(manager, handle, PatchSet.EMPTY))
    print(f"apply A / reload = {first / reload:.2f}   switch B / reload = {second / reload:.2f}"
          f"   (first load {load:.2f} s)   peak RSS {peak:.0f} MiB, patched copies "
          f"{manager.patched_copies}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="SD1.5 checkpoint (default: make one)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint, seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = args.file or make_checkpoint("sd15", work / "sd15.safetensors",
                                                  tiny=args.smoke)
        run(checkpoint, work, 4 if args.smoke else args.rank)


if __name__ == "__main__":
    main()
