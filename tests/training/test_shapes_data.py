from __future__ import annotations

import numpy as np
import pytest

from training import shapes_data
from training.shapes_data import COLOURS, HELD_OUT, POSITIONS, ShapeLabel, generate


def test_same_seed_same_bytes_and_slices_agree() -> None:
    a = generate(24, seed=3, resolution=64)
    b = generate(24, seed=3, resolution=64)
    assert a.images.tobytes() == b.images.tobytes() and a.captions == b.captions
    tail = generate(8, seed=3, resolution=64, start=16)
    assert tail.images.tobytes() == a.images[16:].tobytes() and tail.labels == a.labels[16:]
    assert generate(24, seed=4, resolution=64).images.tobytes() != a.images.tobytes()


def test_held_out_combos_never_in_train_and_only_in_eval() -> None:
    train = generate(1500, seed=0, resolution=32, mode="train")
    assert not shapes_data.combos(train.labels) & HELD_OUT
    assert len(shapes_data.combos(train.labels)) == len(COLOURS) * 6 - len(HELD_OUT)
    evaluation = generate(200, seed=0, resolution=32, mode="eval")
    assert shapes_data.combos(evaluation.labels) == HELD_OUT


def test_attributes_cover_the_scope() -> None:
    labels = generate(600, seed=1, resolution=32).labels
    assert {lab.shape for lab in labels} == set(shapes_data.SHAPES)
    assert {"red", "green", "blue", "yellow", "white", "black"} <= {lab.colour for lab in labels}
    assert {lab.size for lab in labels} == {"small", "large"}
    assert {lab.position for lab in labels} == set(POSITIONS)
    assert all(lab.background != lab.colour for lab in labels)


def _shape_pixels(image: np.ndarray, label: ShapeLabel) -> np.ndarray:
    """(N, 2) x, y of pixels exactly the shape colour."""
    ys, xs = np.nonzero((image == np.array(COLOURS[label.colour])).all(axis=-1))
    return np.stack([xs, ys], axis=1)


def test_labels_match_pixels() -> None:
    batch = generate(120, seed=2, resolution=64)
    for image, label in zip(batch.images, batch.labels, strict=True):
        bg = np.array(COLOURS[label.background])
        assert (image[0, 0] == bg).all() or (image[-1, -1] == bg).all(), label
        pixels = _shape_pixels(image, label)
        assert len(pixels) > 20, label
        cx, cy = pixels.mean(axis=0) + 0.5  # pixel centres
        assert shapes_data.region_of(cx, cy, 64) == label.position, (label, cx, cy)
        assert abs(cx - label.centre[0]) < 3 and abs(cy - label.centre[1]) < 3, label
    small = [len(_shape_pixels(i, lab)) for i, lab in zip(batch.images, batch.labels,
                                                          strict=True) if lab.size == "small"]
    large = [len(_shape_pixels(i, lab)) for i, lab in zip(batch.images, batch.labels,
                                                          strict=True) if lab.size == "large"]
    assert np.mean(large) > 1.5 * np.mean(small)


def test_captions_include_plain_form_and_paraphrases() -> None:
    label = ShapeLabel("red", "circle", "large", "top left", "blue", (16.0, 16.0), 14.0)
    assert shapes_data.plain_caption(label) == "a large red circle on a blue background, top left"
    batch = generate(300, seed=5, resolution=32)
    plain = [shapes_data.plain_caption(lab) for lab in batch.labels]
    assert any(c == p for c, p in zip(batch.captions, plain, strict=True))
    assert len({c.split(" ")[0] for c in batch.captions}) > 1  # several templates in use
    for caption, lab in zip(batch.captions, batch.labels, strict=True):
        assert lab.colour in caption and lab.shape in caption and lab.background in caption


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"mode": "test"}, "mode 'test'"), ({"count": -1}, "count"), ({"resolution": 20}, "20")],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"count": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        generate(**args)  # type: ignore[arg-type]
