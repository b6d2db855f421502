"""Checkpoint load time vs raw read time, and the memory it leaves behind.

Loads a full-size fp16 SD1.5 single-file checkpoint (random weights written by
``diffusion.checkpoint_maker`` unless ``--file`` is given) with ``load_checkpoint`` (fp32 on CPU)
and compares with reading the file's bytes. Reports anonymous and file-backed RSS separately
(``RssAnon`` / ``RssFile`` from /proc/self/status). Both timings are with a warm page cache.

Run: python benchmarks/load.py [--file PATH] [--smoke]
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
from diffusion.loading import load_checkpoint  # noqa: E402

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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = make_checkpoint("sd15", Path(tmp) / "sd15.safetensors", tiny=args.smoke)
        gc.collect()
        before = rss_mib()
        raw_read_seconds(path)  # warm the page cache
        raw = min(raw_read_seconds(path) for _ in range(2))
        start = time.perf_counter()
        checkpoint = load_checkpoint(path)
        load = time.perf_counter() - start
        after = rss_mib()
        size_mib = path.stat().st_size / 2**20
        print(f"file {path.name} {size_mib:.0f} MiB ({checkpoint.layout.family})")
        print(f"raw read {raw:.2f} s  load {load:.2f} s  ratio {load / raw:.1f}")
        print(
            f"RSS anon +{after['RssAnon'] - before['RssAnon']:.0f} MiB  "
            f"file +{after['RssFile'] - before['RssFile']:.0f} MiB  "
            f"peak {after['VmHWM']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
