"""Attention processors on tiny UNets: ``UNetModel.forward(..., attention=AttentionHooks(...))``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffusion.dtypes import set_attention_upcast
from diffusion.unet import (
    AttentionHooks,
    AttentionInfo,
    AttentionProcessor,
    UNetConfig,
    UNetModel,
)
from diffusion.unet.attention import Attend
from diffusion.unet.blocks import CrossAttention, SpatialTransformer

# SD1 conventions (conv projections, 8 heads); attention on the two upper levels and the middle.
SD1_TINY = UNetConfig(
    in_channels=4,
    out_channels=4,
    model_channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=(2, 2, 2),
    transformer_depth=(1, 1, 1, 1, 0, 0),
    transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1),
    transformer_depth_middle=1,
    context_dim=24,
    num_heads=8,
)
# SDXL conventions (linear projections, head width 8) with depth-2 transformers.
DEEP_TINY = UNetConfig(
    in_channels=4,
    out_channels=4,
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=(1, 1),
    transformer_depth=(1, 2),
    transformer_depth_output=(2, 2, 0, 1),
    transformer_depth_middle=2,
    context_dim=16,
    num_head_channels=8,
    use_linear_in_transformer=True,
)
CONFIGS = {"sd1": SD1_TINY, "deep": DEEP_TINY}
TOKENS = 5

# (block, hw, heads, depth) of every SpatialTransformer in execution order, for an 8x6 latent.
EXPECTED = {
    "sd1": [
        (("input", 1), (8, 6), 8, 1),
        (("input", 2), (8, 6), 8, 1),
        (("input", 4), (4, 3), 8, 1),
        (("input", 5), (4, 3), 8, 1),
        (("middle", 0), (2, 2), 8, 1),
        (("output", 3), (4, 3), 8, 1),
        (("output", 4), (4, 3), 8, 1),
        (("output", 5), (4, 3), 8, 1),
        (("output", 6), (8, 6), 8, 1),
        (("output", 7), (8, 6), 8, 1),
        (("output", 8), (8, 6), 8, 1),
    ],
    "deep": [
        (("input", 1), (8, 6), 4, 1),
        (("input", 3), (4, 3), 8, 2),
        (("middle", 0), (4, 3), 8, 2),
        (("output", 0), (4, 3), 8, 2),
        (("output", 1), (4, 3), 8, 2),
        (("output", 3), (8, 6), 4, 1),
    ],
}


@dataclass
class Recorder:
    """Passes every call through; keeps (info, q shape, k shape, v shape)."""

    calls: list[tuple[AttentionInfo, tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list
    )

    def __call__(
        self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend
    ) -> Tensor:
        self.calls.append((info, tuple(q.shape), tuple(k.shape), tuple(v.shape)))
        return attend(q, k, v)


def _pass_through(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
    return attend(q, k, v)


@dataclass
class Setup:
    model: UNetModel
    x: Tensor
    t: Tensor
    context: Tensor

    def run(self, attention: AttentionHooks | None) -> Tensor:
        with torch.no_grad():
            return self.model(self.x, self.t, self.context, attention=attention)

    def plain(self) -> Tensor:
        """The forward without the ``attention`` argument."""
        with torch.no_grad():
            return self.model(self.x, self.t, self.context)


def _setup(name: str, randomize: Callable[[nn.Module, int], None]) -> Setup:
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    model = UNetModel(cfg).eval()
    randomize(model, 21)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, cfg.in_channels, 8, 6, generator=gen)
    context = torch.randn(2, TOKENS, cfg.context_dim, generator=gen)
    return Setup(model, x, torch.tensor([901.0, 12.5]), context)


@pytest.mark.parametrize("name", ["sd1", "deep"])
def test_no_hooks_and_pass_through_are_bit_identical(name: str, randomize) -> None:
    s = _setup(name, randomize)
    plain = s.plain()
    assert torch.equal(s.run(None), plain)
    assert torch.equal(s.run(AttentionHooks()), plain)
    assert torch.equal(s.run(AttentionHooks((_pass_through,))), plain)
    assert torch.equal(s.run(AttentionHooks((_pass_through, _pass_through))), plain)


@pytest.mark.parametrize("name", ["sd1", "deep"])
def test_recorder_sees_every_call_with_its_info(name: str, randomize) -> None:
    s = _setup(name, randomize)
    recorder = Recorder()
    s.run(AttentionHooks((recorder,)))
    expected = [
        (block, index, kind, hw, heads)
        for block, hw, heads, depth in EXPECTED[name]
        for index in range(depth)
        for kind in ("self", "cross")
    ]
    seen = [
        (info.block, info.transformer_index, info.kind, info.hw, info.heads)
        for info, *_ in recorder.calls
    ]
    assert seen == expected
    for info, q_shape, k_shape, v_shape in recorder.calls:
        h, w = info.hw
        inner = q_shape[2]
        assert inner % info.heads == 0
        assert q_shape[:2] == (2, h * w)
        assert k_shape == v_shape == (2, h * w if info.kind == "self" else TOKENS, inner)
        assert info.timesteps is s.t
        assert info.cond_or_uncond == ()


def test_state_dict_keys_do_not_carry_block_ids(randomize) -> None:
    s = _setup("sd1", randomize)
    transformers = [m for m in s.model.modules() if isinstance(m, SpatialTransformer)]
    assert [m.block for m in transformers] == [b for b, *_ in EXPECTED["sd1"]]
    assert not any("block" in key.rsplit(".", 1)[-1] for key in s.model.state_dict())


def test_processor_output_takes_effect_only_where_it_acts(randomize) -> None:
    s = _setup("deep", randomize)
    plain = s.plain()

    def identity_self_in(block: tuple[str, int]) -> AttentionProcessor:
        def processor(
            q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend
        ) -> Tensor:
            if info.kind == "self" and info.block == block:
                return v  # every token attends only to itself
            return attend(q, k, v)

        return processor

    changed = s.run(AttentionHooks((identity_self_in(("middle", 0)),)))
    assert (changed - plain).abs().max() > 1e-3
    untouched = s.run(AttentionHooks((identity_self_in(("input", 2)),)))  # no transformer there
    assert torch.equal(untouched, plain)


def test_attend_takes_extra_key_value_tokens(randomize) -> None:
    """IP-Adapter style: cross-attention adds attention over other (here 3) k/v tokens."""
    s = _setup("sd1", randomize)
    gen = torch.Generator().manual_seed(9)

    def extra_tokens(
        q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend
    ) -> Tensor:
        out = attend(q, k, v)
        if info.kind != "cross":
            return out
        k_extra = torch.randn(q.shape[0], 3, q.shape[2], generator=gen)  # (B, 3, inner)
        return out + 0.5 * attend(q, k_extra, k_extra.flip(1))

    changed = s.run(AttentionHooks((extra_tokens,)))
    assert changed.shape == s.x.shape
    assert (changed - s.plain()).abs().max() > 1e-3


def test_processors_chain_in_order_first_outermost(randomize) -> None:
    s = _setup("deep", randomize)
    log: list[str] = []
    outer_q: list[Tensor] = []
    inner_q: list[Tensor] = []

    def outer(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
        log.append("outer in")
        outer_q.append(q)
        out = attend(q * 2.0, k, v)
        log.append("outer out")
        return out

    def inner(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
        log.append("inner")
        inner_q.append(q)
        return attend(q, k, v)

    s.run(AttentionHooks((outer, inner)))
    calls = 2 * sum(depth for *_, depth in EXPECTED["deep"])
    assert log == ["outer in", "inner", "outer out"] * calls
    assert len(inner_q) == len(outer_q) == calls
    for seen_outer, seen_inner in zip(outer_q, inner_q, strict=True):
        assert torch.equal(seen_inner, seen_outer * 2.0)  # inner runs inside outer's attend


def test_cond_or_uncond_reaches_every_info(randomize) -> None:
    s = _setup("sd1", randomize)
    recorder = Recorder()
    s.run(AttentionHooks((recorder,), cond_or_uncond=(1, 0)))
    assert recorder.calls
    assert {info.cond_or_uncond for info, *_ in recorder.calls} == {(1, 0)}


def test_hooks_reject_bad_arguments(randomize) -> None:
    with pytest.raises(ValueError, match=r"cond_or_uncond=\(0, 2\)"):
        AttentionHooks((_pass_through,), cond_or_uncond=(0, 2))
    with pytest.raises(TypeError, match=r"processors\[1\]=3"):
        AttentionHooks((_pass_through, 3))  # type: ignore[arg-type]
    s = _setup("deep", randomize)
    with pytest.raises(ValueError, match="batch=2"):
        s.run(AttentionHooks((_pass_through,), cond_or_uncond=(0, 1, 0)))

    def bad_shape(q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend) -> Tensor:
        return attend(q, k, v)[:, :1]

    with pytest.raises(ValueError, match=r"returned shape \(2, 1, 32\).*'input', 1"):
        s.run(AttentionHooks((bad_shape,)))
    orphan = SpatialTransformer(
        32, 4, 8, 1, 16, use_linear=True, groups=32, norm_eps=1e-6, layer_norm_eps=1e-5
    )
    with pytest.raises(ValueError, match="block is None"):
        orphan(
            torch.zeros(1, 32, 2, 2),
            torch.zeros(1, 3, 16),
            attention=AttentionHooks((_pass_through,)),
            timesteps=torch.zeros(1),
        )


def test_default_attend_keeps_the_fp32_upcast(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    attn = CrossAttention(query_dim=32, context_dim=16, heads=4, dim_head=8).to(torch.bfloat16)
    x = torch.randn(1, 6, 32, dtype=torch.bfloat16)
    ctx = torch.randn(1, 3, 16, dtype=torch.bfloat16)
    info = AttentionInfo("cross", ("middle", 0), 0, 4, (2, 3), torch.zeros(1))
    seen: list[torch.dtype] = []
    real = F.scaled_dot_product_attention

    def spy(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        seen.append(q.dtype)
        return real(q, k, v)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    set_attention_upcast(attn, True)
    hooked = attn(x, ctx, hooks=AttentionHooks((_pass_through,)), info=info)
    assert seen == [torch.float32] and hooked.dtype == torch.bfloat16
    assert torch.equal(hooked, attn(x, ctx))
