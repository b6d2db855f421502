"""The add-on readings (ControlNet placement, LoRA style) and the committed style classifier,
on procedural pictures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from training import shapes_data
from training.addon_adherence import (
    ControlReading,
    control_targets,
    is_monotone,
    outlined_fraction,
    read_control,
    score_control,
    style_targets,
)
from training.shape_classifier import degrade
from training.style_classifier import STYLE_SHAPES, load_style_classifier, read_style

WEIGHTS = Path(__file__).resolve().parents[2] / "benchmarks" / "style_classifier.safetensors"


@pytest.fixture(scope="module")
def classifier():  # type: ignore[no-untyped-def]
    return load_style_classifier(WEIGHTS)


def test_control_reading_of_the_hints_own_scene_and_of_a_moved_one() -> None:
    targets = control_targets(12, held_out=True)
    assert targets == control_targets(12, held_out=True)
    assert {t.kind for t in targets} == {"silhouette", "scribble"}
    assert all((t.label.colour, t.label.shape) in shapes_data.HELD_OUT for t in targets)
    assert all(t.label.position not in t.prompt.split("background")[-1] for t in targets)
    rng = np.random.default_rng(0)
    for target in targets:
        picture = degrade(shapes_data.render(target.label, 128), rng)
        reading = read_control(picture, target)
        assert reading.centroid_ok and reading.colour_ok and reading.iou > 0.8, target
        x, y = target.label.centre
        moved = dataclasses.replace(target.label, centre=(128 - y, x))  # another region
        if shapes_data.region_of(128 - y, x, 128) != target.label.position:
            assert not read_control(shapes_data.render(moved, 128), target).centroid_ok
    flat = np.full((128, 128, 3), 40, dtype=np.uint8)
    assert read_control(flat, targets[0]) == ControlReading(False, 0.0, False)


def test_score_control_averages() -> None:
    got = score_control([ControlReading(True, 0.8, True), ControlReading(False, 0.2, True)])
    assert got == pytest.approx({"centroid": 0.5, "iou": 0.5, "colour": 1.0})
    with pytest.raises(ValueError, match="at least one"):
        score_control([])


def test_style_classifier_reads_both_styles(classifier) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    for style in shapes_data.STYLES:
        batch = shapes_data.generate(60, seed=777, mode="all", style=style)
        pictures = [degrade(img, rng) for img, label in zip(batch.images, batch.labels,
                                                            strict=True)
                    if label.shape in STYLE_SHAPES]
        hits = sum(read_style(p, classifier) == style for p in pictures)
        assert hits >= 0.95 * len(pictures), (style, hits, len(pictures))
        assert outlined_fraction(pictures, classifier) == pytest.approx(
            hits / len(pictures) if style == "outlined" else 1 - hits / len(pictures))


def test_style_targets_and_monotone() -> None:
    prompts = style_targets(20)
    assert len(prompts) == 20 and all(t.shape != "ring" and not t.held_out for t in prompts)
    assert is_monotone([0.0, 0.1, 0.1, 0.9]) and not is_monotone([0.0, 0.5, 0.4])


def test_style_pictures_go_through_the_round_trip_and_leave_out_rings() -> None:
    from diffusion.vae.model import AutoencoderKL, VAEConfig
    from training.style_classifier import style_pictures, vae_round_trip

    plain = style_pictures(12, seed=5, style="outlined", resolution=64)
    assert plain and all(p.shape == (64, 64, 3) and p.dtype == np.uint8 for p in plain)
    torch.manual_seed(0)
    vae = AutoencoderKL(VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1)).eval()
    through = style_pictures(12, seed=5, style="outlined", resolution=64,
                             round_trip=vae_round_trip(vae))
    assert len(through) == len(plain)  # the same scenes, rings left out before the round trip
    assert all(t.shape == p.shape and t.dtype == np.uint8 for t, p in zip(through, plain,
                                                                           strict=True))
    assert not all(np.array_equal(t, p) for t, p in zip(through, plain, strict=True))
