"""The IP-Adapter processor's semantics by hand (the IPAdapter plugin's ``ipadapter_attention``):
embeds scaling modes, weight types, the sigma window, masks, positive/negative rows, and that
weight 0 or a layer outside the window leaves the UNet's output bit for bit unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffusion.ipadapter import (
    CrossAttentionSlot,
    IPAdapterAttention,
    LayerImage,
    WeightSchedule,
    combine_embeds,
    cross_attention_slots,
)
from diffusion.unet import AttentionHooks, AttentionInfo, UNetModel, multihead_attention
from tests.diffusion.ipadapter.support import SD1_TINY, clip_inputs, make_adapter, processor

HEADS, INNER, TOKENS = 2, 8, 3
SLOT = CrossAttentionSlot(("input", 1), 0, 1, 0, INNER)


def _image(seed: int = 0) -> LayerImage:
    gen = torch.Generator().manual_seed(seed)
    return LayerImage(*(torch.randn(1, TOKENS, INNER, generator=gen) for _ in range(4)))


def _info(sigma: float = 5.0, groups: tuple[int, ...] = (0, 1), kind: str = "cross",
          block=("input", 1)) -> AttentionInfo:
    return AttentionInfo(kind=kind, block=block, transformer_index=0,  # type: ignore[arg-type]
                         heads=HEADS, hw=(2, 3), timesteps=torch.zeros(4),
                         cond_or_uncond=groups, sigmas=torch.full((4,), sigma))


def _qkv() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return (torch.randn(4, 6, INNER, generator=gen), torch.randn(4, 5, INNER, generator=gen),
            torch.randn(4, 5, INNER, generator=gen))


def _attend(q, k, v):
    return multihead_attention(q, k, v, HEADS)


def _proc(image: LayerImage, **kw) -> IPAdapterAttention:
    schedule = kw.pop("schedule", WeightSchedule(0.6))
    return IPAdapterAttention({(SLOT.block, 0): SLOT}, {1: image}, schedule, **kw)


def _sides(image: LayerImage) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows 0-1 positive, 2-3 negative (cond_or_uncond (0, 1), two rows each)."""
    k = torch.cat([image.k_cond.expand(2, -1, -1), image.k_uncond.expand(2, -1, -1)])
    v = torch.cat([image.v_cond.expand(2, -1, -1), image.v_uncond.expand(2, -1, -1)])
    return k, v


@pytest.mark.parametrize("scaling", ["V only", "K+V", "K+V w/ C penalty",
                                     "K+mean(V) w/ C penalty"])
def test_embeds_scaling_by_hand(scaling: str) -> None:
    image, (q, k, v) = _image(), _qkv()
    got = _proc(image, embeds_scaling=scaling)(q, k, v, _info(), _attend)
    ik, iv = _sides(image)
    w = 0.6
    if scaling == "V only":
        extra = _attend(q, ik, iv) * w
    elif scaling == "K+V":
        extra = _attend(q, ik * w, iv * w)
    else:
        w = w * INNER / 1280
        if scaling == "K+V w/ C penalty":
            extra = _attend(q, ik * w, iv * w)
        else:
            mean = iv.mean(dim=1, keepdim=True)
            extra = _attend(q, ik * w, (iv - mean) + mean * w)
    assert torch.allclose(got, _attend(q, k, v) + extra, atol=1e-6)


def test_outside_the_window_and_self_attention_are_untouched() -> None:
    image, (q, k, v) = _image(), _qkv()
    plain = _attend(q, k, v)
    proc = _proc(image, sigma_start=4.0, sigma_end=1.0)
    assert torch.equal(proc(q, k, v, _info(sigma=5.0), _attend), plain)  # before start
    assert torch.equal(proc(q, k, v, _info(sigma=0.5), _attend), plain)  # after end
    assert not torch.equal(proc(q, k, v, _info(sigma=4.0), _attend), plain)  # bounds inclusive
    assert torch.equal(proc(q, k, v, _info(kind="self"), _attend), plain)
    assert torch.equal(proc(q, k, v, _info(block=("output", 3)), _attend), plain)
    zero = _proc(image, schedule=WeightSchedule(0.0))
    assert torch.equal(zero(q, k, v, _info(), _attend), plain)


