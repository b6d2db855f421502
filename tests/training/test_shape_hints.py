"""Hints for the demo ControlNet and the outlined style for its LoRA, on procedural scenes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from training import shapes_data
from training.shape_hints import HINT_KINDS, hint_for, outlines, scribble, silhouette
from training.shapes_data import COLOURS, SHAPES, generate, unplaced_caption


def _centroid_region(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask)
    return shapes_data.region_of(xs.mean() + 0.5, ys.mean() + 0.5, mask.shape[1])


def test_silhouette_is_the_pictures_shape_white_on_black() -> None:
    batch = generate(60, seed=11, mode="all")
    for image, label in zip(batch.images, batch.labels, strict=True):
        hint = silhouette(label, 128)
        assert hint.dtype == np.uint8 and set(np.unique(hint)) == {0, 255}
        shape_px = (image == np.array(COLOURS[label.colour])).all(axis=-1)  # full coverage
        assert (hint[shape_px] == 255).all(), label
        assert _centroid_region(hint > 0) == label.position, label


def test_scribble_follows_the_outline_and_is_seeded() -> None:
    batch = generate(36, seed=12, mode="all")
    kinds = set()
    for n, label in enumerate(batch.labels):
        a = hint_for(label, "scribble", 128, seed=3, index=n)
        assert (a == hint_for(label, "scribble", 128, seed=3, index=n)).all()
        assert not (a == hint_for(label, "scribble", 128, seed=3, index=n + 1)).all()
        filled = silhouette(label, 128) > 0
        edge = filled ^ ndimage.binary_erosion(filled)
        near_edge = ndimage.binary_dilation(edge, iterations=4)  # wobble + stroke width
        assert (a > 0).sum() > 40 and near_edge[a > 0].mean() > 0.95, label
        assert _centroid_region(a > 0) == label.position or label.shape == "ring", label
        kinds.add(label.shape)
    assert kinds == set(SHAPES)
    with pytest.raises(ValueError, match="unknown hint kind"):
        hint_for(batch.labels[0], "canny", 128, seed=0, index=0)  # type: ignore[arg-type]
    assert HINT_KINDS == ("silhouette", "scribble")


def test_every_shape_has_closed_outlines() -> None:
    for shape in SHAPES:
        lines = outlines(shape, 64.0, 64.0, 20.0)
        assert lines and all(len(line) >= 3 for line in lines), shape
    assert len(outlines("ring", 64.0, 64.0, 20.0)) == 2
    with pytest.raises(ValueError, match="unknown shape"):
        outlines("heart", 64.0, 64.0, 20.0)
    rng = np.random.default_rng(0)
    label = generate(1, seed=0).labels[0]
    assert scribble(label, 128, rng).shape == (128, 128)


def test_outlined_style_keeps_labels_and_draws_the_band_around_a_hollow_shape() -> None:
    filled = generate(40, seed=13, mode="all")
    outlined = generate(40, seed=13, mode="all", style="outlined")
    assert filled.labels == outlined.labels and filled.captions == outlined.captions
    for a, b, label in zip(filled.images, outlined.images, filled.labels, strict=True):
        colour, bg = np.array(COLOURS[label.colour]), np.array(COLOURS[label.background])
        in_a = (a == colour).all(-1)  # the filled shape's solid pixels
        in_b = (b == colour).all(-1)  # the outline's solid pixels
        reach = int(np.ceil(shapes_data.OUTLINE_WIDTH * label.radius)) + 1
        assert in_b.sum() > 20, label
        touched = (a != bg).any(-1)  # every pixel the filled shape covers at all
        assert (ndimage.distance_transform_edt(~touched)[in_b] <= reach).all(), label
        assert not (in_b & in_a).any(), label  # the band lies outside the shape
        assert (b[in_a] == bg).all(axis=-1).mean() > 0.95, label  # the shape is background
    with pytest.raises(ValueError, match="unknown style"):
        shapes_data.render(filled.labels[0], 128, "striped")  # type: ignore[arg-type]


def test_unplaced_caption_names_everything_but_the_position() -> None:
    label = generate(1, seed=5).labels[0]
    text = unplaced_caption(label)
    assert text == (f"a {label.size} {label.colour} {label.shape} on a {label.background} "
                    "background")
    assert label.position not in text.split("background")[-1]
