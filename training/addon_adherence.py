"""What the demo add-ons do to a picture, read back and scored (issue 21).

ControlNet (the hint places the shape; the prompt names colour, shape, size and background but
no position):

- **centroid**: the shape mask's centroid (``training.shape_masks.shape_mask``) lies in the 3x3
  region (thirds) of the hint's shape;
- **IoU**: intersection over union of the shape mask and the hint's silhouette (for a scribble,
  the filled shape it outlines);
- **colour**: the nearest reference colour of the mask's pixels is the prompt's colour.

LoRA: the style classifier (``training.style_classifier``) reads the shape as ``filled`` or
``outlined``; the score is the fraction read as outlined at each strength.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training import shapes_data
from training.adherence import MIN_COVERAGE, Target, nearest_colour, targets
from training.shape_hints import HINT_KINDS, HintKind, hint_for, silhouette
from training.shape_masks import shape_mask
from training.style_classifier import STYLE_SHAPES, StyleClassifier, read_style

RESOLUTION = 128


@dataclass(frozen=True)
class ControlTarget:
    """A scene, the hint drawn from it and the sampling seed."""

    label: shapes_data.ShapeLabel
    kind: HintKind
    seed: int

    @property
    def prompt(self) -> str:
        return shapes_data.unplaced_caption(self.label)

    def hint(self) -> np.ndarray:
        """(H, W) uint8 white-on-black hint."""
        return hint_for(self.label, self.kind, RESOLUTION, seed=self.seed, index=0)


@dataclass(frozen=True)
class ControlReading:
    centroid_ok: bool
    iou: float
    colour_ok: bool


def control_targets(count: int, *, held_out: bool, seed: int = 4321) -> list[ControlTarget]:
    """``count`` scenes over held-out (or seen) colour x shape combinations, hints alternating
    silhouette / scribble, seeded."""
    mode: shapes_data.Mode = "eval" if held_out else "train"
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i, int(held_out), 0xC7])
        label = shapes_data.sample_label(rng, RESOLUTION, mode)
        out.append(ControlTarget(label, HINT_KINDS[i % len(HINT_KINDS)],
                                 seed * 100_003 + 2 * i + int(held_out)))
    return out


def read_control(picture: np.ndarray, target: ControlTarget) -> ControlReading:
    mask = shape_mask(picture)  # (H, W) bool
    if mask.mean() < MIN_COVERAGE:
        return ControlReading(False, 0.0, False)
    ys, xs = np.nonzero(mask)
    region = shapes_data.region_of(xs.mean() + 0.5, ys.mean() + 0.5, picture.shape[1])
    wanted = silhouette(target.label, picture.shape[0]) > 0  # (H, W) bool
    iou = float((mask & wanted).sum() / max(1, (mask | wanted).sum()))
    colour = nearest_colour(np.median(picture[mask], axis=0))
    return ControlReading(region == target.label.position, iou, colour == target.label.colour)


def score_control(readings: Sequence[ControlReading]) -> dict[str, float]:
    if not readings:
        raise ValueError("score_control needs at least one reading")
    n = len(readings)
    return {"centroid": sum(r.centroid_ok for r in readings) / n,
            "iou": float(np.mean([r.iou for r in readings])),
            "colour": sum(r.colour_ok for r in readings) / n}


def style_targets(count: int, seed: int = 2468) -> list[Target]:
    """``count`` plain-caption prompts over seen combinations, no rings (``STYLE_SHAPES``)."""
    pool = targets(4 * count + 8, held_out=False, seed=seed)
    return [t for t in pool if t.shape in STYLE_SHAPES][:count]


def outlined_fraction(pictures: Sequence[np.ndarray], classifier: StyleClassifier) -> float:
    if not pictures:
        raise ValueError("outlined_fraction needs at least one picture")
    return sum(read_style(p, classifier) == "outlined" for p in pictures) / len(pictures)


def is_monotone(fractions: Sequence[float]) -> bool:
    """Non-decreasing (strengths in increasing order)."""
    return all(b >= a for a, b in zip(fractions, fractions[1:], strict=False))
