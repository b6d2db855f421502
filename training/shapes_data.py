"""Seeded procedural "one shape on a plain background" images with captions and labels.

Every image is a function of ``(seed, index, mode)`` only: its own ``numpy`` generator is seeded
with ``[seed, index, mode]``, so any slice of a data set can be regenerated without the rest.
Shapes are drawn as an 8-bit coverage mask at 2x with PIL, box-downsampled to the output size, then
blended between the background and shape colours.

Geometry is relative to the image size: position centres at 1/4, 1/2 and 3/4 of each axis with a
small jitter, so the shape's centroid always lies in the named third of the image.

Two styles: ``filled`` (the base model's data) and ``outlined`` (the demo LoRA's: a band of the
shape's colour just outside its edge, the shape itself left in the background colour; the base
model never sees it). Hint images for the demo ControlNet are drawn from the same labels
(``training.shape_hints``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

Mode = Literal["train", "eval", "all"]
MODES: tuple[Mode, ...] = ("train", "eval", "all")
Style = Literal["filled", "outlined"]
STYLES: tuple[Style, ...] = ("filled", "outlined")
# Outline band width outside the shape's edge, as a fraction of its radius (5.4-8.8 px at 128 px).
# Outside, so the hole is the whole shape and survives the demo VAE (model card, "LoRA").
OUTLINE_WIDTH = 0.3

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "cross")
SIZES: tuple[str, ...] = ("small", "large")
# (row, column) of each named position on the 3x3 grid: 0, 1, 2 = top/left .. bottom/right
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (0, 1),
    "top right": (0, 2),
    "left": (1, 0),
    "centre": (1, 1),
    "right": (1, 2),
    "bottom left": (2, 0),
    "bottom": (2, 1),
    "bottom right": (2, 2),
}
# Colour x shape combinations never produced in "train" mode (and the only ones in "eval" mode).
HELD_OUT: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "star"),
        ("green", "triangle"),
        ("blue", "circle"),
        ("yellow", "cross"),
        ("purple", "square"),
        ("white", "ring"),
    }
)
# Radius as a fraction of the image side (uniform in the range), per size.
RADIUS_RANGE: dict[str, tuple[float, float]] = {"small": (0.14, 0.16), "large": (0.21, 0.23)}
CELL_CENTRES = (0.25, 0.5, 0.75)
JITTER = 0.03  # +- fraction of the image side

SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}
POSITION_WORDS: dict[str, tuple[str, ...]] = {
    "top left": ("top left", "upper left", "top left corner"),
    "top": ("top", "top middle", "upper middle"),
    "top right": ("top right", "upper right", "top right corner"),
    "left": ("left", "middle left", "left side"),
    "centre": ("centre", "center", "middle"),
    "right": ("right", "middle right", "right side"),
    "bottom left": ("bottom left", "lower left", "bottom left corner"),
    "bottom": ("bottom", "bottom middle", "lower middle"),
    "bottom right": ("bottom right", "lower right", "bottom right corner"),
}
# Template 0 is the plain form: "a large red circle on a blue background, top left".
TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} on a {background} background, {position}",
    "a {size} {colour} {shape} in the {position} of a {background} background",
    "{position}: a {size} {colour} {shape} on {background}",
    "a {background} background with a {size} {colour} {shape} at the {position}",
    "a {colour} {shape}, {size}, {position}, on a plain {background} background",
)

UNPLACED_TEMPLATE = "a {size} {colour} {shape} on a {background} background"


@dataclass(frozen=True)
class ShapeLabel:
    """What an image shows; ``centre`` (x, y) and ``radius`` are in output pixels."""

    colour: str
    shape: str
    size: str
    position: str
    background: str
    centre: tuple[float, float]
    radius: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ShapesBatch:
    images: np.ndarray  # (N, H, W, 3) uint8
    captions: list[str]
    labels: list[ShapeLabel]


def plain_caption(label: ShapeLabel) -> str:
    """The canonical caption, e.g. "a large red circle on a blue background, top left"."""
    return TEMPLATES[0].format(**_words(label))


def unplaced_caption(label: ShapeLabel) -> str:
    """The plain caption without the position, e.g. "a large red circle on a blue background"
    (the demo ControlNet's prompts: the hint image places the shape)."""
    return UNPLACED_TEMPLATE.format(**_words(label))


def _words(label: ShapeLabel) -> dict[str, str]:
    return {
        "size": label.size,
        "colour": label.colour,
        "shape": label.shape,
        "background": label.background,
        "position": label.position,
    }


def caption_for(label: ShapeLabel, rng: np.random.Generator) -> str:
    """A random paraphrase: a template with size and position synonyms."""
    words = _words(label)
    words["size"] = str(rng.choice(SIZE_WORDS[label.size]))
    words["position"] = str(rng.choice(POSITION_WORDS[label.position]))
    return TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(**words)


def _combo_allowed(colour: str, shape: str, mode: Mode) -> bool:
    held = (colour, shape) in HELD_OUT
    return mode == "all" or (held if mode == "eval" else not held)


def sample_label(rng: np.random.Generator, resolution: int, mode: Mode) -> ShapeLabel:
    """Draws one scene's attributes; held-out combos are excluded in "train" mode only."""
    colours = list(COLOURS)
    while True:
        colour, shape = str(rng.choice(colours)), str(rng.choice(SHAPES))
        if _combo_allowed(colour, shape, mode):
            break
    background = str(rng.choice([c for c in colours if c != colour]))
    size = str(rng.choice(SIZES))
    position = str(rng.choice(list(POSITIONS)))
    row, col = POSITIONS[position]
    jitter = rng.uniform(-JITTER, JITTER, size=2)
    centre = (
        float((CELL_CENTRES[col] + jitter[0]) * resolution),
        float((CELL_CENTRES[row] + jitter[1]) * resolution),
    )
    radius = float(rng.uniform(*RADIUS_RANGE[size]) * resolution)
    return ShapeLabel(colour, shape, size, position, background, centre, radius)


def _polygon(cx: float, cy: float, r: float, n: int, phase: float) -> list[tuple[float, float]]:
    angles = phase + 2 * math.pi * np.arange(n) / n
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    outer = _polygon(cx, cy, r, 5, -math.pi / 2)
    inner = _polygon(cx, cy, 0.45 * r, 5, -math.pi / 2 + math.pi / 5)
    return [p for pair in zip(outer, inner, strict=True) for p in pair]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float) -> None:
    """Fills ``shape`` (value 255) on a 2x mask; all shapes are centred on their centroid."""
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        inner = 0.55 * r
        draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)
    elif shape == "square":
        h = 0.8 * r
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=255)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, r, 3, -math.pi / 2), fill=255)
    elif shape == "star":
        draw.polygon(_star(cx, cy, r), fill=255)
    elif shape == "cross":
        w = 0.33 * r
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=255)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose one of {list(SHAPES)}")


