"""Area, mask and strength composition against weights written out by hand, percentage areas,
set_area_to_bounds and the same-area negative ComfyUI adds for each area entry.

With x = 0 and sigma = 1, ToyUNet's x0 for an entry of constant value k is exactly -k, so a side's
prediction is sum(-k_i * w_i) / (1e-37 + sum(w_i)) with w_i the entry's weight map.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _guidance_testlib import ToyUNet, text

from diffusion.guidance import Area, AreaPercentage, Cond, guided_denoiser
from diffusion.sampling import ModelSamplingDiscrete

MS = ModelSamplingDiscrete()
H = W = 16
SHAPE = (1, 4, H, W)


def _positive_prediction(
    positive: tuple[Cond, ...], negative: tuple[Cond, ...] = (), unet: ToyUNet | None = None
) -> torch.Tensor:
    model = guided_denoiser(unet or ToyUNet(), MS, positive, negative, 1.0, latent_shape=SHAPE)
    return model(torch.zeros(SHAPE), torch.ones(1))


def _compose(*parts: tuple[float, torch.Tensor]) -> torch.Tensor:
    num = torch.zeros(H, W)
    den = torch.full((H, W), 1e-37)
    for value, weight in parts:
        num += -value * weight
        den += weight
    return (num / den).expand(SHAPE)


def test_overlapping_areas_with_feathered_edges_and_strength() -> None:
    # B: 8x8 at (4, 4), strength 0.5; ramp length min(8, 8 // 4) = 2 on all four inner edges.
    ramp_b = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    weight_b = torch.zeros(H, W)
    weight_b[4:12, 4:12] = 0.5 * ramp_b[:, None] * ramp_b[None, :]
    # C: 6 rows x 12 cols at (10, 4); rows: ramp min(8, 6 // 4) = 1 (factor 1.0) at the top,
    # none at the bottom (touches the border); cols: ramp 3 on the left, none on the right.
    weight_c = torch.zeros(H, W)
    weight_c[10:16, 4:16] = torch.tensor([1 / 3, 2 / 3] + [1.0] * 10)[None, :]
    positive = (
        text(1.0),
        text(3.0, area=Area(8, 8, 4, 4), strength=0.5),
        text(-2.0, area=Area(6, 12, 10, 4)),
    )
    out = _positive_prediction(positive)
    expected = _compose((1.0, torch.ones(H, W)), (3.0, weight_b), (-2.0, weight_c))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_uncovered_latent_predicts_zero() -> None:
    out = _positive_prediction((text(2.0, area=Area(4, 4, 0, 0)),))
    assert torch.equal(out[..., 8:, 8:], torch.zeros(1, 4, 8, 8))
    assert torch.all(out[..., :4, :4] != 0)


def test_feathered_mask_with_mask_strength_and_strength() -> None:
    ramp = torch.linspace(0.0, 1.0, W)
    mask = ramp.expand(H, W).clone()  # at latent size: used as is, no edge feather
    positive = (text(1.0), text(4.0, mask=mask, mask_strength=0.5, strength=3.0))
    out = _positive_prediction(positive)
    expected = _compose((1.0, torch.ones(H, W)), (4.0, mask * 0.5 * 3.0))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_pixel_size_mask_is_resized_bilinearly() -> None:
    pixels = torch.zeros(1, 8 * H, 8 * W)
    pixels[:, :, 36:92] = 1.0
    out = _positive_prediction((text(1.0), text(4.0, mask=pixels)))
    resized = F.interpolate(pixels[:, None], size=(H, W), mode="bilinear")[0, 0]  # (H, W)
    expected = _compose((1.0, torch.ones(H, W)), (4.0, resized))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert float(resized[0, 4]) == 0.5, "the test mask must have a fractional edge"


def test_set_area_to_bounds_runs_only_the_mask_box() -> None:
    mask = torch.zeros(H, W)
    mask[5:7, 2:4] = 1.0
    unet = ToyUNet()
    _positive_prediction((text(4.0, mask=mask, set_area_to_bounds=True),), unet=unet)
    assert [tuple(c.x_in.shape) for c in unet.calls] == [(1, 4, 8, 8)]  # at least 8 x 8


def test_percentage_area_resolves_against_the_latent() -> None:
    unet = ToyUNet()
    entry = text(2.0, area=AreaPercentage(height=0.5, width=0.25, y=0.25, x=0.5))
    out = _positive_prediction((entry,), unet=unet)
    assert [tuple(c.x_in.shape) for c in unet.calls] == [(1, 4, 8, 4)]
    covered = out[0, 0] != 0
    assert covered[4:12, 8:12].all() and int(covered.sum()) == 32


def test_area_entry_gets_a_same_area_negative() -> None:
    unet = ToyUNet()
    positive = (text(1.0), text(3.0, area=Area(8, 8, 0, 0)))
    model = guided_denoiser(unet, MS, positive, (text(-5.0),), 2.0, latent_shape=SHAPE)
    model(torch.zeros(SHAPE), torch.ones(1))
    by_value = sorted(
        (float(c.context[i, 0, 0]), tuple(c.x_in.shape[2:]))
        for c in unet.calls
        for i in range(c.x_in.shape[0])
    )
    assert by_value == [(-5.0, (8, 8)), (-5.0, (16, 16)), (1.0, (16, 16)), (3.0, (8, 8))]
    assert unet.rows == [2, 2], "same-shape entries of both sides share a forward"


@pytest.mark.parametrize("bad", [dict(start_percent=1.5), dict(mask=torch.zeros(4))])
def test_cond_rejects_bad_fields(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        text(1.0, **bad)
