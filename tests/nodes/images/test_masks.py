"""Mask nodes against hand-computed tensors (grow, feather, composite, conversions)."""

from __future__ import annotations

import pytest
import torch

from executor.engine import Engine
from nodes.images.masks import (
    CropMask,
    FeatherMask,
    GrowMask,
    ImageToMask,
    InvertMask,
    MaskComposite,
    MaskToImage,
    SolidMask,
    ThresholdMask,
)
from tests.nodes.images.helpers import FakeContext, probe

CTX = FakeContext()


def dot(size: int = 5) -> torch.Tensor:
    mask = torch.zeros(1, size, size)
    mask[0, size // 2, size // 2] = 1.0
    return mask


def grid(rows: list[str]) -> torch.Tensor:
    """A (1, H, W) mask from rows of '#' (1) and '.' (0)."""
    return torch.tensor([[[1.0 if c == "#" else 0.0 for c in row] for row in rows]])


def test_grow_tapered_is_a_cross_then_a_diamond() -> None:
    [once] = GrowMask().run(CTX, dot(), 1, True)
    assert torch.equal(once, grid([".....", "..#..", ".###.", "..#..", "....."]))
    [twice] = GrowMask().run(CTX, dot(), 2, True)
    assert torch.equal(twice, grid(["..#..", ".###.", "#####", ".###.", "..#.."]))


def test_grow_square_and_shrink() -> None:
    [square] = GrowMask().run(CTX, dot(), 1, False)
    assert torch.equal(square, grid([".....", ".###.", ".###.", ".###.", "....."]))
    [shrunk] = GrowMask().run(CTX, square, -1, True)
    assert torch.equal(shrunk, dot())
    [full] = GrowMask().run(CTX, torch.ones(1, 3, 4), -1, False)
    assert torch.equal(full, torch.ones(1, 3, 4))  # edges repeat outward: nothing erodes
    grey = torch.tensor([[[0.2, 0.9, 0.4]]])
    assert torch.equal(GrowMask().run(CTX, grey, 1, True)[0], torch.tensor([[[0.9] * 3]]))
    assert torch.equal(GrowMask().run(CTX, grey, -1, True)[0], torch.tensor([[[0.2, 0.2, 0.4]]]))


def test_grow_matches_scipy_grey_morphology() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    generator = torch.Generator().manual_seed(3)
    masks = torch.rand((2, 9, 7), generator=generator)
    for expand in (-2, 3):
        for tapered in (True, False):
            c = 0 if tapered else 1
            footprint = [[c, 1, c], [1, 1, 1], [c, 1, c]]
            op = ndimage.grey_dilation if expand > 0 else ndimage.grey_erosion
            expected = []
            for m in masks.numpy():
                for _ in range(abs(expand)):
                    m = op(m, footprint=footprint)
                expected.append(torch.from_numpy(m))
            [out] = GrowMask().run(CTX, masks, expand, tapered)
            assert torch.equal(out, torch.stack(expected)), (expand, tapered)


def test_feather_follows_comfyuis_edge_loops() -> None:
    [out] = FeatherMask().run(CTX, torch.ones(1, 4, 6), 2, 1, 2, 3)
    # columns: left ramp 1/2, 2/2; right loop hits index -0 = 0 (×1/2) then -1 (×2/2)
    cols = torch.tensor([0.25, 1, 1, 1, 1, 1])
    # rows: top ramp 1/1; bottom loop hits 0 (×1/3), -1 (×2/3), -2 (×3/3)
    rows = torch.tensor([1 / 3, 1, 1, 2 / 3])
    assert torch.allclose(out[0], rows[:, None] * cols[None, :])
    [clamped] = FeatherMask().run(CTX, torch.ones(1, 2, 2), 50, 0, 0, 0)
    assert torch.allclose(clamped[0], torch.tensor([[0.5, 1.0], [0.5, 1.0]]))


@pytest.mark.parametrize(("operation", "expected"), [
    ("multiply", [[0.5, 0.0, 0.0], [0.5, 0.0, 1.0]]),
    ("add", [[0.5, 1.0, 0.2], [0.5, 0.5, 1.0]]),  # 1 + 1 clamped to 1
    ("subtract", [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]),  # negatives clamped to 0
    ("and", [[0.5, 0.0, 0.0], [0.5, 0.0, 1.0]]),
    ("or", [[0.5, 1.0, 0.0], [0.5, 0.0, 1.0]]),
    ("xor", [[0.5, 1.0, 0.0], [0.5, 0.0, 0.0]]),
])
def test_mask_composite_operations(operation: str, expected: list[list[float]]) -> None:
    destination = torch.tensor([[[0.5, 0.0, 0.0], [0.5, 0.0, 1.0]]])
    source = torch.tensor([[[1.0, 0.2], [0.5, 1.0]]])  # at x=1, y=0; 0.5 rounds to 0 (to even)
    [out] = MaskComposite().run(CTX, destination, source, 1, 0, operation)
    assert torch.allclose(out, torch.tensor([expected]))
    assert torch.equal(destination, torch.tensor([[[0.5, 0.0, 0.0], [0.5, 0.0, 1.0]]]))


def test_mask_composite_outside_and_clamped() -> None:
    destination = torch.full((1, 2, 2), 0.5)
    [outside] = MaskComposite().run(CTX, destination, torch.ones(1, 1, 1), 5, 0, "add")
    assert torch.equal(outside, destination)
    [added] = MaskComposite().run(CTX, destination, torch.ones(1, 2, 2), 0, 0, "add")
    assert torch.equal(added, torch.ones(1, 2, 2))


def test_simple_mask_nodes() -> None:
    [solid] = SolidMask().run(CTX, 0.25, 3, 2)
    assert torch.equal(solid, torch.full((1, 2, 3), 0.25))
    assert torch.equal(InvertMask().run(CTX, solid)[0], torch.full((1, 2, 3), 0.75))
    ramp = torch.tensor([[[0.2, 0.5, 0.7]]])
    assert ThresholdMask().run(CTX, ramp, 0.5)[0].tolist() == [[[0.0, 0.0, 1.0]]]
    block = torch.arange(12.0).reshape(1, 3, 4)
    assert torch.equal(CropMask().run(CTX, block, 1, 1, 2, 5)[0], block[:, 1:, 1:3])
    with pytest.raises(ValueError, match="x=4"):
        CropMask().run(CTX, block, 4, 0, 1, 1)


def test_image_mask_conversions() -> None:
    image = torch.tensor([[[[0.1, 0.2, 0.3]]]])  # (1, 1, 1, 3)
    assert torch.equal(ImageToMask().run(CTX, image, "blue")[0], image[..., 2])
    with pytest.raises(ValueError, match="'alpha'"):
        ImageToMask().run(CTX, image, "alpha")
    [grey] = MaskToImage().run(CTX, torch.tensor([[0.4, 0.6]]))  # (H, W) accepted
    assert grey.shape == (1, 1, 2, 3)
    assert torch.equal(grey[0, 0], torch.tensor([[0.4] * 3, [0.6] * 3]))


def test_masks_through_the_engine(engine: Engine) -> None:
    prompt = {
        "1": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 5, "height": 5}},
        "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 1, "height": 1}},
        "3": {"class_type": "MaskComposite", "inputs": {
            "destination": ["1", 0], "source": ["2", 0], "x": 2, "y": 2, "operation": "add"}},
        "4": {"class_type": "GrowMask", "inputs": {"mask": ["3", 0], "expand": 1,
                                                   "tapered_corners": True}},
    }
    grown = probe(engine, prompt, "4")
    assert torch.equal(grown, grid([".....", "..#..", ".###.", "..#..", "....."]))
