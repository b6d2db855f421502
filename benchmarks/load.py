"""Checkpoint load time vs raw read time, and the memory it leaves behind.

Loads a full-size fp16 single-file checkpoint (SD1.5 or SDXL random weights written by
``diffusion.checkpoint_maker`` unless ``--file`` is given) with ``load_checkpoint`` (fp32
compute on CPU) and compares with reading the file's bytes. Two storages (``--mode``):

* ``upcast``: every fp16 weight converted to float32 on load, written once into its final
  storage (``diffusion.loading.arena``);
* ``keep-half``: fp16 weights kept as the file's memory-mapped pages, upcast per layer when it
  runs (``diffusion.weight_cast``; the CPU default of the engine).

Reports anonymous and file-backed RSS separately (``RssAnon`` / ``RssFile`` from
/proc/self/status) and anonymous RSS ÷ the float32 bytes of the weights. Both timings are with
a warm page cache. Run one mode per process (RSS is per process).

Run: python benchmarks/load.py [--arch sd15|sdxl] [--mode upcast|keep-half] [--file PATH] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.checkpoint_maker import make_checkpoint  # noqa: E402
from diffusion.loading import Checkpoint, load_checkpoint  # noqa: E402

logger = logging.getLogger("load")
CHUNK = 64 * 1024 * 1024


def rss_mib() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def raw_read_seconds(path: Path) -> float:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    start = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        while fh.readinto(view):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="checkpoint to load (default: make one)")
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint, finishes in seconds")
    parser.add_argument("--arch", choices=("sd15", "sdxl"), default="sd15")
    parser.add_argument("--mode", choices=("upcast", "keep-half"), default="upcast")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = make_checkpoint(args.arch, Path(tmp) / f"{args.arch}.safetensors",
                                   tiny=args.smoke)
        gc.collect()
        before = rss_mib()
        raw_read_seconds(path)  # warm the page cache
        raw = min(raw_read_seconds(path) for _ in range(2))
        start = time.perf_counter()
        checkpoint = load_checkpoint(path, keep_half=args.mode == "keep-half")
        load = time.perf_counter() - start
        after = rss_mib()
        report(path, checkpoint, raw, load, before, after, args.mode)


def fp32_mib(checkpoint: Checkpoint) -> float:
    """The checkpoint's weights counted at 4 bytes per element."""
    modules = [checkpoint.unet, checkpoint.vae, *(m for _, m in checkpoint.text_encoders.values())]
    return sum(t.numel() for m in modules if m is not None
               for t in [*m.parameters(), *m.buffers()]) * 4 / 2**20


def report(path: Path, checkpoint: Checkpoint, raw: float, load: float,
           before: dict[str, float], after: dict[str, float], mode: str) -> None:
    size_mib = path.stat().st_size / 2**20
    anon = after["RssAnon"] - before["RssAnon"]
    fp32 = fp32_mib(checkpoint)
    print(f"file {path.name} {size_mib:.0f} MiB ({checkpoint.layout.family}), mode {mode}")
    print(f"raw read {raw:.2f} s  load {load:.2f} s  ratio {load / raw:.2f}")
    print(
        f"RSS anon +{anon:.0f} MiB  "
        f"file +{after['RssFile'] - before['RssFile']:.0f} MiB  "
        f"peak {after['VmHWM']:.0f} MiB  anon / fp32 weights {anon / fp32:.3f} "
        f"({fp32:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
