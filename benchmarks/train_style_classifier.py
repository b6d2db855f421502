"""Trains the adherence benchmark's shape classifier and writes its weights beside this script.

The classifier (``training.style_classifier``, 88k params) reads the shape mask cut out of a
picture by ``training.shape_masks.shape_mask``; it learns from 6,000 seeded procedural images
(every colour x shape combination, blurred and noised a little) and is checked on 1,000 images of
another seed. The weights (``style_classifier.safetensors``, fp32, ~350 KB) are committed.

Run: python benchmarks/train_style_classifier.py [--images 6000] [--steps 1500] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.style_classifier import save_style_classifier, train  # noqa: E402

WEIGHTS = Path(__file__).resolve().parent / "style_classifier.safetensors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    started = time.perf_counter()
    model, accuracy = train(args.images, args.steps, args.seed)
    save_style_classifier(model, args.out)
    print(f"style classifier: accuracy {accuracy:.1%} on 2 x 500 fresh procedural scenes "
          f"(seed {args.seed + 1}); trained in {time.perf_counter() - started:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
