"""The adherence reader and the committed shape classifier, on procedural pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training import shapes_data
from training.adherence import Reading, Target, read_image, score, shape_mask, targets
from training.shape_classifier import degrade, load_classifier

WEIGHTS = Path(__file__).resolve().parents[2] / "benchmarks" / "shape_classifier.safetensors"


@pytest.fixture(scope="module")
def classifier():  # type: ignore[no-untyped-def]
    return load_classifier(WEIGHTS)


def test_reads_clean_and_degraded_procedural_pictures(classifier) -> None:  # type: ignore[no-untyped-def]
    batch = shapes_data.generate(120, seed=4242, mode="all")
    rng = np.random.default_rng(0)
    hits = {"colour": 0, "background": 0, "position": 0, "shape": 0}
    for image, label in zip(batch.images, batch.labels, strict=True):
        for picture in (image, degrade(image, rng)):
            reading = read_image(picture, classifier)
            for name in hits:
                hits[name] += getattr(reading, name) == getattr(label, name)
    total = 2 * len(batch.labels)
    assert hits["colour"] == hits["background"] == hits["position"] == total, hits
    assert hits["shape"] >= 0.95 * total, hits


def test_a_picture_without_a_shape_reads_as_none(classifier) -> None:  # type: ignore[no-untyped-def]
    flat = np.zeros((128, 128, 3), dtype=np.uint8)
    flat[...] = shapes_data.COLOURS["green"]
    reading = read_image(flat, classifier)
    assert reading == Reading("green", None, None, None, 0.0)
    assert not shape_mask(flat).any()


def test_score_counts_each_attribute_and_all_four() -> None:
    want = Target("red", "star", "large", "top left", "blue", seed=1)
    right = Reading("blue", "red", "top left", "star", 0.1)
    wrong_shape = Reading("blue", "red", "top left", "circle", 0.1)
    empty = Reading("blue", None, None, None, 0.0)
    result = score([(want, right), (want, wrong_shape), (want, empty)])
    assert result == pytest.approx({"colour": 2 / 3, "background": 1.0, "position": 2 / 3,
                                    "shape": 1 / 3, "all": 1 / 3})
    with pytest.raises(ValueError, match="at least one"):
        score([])


def test_targets_are_seeded_and_split_by_held_out_combination() -> None:
    held = targets(40, held_out=True)
    seen = targets(40, held_out=False)
    assert held == targets(40, held_out=True)
    assert all(t.held_out for t in held) and not any(t.held_out for t in seen)
    assert held[0].prompt.startswith(f"a {held[0].size} {held[0].colour} {held[0].shape} on a ")
    assert len({t.seed for t in held + seen}) == 80
