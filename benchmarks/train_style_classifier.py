"""Trains the LoRA benchmark's style classifier and writes its weights beside this script.

The classifier (``training.style_classifier``, 88k params) reads the shape mask cut out of a
picture by ``training.shape_masks.shape_mask``; it learns from 2 x 3,000 seeded procedural scenes
(filled and outlined, every shape but the ring), blurred and noised a little — or, with
``--round-trip``, first encoded and decoded by the demo model's VAE (the decoder's picture of each
style) — and is checked on 2 x 500 scenes of another seed made the same way. Then it reads 2 x
500 more scenes put through the VAE: the outlined share is the ceiling of what a LoRA can reach
through this VAE as this classifier reads it. The committed weights
(``style_classifier.safetensors``, fp32, ~350 KB) were trained with ``--round-trip`` (944 s on 2
cores).

Run: python benchmarks/train_style_classifier.py [--images 3000] [--steps 800] [--seed 0]
     [--round-trip]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.embedded import DEMO_CHECKPOINT, EMBEDDED_PATHS  # noqa: E402
from diffusion.loading import load_checkpoint  # noqa: E402
from training.style_classifier import (  # noqa: E402
    STYLES,
    read_style,
    save_style_classifier,
    style_pictures,
    train,
    vae_round_trip,
)

WEIGHTS = Path(__file__).resolve().parent / "style_classifier.safetensors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--round-trip", action="store_true",
                        help="train on VAE round trips of the renders (blurred and noised)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    started = time.perf_counter()
    vae = load_checkpoint(EMBEDDED_PATHS["checkpoints"] / DEMO_CHECKPOINT).vae
    assert vae is not None, "the demo checkpoint holds its VAE"
    round_trip = vae_round_trip(vae.eval().requires_grad_(False))
    model, accuracy = train(args.images, args.steps, args.seed,
                            round_trip if args.round_trip else None)
    save_style_classifier(model, args.out)
    print(f"style classifier: accuracy {accuracy:.1%} on 2 x 500 fresh scenes (seed "
          f"{args.seed + 1}{', VAE round trip' if args.round_trip else ''}); trained in "
          f"{time.perf_counter() - started:.0f} s -> {args.out}")
    for style in STYLES:
        pictures = style_pictures(500, args.seed + 2, style, round_trip=round_trip)
        hits = sum(read_style(p, model) == style for p in pictures)
        print(f"  after a VAE round trip, {style}: {hits}/{len(pictures)} read as {style} "
              f"({hits / len(pictures):.1%}; seed {args.seed + 2})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
