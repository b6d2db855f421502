"""Prompt adherence of the demo model: what a generated picture shows, read back and scored.

Definitions (the benchmark prints them too):

- **background**: the nearest reference colour to the per-channel median of a 3-pixel frame
  around the picture's border;
- **shape mask** (``training.shape_masks``): the largest 4-connected region of pixels farther
  than ``MASK_DISTANCE`` (RGB Euclidean, 0-255 scale) from that median background colour; a
  picture whose mask covers less than ``MIN_COVERAGE`` of it has no shape (colour, position and
  shape then count as wrong);
- **colour**: the nearest reference colour to the per-channel median of the mask's pixels;
- **position**: the named 3x3 region (thirds of the picture) holding the mask's centroid;
- **shape**: the tiny classifier's answer for the mask (``training.shape_classifier``).

Reference colours are the data set's (``shapes_data.COLOURS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training import shapes_data
from training.shape_classifier import ShapeClassifier, crop_mask
from training.shape_masks import background_rgb, shape_mask

MIN_COVERAGE = 0.004
ATTRIBUTES = ("colour", "background", "position", "shape")
_NAMES = list(shapes_data.COLOURS)
_RGB = np.array([shapes_data.COLOURS[n] for n in _NAMES], dtype=np.float64)  # (8, 3)


@dataclass(frozen=True)
class Target:
    """What a prompt asks for; ``prompt`` is the plain caption form."""

    colour: str
    shape: str
    size: str
    position: str
    background: str
    seed: int

    @property
    def prompt(self) -> str:
        return (f"a {self.size} {self.colour} {self.shape} on a {self.background} background, "
                f"{self.position}")

    @property
    def held_out(self) -> bool:
        return (self.colour, self.shape) in shapes_data.HELD_OUT


@dataclass(frozen=True)
class Reading:
    """What a picture shows, by the definitions above (None: no shape found)."""

    background: str
    colour: str | None
    position: str | None
    shape: str | None
    coverage: float


def nearest_colour(rgb: np.ndarray) -> str:
    return _NAMES[int(np.linalg.norm(_RGB - np.asarray(rgb, np.float64), axis=1).argmin())]


def read_image(image: np.ndarray, classifier: ShapeClassifier) -> Reading:
    """Reads background, colour, position and shape from an (H, W, 3) uint8 picture."""
    background = nearest_colour(background_rgb(image))
    mask = shape_mask(image)
    coverage = float(mask.mean())
    if coverage < MIN_COVERAGE:
        return Reading(background, None, None, None, coverage)
    ys, xs = np.nonzero(mask)
    position = shapes_data.region_of(xs.mean() + 0.5, ys.mean() + 0.5, image.shape[1])
    colour = nearest_colour(np.median(image[mask], axis=0))
    shape = classifier.predict(crop_mask(mask)[None])[0]
    return Reading(background, colour, position, shape, coverage)


def targets(count: int, *, held_out: bool, seed: int = 1234) -> list[Target]:
    """``count`` prompts over held-out (or seen) colour x shape combinations, seeded."""
    mode: shapes_data.Mode = "eval" if held_out else "train"
    out: list[Target] = []
    for i in range(count):
        rng = np.random.default_rng([seed, i, int(held_out)])
        label = shapes_data.sample_label(rng, 128, mode)
        out.append(Target(label.colour, label.shape, label.size, label.position,
                          label.background, seed=seed * 100_003 + 2 * i + int(held_out)))
    return out


def score(pairs: Sequence[tuple[Target, Reading]]) -> dict[str, float]:
    """Fraction right per attribute, and with all four right (``all``)."""
    if not pairs:
        raise ValueError("score needs at least one (target, reading) pair")
    hits = {name: 0 for name in (*ATTRIBUTES, "all")}
    for target, reading in pairs:
        right = {name: getattr(target, name) == getattr(reading, name) for name in ATTRIBUTES}
        for name, ok in right.items():
            hits[name] += ok
        hits["all"] += all(right.values())
    return {name: hits[name] / len(pairs) for name in hits}
