"""Hint images for the demo ControlNet, drawn from a picture's ``ShapeLabel``.

A hint is an (H, W) uint8 white-on-black picture of where the shape goes, at the picture's size:

- ``silhouette``: the filled shape (the same geometry as the picture, hard-edged);
- ``scribble``: a hand-drawn-looking closed stroke along the shape's outline (vertices wobbled by
  a few percent of the radius, stroke 3 px), drawn from the label and a seeded generator.

Every hint is a function of (label, kind, rng state) only; ``hint_for`` seeds its generator from
``(seed, index)`` so a data set's hints regenerate without the rest.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from training.shapes_data import ShapeLabel, shape_mask_2x

HintKind = Literal["silhouette", "scribble"]
HINT_KINDS: tuple[HintKind, ...] = ("silhouette", "scribble")
SCRIBBLE_WOBBLE = 0.05  # vertex jitter, fraction of the radius
SCRIBBLE_WIDTH = 3  # px at the output size
CIRCLE_VERTICES = 20

Outline = list[tuple[float, float]]


def silhouette(label: ShapeLabel, resolution: int) -> np.ndarray:
    """(H, W) uint8 0/255: the filled shape."""
    coverage = np.asarray(shape_mask_2x(label, resolution).reduce(2))  # (H, W) 0..255
    return np.where(coverage >= 128, 255, 0).astype(np.uint8)


def _ngon(cx: float, cy: float, r: float, n: int, phase: float) -> Outline:
    return [(cx + r * math.cos(phase + 2 * math.pi * k / n),
             cy + r * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def _cross(cx: float, cy: float, r: float) -> Outline:
    w = 0.33 * r
    corners = [(w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w),
               (-r, -w), (-w, -w), (-w, -r)]
    return [(cx + x, cy + y) for x, y in corners]


def outlines(shape: str, cx: float, cy: float, r: float) -> list[Outline]:
    """Closed polylines along the shape's edges (a ring has two), as ``_draw_shape`` draws it."""
    if shape == "circle":
        return [_ngon(cx, cy, r, CIRCLE_VERTICES, 0.0)]
    if shape == "ring":
        return [_ngon(cx, cy, r, CIRCLE_VERTICES, 0.0), _ngon(cx, cy, 0.55 * r, 12, 0.0)]
    if shape == "square":
        h = 0.8 * r
        return [[(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]]
    if shape == "triangle":
        return [_ngon(cx, cy, r, 3, -math.pi / 2)]
    if shape == "star":
        outer = _ngon(cx, cy, r, 5, -math.pi / 2)
        inner = _ngon(cx, cy, 0.45 * r, 5, -math.pi / 2 + math.pi / 5)
        return [[p for pair in zip(outer, inner, strict=True) for p in pair]]
    if shape == "cross":
        return [_cross(cx, cy, r)]
    raise ValueError(f"unknown shape {shape!r}")


def scribble(label: ShapeLabel, resolution: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) uint8 0/255: a wobbly closed stroke along the shape's outline."""
    img = Image.new("L", (resolution, resolution), 0)
    draw = ImageDraw.Draw(img)
    cx, cy = label.centre
    for line in outlines(label.shape, cx - 0.5, cy - 0.5, label.radius):
        wobble = rng.normal(0.0, SCRIBBLE_WOBBLE * label.radius, size=(len(line), 2))
        points = [(x + dx, y + dy) for (x, y), (dx, dy) in zip(line, wobble, strict=True)]
        draw.line([*points, points[0]], fill=255, width=SCRIBBLE_WIDTH, joint="curve")
    return np.asarray(img)


def hint_for(label: ShapeLabel, kind: HintKind, resolution: int, *, seed: int,
             index: int) -> np.ndarray:
    """(H, W) uint8 hint of ``kind`` for ``label``; a scribble's wobble is seeded by
    ``(seed, index)``."""
    if kind == "silhouette":
        return silhouette(label, resolution)
    if kind == "scribble":
        return scribble(label, resolution, np.random.default_rng([seed, index, 0x5C41B]))
    raise ValueError(f"unknown hint kind {kind!r}; choose one of {list(HINT_KINDS)}")
