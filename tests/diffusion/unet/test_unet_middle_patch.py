"""Middle patches (``AttentionHooks.middle_patches``, ComfyUI's ``middle_patch``): every transformer
block passes its hidden states through them after the self-attention and before the
cross-attention; the model itself is never changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor

from diffusion.unet import AttentionHooks, AttentionInfo
from diffusion.unet.blocks import BasicTransformerBlock
from tests.diffusion.unet.test_unet_attention import EXPECTED, _setup


@dataclass
class MiddleRecorder:
    """Returns x unchanged; keeps (block, transformer index, kind, x shape) of every call."""

    calls: list[tuple[tuple[str, int], int, str, tuple[int, ...]]] = field(default_factory=list)

    def __call__(self, x: Tensor, info: AttentionInfo) -> Tensor:
        self.calls.append((info.block, info.transformer_index, info.kind, tuple(x.shape)))
        return x


def test_identity_middle_patch_changes_nothing(randomize) -> None:
    s = _setup("sd1", randomize)
    recorder = MiddleRecorder()
    got = s.run(AttentionHooks(middle_patches=(recorder,)))
    assert torch.equal(got, s.plain())
    blocks = [(block, hw) for block, hw, _heads, _depth in EXPECTED["sd1"]]
    assert [c[0] for c in recorder.calls] == [b for b, _ in blocks]
    assert all(kind == "self" and index == 0 for _, index, kind, _shape in recorder.calls)
    for (_, hw), (_, _, _, shape) in zip(blocks, recorder.calls, strict=True):
        assert shape[:2] == (2, hw[0] * hw[1]) and shape[2] in (32, 64)


def test_middle_patch_runs_between_self_and_cross_attention() -> None:
    """A patch that adds a constant equals adding it to the block's input of attn2."""
    torch.manual_seed(0)
    block = BasicTransformerBlock(16, 2, 8, 12, 1e-5).eval()
    x, context = torch.randn(1, 6, 16), torch.randn(1, 3, 12)
    info = AttentionInfo("self", ("input", 1), 0, 2, (2, 3), torch.zeros(1))
    shift = torch.randn(16)

    def add(h: Tensor, _info: AttentionInfo) -> Tensor:
        return h + shift

    with torch.no_grad():
        got = block(x, context, hooks=AttentionHooks(middle_patches=(add,)), info=info)
        h = x + block.attn1(block.norm1(x)) + shift
        h = h + block.attn2(block.norm2(h), context)
        want = h + block.ff(block.norm3(h))
    assert torch.allclose(got, want, atol=1e-6)


def test_middle_patches_chain_in_order(randomize) -> None:
    s = _setup("sd1", randomize)
    order: list[str] = []

    def first(x: Tensor, info: AttentionInfo) -> Tensor:
        order.append("first")
        return x * 2.0

    def second(x: Tensor, info: AttentionInfo) -> Tensor:
        order.append("second")
        return x - 1.0

    got = s.run(AttentionHooks(middle_patches=(first, second)))
    assert order[:2] == ["first", "second"]
    assert not torch.allclose(got, s.plain())


def test_middle_patch_that_changes_the_shape_is_refused(randomize) -> None:
    s = _setup("sd1", randomize)

    def bad(x: Tensor, info: AttentionInfo) -> Tensor:
        return x[:, :-1]

    with pytest.raises(ValueError, match=r"middle patch .* changed the hidden states"):
        s.run(AttentionHooks(middle_patches=(bad,)))


def test_middle_patches_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"middle_patches\[0\]"):
        AttentionHooks(middle_patches=(42,))  # type: ignore[arg-type]


def test_disabled_self_attention_attends_to_the_context() -> None:
    torch.manual_seed(0)
    block = BasicTransformerBlock(16, 2, 8, 12, 1e-5, disable_self_attn=True).eval()
    assert block.attn1.to_k.weight.shape == (16, 12)
    x, context = torch.randn(1, 6, 16), torch.randn(1, 3, 12)
    with torch.no_grad():
        got = block(x, context)
        h = x + block.attn1(block.norm1(x), context)
        h = h + block.attn2(block.norm2(h), context)
        want = h + block.ff(block.norm3(h))
    assert torch.allclose(got, want, atol=1e-6)