def test_mask_is_resized_to_the_layer_grid() -> None:
    image, (q, k, v) = _image(), _qkv()
    mask = torch.rand(1, 8, 12, generator=torch.Generator().manual_seed(3))
    got = _proc(image, mask=mask)(q, k, v, _info(), _attend)
    ik, iv = _sides(image)
    grid = F.interpolate(mask.unsqueeze(1), size=(2, 3), mode="bilinear").reshape(1, 6, 1)
    assert torch.allclose(got, _attend(q, k, v) + _attend(q, ik, iv) * 0.6 * grid, atol=1e-6)


def test_weight_types_follow_the_plugin() -> None:
    ease_in, ease_out = WeightSchedule(2.0, "ease in", 16), WeightSchedule(2.0, "ease out", 16)
    assert ease_in.at(4, "input").weight == pytest.approx(2.0 * (0.05 + 0.95 * (1 - 4 / 16)))
    assert ease_out.at(4, "input").weight == pytest.approx(2.0 * (0.05 + 0.95 * 4 / 16))
    assert WeightSchedule(1.0, "linear").at(9, "output").weight == 1.0
    weak = WeightSchedule(1.0, "weak input")
    assert weak.at(0, "input").weight == pytest.approx(0.2) and weak.at(9, "output").weight == 1
    style = WeightSchedule(0.8, "style transfer", 11, sdxl=True)
    assert [style.at(t, "output").weight for t in range(11)] == [0.8 if t == 6 else 0.0
                                                                 for t in range(11)]
    precise = WeightSchedule(1.0, "style transfer precise", 11, sdxl=True)
    assert precise.at(3, "input").image_as_negative and not precise.at(6, "output")\
        .image_as_negative
    with pytest.raises(ValueError, match="weight_type 'sideways'"):
        WeightSchedule(1.0, "sideways")


def test_precise_layers_move_the_image_to_the_negative() -> None:
    image, (q, k, v) = _image(), _qkv()
    slot = CrossAttentionSlot(("input", 8), 0, 1, 3, INNER)  # SDXL's composition layer
    proc = IPAdapterAttention({(slot.block, 0): slot}, {1: image},
                              WeightSchedule(1.0, "style transfer precise", 11, sdxl=True))
    got = proc(q, k, v, _info(block=("input", 8)), _attend)
    zeros = torch.zeros(2, TOKENS, INNER)
    ik = torch.cat([zeros, image.k_cond.expand(2, -1, -1)])
    iv = torch.cat([zeros, image.v_cond.expand(2, -1, -1)])
    assert torch.allclose(got, _attend(q, k, v) + _attend(q, ik, iv) * 1.0, atol=1e-6)


def test_combine_embeds_like_the_plugin() -> None:
    embeds = torch.randn(3, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(combine_embeds(embeds, "concat"), embeds)
    assert torch.allclose(combine_embeds(embeds, "add"), embeds.sum(0, keepdim=True))
    assert torch.allclose(combine_embeds(embeds, "subtract"),
                          (embeds[0] - embeds[1:].mean(0)).unsqueeze(0))
    assert torch.allclose(combine_embeds(embeds, "norm average"),
                          (embeds / embeds.norm(dim=0, keepdim=True)).mean(0, keepdim=True))


def test_middle_block_is_left_alone_as_the_plugin_does_and_weight_zero_is_exact() -> None:
    unet = UNetModel(SD1_TINY).eval()
    adapter = make_adapter("base", SD1_TINY, 3)
    cond = clip_inputs("base", 1, 2)
    plugin = processor(adapter, SD1_TINY, cond, torch.zeros_like(cond))
    blocks = {block for block, _ in plugin.slots}
    all_blocks = {s.block for s in cross_attention_slots(SD1_TINY)}
    assert all_blocks - blocks == {("middle", 0)}
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 4, 16, 16, generator=gen), torch.tensor([500.0, 500.0])
    context = torch.randn(2, 5, SD1_TINY.context_dim, generator=gen)
    zero = processor(adapter, SD1_TINY, cond, torch.zeros_like(cond), weight=0.0)
    with torch.no_grad():
        plain = unet(x, t, context)
        with_zero = unet(x, t, context, attention=AttentionHooks((zero,), (0, 1)))
        with_one = unet(x, t, context, attention=AttentionHooks((plugin,), (0, 1)))
    assert torch.equal(with_zero, plain)
    assert (with_one - plain).abs().max() > 1e-3
