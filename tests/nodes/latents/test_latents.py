"""Latent nodes numerically: sizes, aspect-keeping zeros, crop, bislerp, composite feathering,
batch slicing and repeating with masks and batch indices, noise masks, ComfyUI dicts."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.latents.batch import LatentFromBatch, RepeatLatentBatch, SetLatentNoiseMask
from nodes.latents.ops import EmptyLatentImage, LatentComposite, LatentUpscale, LatentUpscaleBy
from nodes.latents.resample import bislerp, slerp, upscale_latent
from nodes.payloads import Latent, from_comfy, to_comfy
from tests.nodes.models.support import Ctx, ModelEnv


def latent(b: int = 1, h: int = 8, w: int = 8, seed: int = 0, **fields: object) -> Latent:
    samples = torch.randn((b, 4, h, w), generator=torch.Generator().manual_seed(seed))
    return Latent(samples, **fields)  # type: ignore[arg-type]


def one(node: type, *args: object) -> Latent:
    (out,) = node().run(Ctx(), *args)
    assert isinstance(out, Latent)
    return out


def test_empty_latent_image_through_the_engine(env: ModelEnv) -> None:
    node = {"class_type": "EmptyLatentImage", "inputs": {"width": 72, "height": 40,
                                                         "batch_size": 3}}
    out = env.probe({"1": node}, "1")
    assert out.samples.shape == (3, 4, 5, 9) and not out.samples.any()
    assert out.noise_mask is None and out.batch_index is None and out.nbytes == 3 * 4 * 45 * 4


@pytest.mark.parametrize("width, height, expected", [
    (0, 0, (6, 10)),        # both 0: unchanged
    (160, 96, (12, 20)),    # explicit
    (0, 192, (24, 40)),     # width from the aspect ratio: round(10 * 192 / 6) = 320 px
    (80, 0, (8, 10)),       # height: max(64, round(6 * 80 / 10) = 48) = 64 px
    (16, 16, (8, 8)),       # each side at least 64 px
])
def test_latent_upscale_sizes(width: int, height: int, expected: tuple[int, int]) -> None:
    source = latent(h=6, w=10)
    out = one(LatentUpscale, source, "nearest-exact", width, height, "disabled")
    assert tuple(out.samples.shape[-2:]) == expected
    if (width, height) == (0, 0):
        assert out is source


def test_latent_upscale_keeps_mask_and_batch_index_and_crops_centre() -> None:
    mask = torch.ones((1, 1, 48, 80))
    source = latent(h=6, w=10, noise_mask=mask, batch_index=(3,))
    out = one(LatentUpscale, source, "bilinear", 64, 64, "center")
    assert out.noise_mask is mask and out.batch_index == (3,)
    expected = torch.nn.functional.interpolate(source.samples[..., :, 2:8], size=(8, 8),
                                               mode="bilinear")
    assert torch.allclose(out.samples, expected)


def test_latent_upscale_by_rounds_the_size() -> None:
    out = one(LatentUpscaleBy, latent(h=5, w=7), "area", 1.5)
    assert out.samples.shape[-2:] == (round(7.5), round(10.5))  # (8, 10): half to even


def test_slerp_keeps_lengths_and_handles_edge_cases() -> None:
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[0.0, 3.0], [4.0, 0.0], [-1.0, 0.0], [0.0, 2.0]])
    t = torch.full((4, 1), 0.5)
    out = slerp(a, b, t)
    half = math.sqrt(0.5)
    assert torch.allclose(out[0], torch.tensor([half, half]) * 2.0)  # length 1→3 at 0.5: 2
    assert torch.equal(out[1], a[1])  # parallel: the first vector
    assert torch.equal(out[2], torch.zeros(2))  # opposite: linear blend
    # a zero vector has no direction: half of b's direction, at the mean length 1
    assert torch.allclose(out[3], torch.tensor([0.0, math.sqrt(0.5)]))


def test_bislerp_slerps_between_neighbours() -> None:
    samples = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).T.reshape(1, 2, 1, 2)  # v0=(1,0), v1=(0,2)
    out = bislerp(samples, 4, 1)[0, :, 0].T  # (4, 2); sources at 0, .25, .75, 1

    def turned(t: float) -> list[float]:  # 90 degrees apart; length 1 -> 2
        angle = t * math.pi / 2
        return [math.cos(angle) * (1 + t), math.sin(angle) * (1 + t)]

    expected = torch.tensor([[1.0, 0.0], turned(0.25), turned(0.75), [0.0, 2.0]])
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(bislerp(samples, 2, 1), samples)  # same size: unchanged
    assert upscale_latent(samples, 3, 5, "bislerp").shape == (1, 2, 5, 3)


def test_bislerp_preserves_norms_better_than_bilinear() -> None:
    samples = torch.randn((1, 4, 4, 4), generator=torch.Generator().manual_seed(2))
    slerped = bislerp(samples, 16, 16).norm(dim=1).mean()
    linear = torch.nn.functional.interpolate(samples, size=(16, 16), mode="bilinear")
    assert slerped > linear.norm(dim=1).mean()


def test_composite_pastes_and_clips_without_feather() -> None:
    to = Latent(torch.zeros((1, 1, 4, 6)))
    source = Latent(torch.ones((1, 1, 3, 3)) * torch.arange(1.0, 4.0))
    out = one(LatentComposite, to, source, 32, 16, 0)  # x=4, y=2 in latent units
    expected = torch.zeros((4, 6))
    expected[2:4, 4:6] = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    assert torch.equal(out.samples[0, 0], expected)
    assert not to.samples.any()


def test_composite_feathers_only_edges_inside_the_target() -> None:
    to = Latent(torch.zeros((1, 1, 6, 6)))
    source = Latent(torch.ones((1, 1, 4, 4)))
    out = one(LatentComposite, to, source, 8, 0, 16)  # x=1, y=0, feather 2
    rows = torch.tensor([1.0, 1.0, 1.0, 0.5])  # top edge at y=0: no ramp; bottom inside
    cols = torch.tensor([0.5, 1.0, 1.0, 0.5])  # left (x=1) and right (5 < 6) inside
    expected = torch.zeros((6, 6))
    expected[0:4, 1:5] = rows[:, None] * cols[None, :]
    assert torch.allclose(out.samples[0, 0], expected)


def test_latent_from_batch_slices_masks_and_indices() -> None:
    mask = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 8, 8)
    source = latent(b=5, noise_mask=mask)
    out = one(LatentFromBatch, source, 3, 4)  # clamped to 2 latents
    assert torch.equal(out.samples, source.samples[3:5]) and out.batch_index == (3, 4)
    assert out.noise_mask[:, 0, 0, 0].tolist() == [1.0, 0.0]  # the mask repeated to the batch
    again = one(LatentFromBatch, out, 1, 1)
    assert again.batch_index == (4,)
    clamped = one(LatentFromBatch, source, 63, 1)
    assert clamped.batch_index == (4,) and torch.equal(clamped.samples, source.samples[4:])


def test_repeat_latent_batch_repeats_masks_and_offsets_indices() -> None:
    mask = torch.rand((2, 1, 8, 8))
    source = latent(b=2, noise_mask=mask, batch_index=(4, 5))
    out = one(RepeatLatentBatch, source, 3)
    assert out.samples.shape[0] == 6 and torch.equal(out.samples[4:], source.samples)
    assert out.batch_index == (4, 5, 6, 7, 8, 9)
    assert out.noise_mask.shape[0] == 6 and torch.equal(out.noise_mask[2:4], mask)
    single = one(RepeatLatentBatch, latent(b=1, noise_mask=mask[:1]), 2)
    assert single.noise_mask.shape[0] == 1 and single.batch_index is None


def test_set_latent_noise_mask_reshapes_to_b1hw() -> None:
    source = latent(batch_index=(2,))
    out = one(SetLatentNoiseMask, source, torch.ones((16, 24)))
    assert out.noise_mask.shape == (1, 1, 16, 24) and out.batch_index == (2,)
    assert out.samples is source.samples and source.noise_mask is None
    batch = one(SetLatentNoiseMask, source, torch.ones((3, 16, 24)))
    assert batch.noise_mask.shape == (3, 1, 16, 24)


def test_comfy_dicts_round_trip() -> None:
    full = latent(noise_mask=torch.ones((1, 1, 8, 8)), batch_index=(0,))
    as_dict = to_comfy(full)
    assert set(as_dict) == {"samples", "noise_mask", "batch_index"}
    assert as_dict["batch_index"] == [0] and as_dict["samples"] is full.samples
    back = from_comfy(as_dict)
    assert back.samples is full.samples and back.batch_index == (0,)
    assert to_comfy(latent()).keys() == {"samples"}
    with pytest.raises(ValueError, match="'extra'"):
        from_comfy({"samples": full.samples, "extra": 1})


def test_empty_latent_image_run_directly() -> None:
    out = one(EmptyLatentImage, 512, 768, 2)
    assert out.samples.shape == (2, 4, 96, 64)