def shape_mask_2x(label: ShapeLabel, resolution: int) -> Image.Image:
    """The shape's mask (mode "L", 0/255) at twice ``resolution``."""
    big = Image.new("L", (2 * resolution, 2 * resolution), 0)
    cx, cy = label.centre
    # Pixel centres sit at +0.5: scale the continuous geometry to the 2x canvas accordingly.
    _draw_shape(ImageDraw.Draw(big), label.shape, 2 * cx - 0.5, 2 * cy - 0.5, 2 * label.radius)
    return big


def outline_band(mask: Image.Image, radius: float) -> Image.Image:
    """The pixels outside ``mask`` (0/255) within ``OUTLINE_WIDTH * radius`` of its edge
    (``radius`` in the mask's pixels): the shape's outline drawn around it."""
    inside = np.asarray(mask) > 127  # (H, W)
    distance = ndimage.distance_transform_edt(~inside)  # (H, W) distance to the nearest inside px
    band = ~inside & (distance <= OUTLINE_WIDTH * radius)
    return Image.fromarray((band * 255).astype(np.uint8))


def render(label: ShapeLabel, resolution: int, style: Style = "filled") -> np.ndarray:
    """(H, W, 3) uint8: rendered at 2x, box-downsampled, blended between the two colours."""
    big = shape_mask_2x(label, resolution)
    if style == "outlined":
        big = outline_band(big, 2 * label.radius)
    elif style != "filled":
        raise ValueError(f"unknown style {style!r}; choose one of {list(STYLES)}")
    mask = big.reduce(2)  # box filter 2x2 -> (H, W) coverage
    size = (resolution, resolution)
    fg = Image.new("RGB", size, COLOURS[label.colour])
    bg = Image.new("RGB", size, COLOURS[label.background])
    return np.asarray(Image.composite(fg, bg, mask))  # (H, W, 3) uint8


def generate(
    count: int, *, seed: int, resolution: int = 128, mode: Mode = "train", start: int = 0,
    style: Style = "filled",
) -> ShapesBatch:
    """Images ``start .. start+count`` of the data set ``(seed, mode, resolution)``; ``style``
    changes the pictures only (labels and captions are the same for both styles)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if resolution < 16 or resolution % 8:
        raise ValueError(f"resolution must be a multiple of 8 and >= 16, got {resolution}")
    images = np.empty((count, resolution, resolution, 3), dtype=np.uint8)
    captions: list[str] = []
    labels: list[ShapeLabel] = []
    for i in range(count):
        rng = np.random.default_rng([seed, start + i, MODES.index(mode)])
        label = sample_label(rng, resolution, mode)
        images[i] = render(label, resolution, style)
        captions.append(caption_for(label, rng))
        labels.append(label)
    return ShapesBatch(images, captions, labels)


def region_of(x: float, y: float, resolution: int) -> str:
    """The named 3x3 region (thirds of the image) holding point (x, y)."""
    col = min(int(3 * x / resolution), 2)
    row = min(int(3 * y / resolution), 2)
    return next(name for name, cell in POSITIONS.items() if cell == (row, col))


def combos(labels: Sequence[ShapeLabel]) -> set[tuple[str, str]]:
    return {(label.colour, label.shape) for label in labels}
