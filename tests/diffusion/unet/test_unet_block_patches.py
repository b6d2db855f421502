"""Block patches and attention token patches on a tiny UNet: pass-through patches change
nothing, every patch sees ComfyUI's block ids in order with the call's sigmas and input shape,
an input patch after the skip changes only what the next block gets, output patches see
(h, skip) before the concat, and token patches restore their tokens in reverse order."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor

from diffusion.unet import (
    AttentionHooks,
    AttentionInfo,
    BlockInfo,
    BlockPatches,
    UNetConfig,
    UNetModel,
)

CONFIG = UNetConfig(in_channels=4, out_channels=4, model_channels=16, channel_mult=(1, 2),
                    num_res_blocks=(1, 1), transformer_depth=(1, 1),
                    transformer_depth_output=(1, 1, 1, 1), transformer_depth_middle=1,
                    context_dim=8, num_heads=2, norm_groups=8)


@pytest.fixture(scope="module")
def unet() -> UNetModel:
    torch.manual_seed(0)
    return UNetModel(CONFIG).eval()


def inputs(batch: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(batch, 4, 8, 8, generator=gen), torch.tensor([500.0, 20.0][:batch]),
            torch.randn(batch, 3, 8, generator=gen))


def test_pass_through_block_patches_change_nothing(unet: UNetModel) -> None:
    seen: list[tuple[str, BlockInfo]] = []

    def keep(h: Tensor, info: BlockInfo) -> Tensor:
        seen.append(("in", info))
        return h

    def keep_after(h: Tensor, info: BlockInfo) -> Tensor:
        seen.append(("after", info))
        return h

    def keep_out(h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        seen.append(("out", info))
        return h, skip

    sigmas = torch.tensor([3.0, 0.5])
    blocks = BlockPatches((keep,), (keep_after,), (keep_out,), sigmas, (1, 0))
    with torch.no_grad():
        plain = unet(*inputs())
        patched = unet(*inputs(), blocks=blocks)
    assert torch.equal(patched, plain)
    order = [(kind, info.block) for kind, info in seen]
    inputs_ = [("input", i) for i in range(4)]
    assert order == ([x for b in inputs_ for x in (("in", b), ("after", b))]
                     + [("out", ("output", i)) for i in range(4)])
    info = seen[0][1]
    assert info.sigmas is sigmas and info.original_shape == (2, 4, 8, 8)
    assert info.model_channels == 16 and info.cond_or_uncond == (1, 0)


def test_input_patch_before_and_after_the_skip(unet: UNetModel) -> None:
    def zero_block_1(h: Tensor, info: BlockInfo) -> Tensor:
        return h * 0 if info.block == ("input", 1) else h

    skips: list[Tensor] = []

    def record(h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        skips.append(skip)
        return h, skip

    with torch.no_grad():
        unet(*inputs(), blocks=BlockPatches(inputs=(zero_block_1,), outputs=(record,)))
        before = skips.pop(2)  # output block 2 takes input block 1's skip
        skips.clear()
        unet(*inputs(), blocks=BlockPatches(inputs_after_skip=(zero_block_1,), outputs=(record,)))
        after = skips.pop(2)
    assert float(before.abs().max()) == 0.0  # zeroed before it was kept as the skip
    assert float(after.abs().max()) > 0.0  # kept, then zeroed for the next block only


def test_output_patches_must_leave_h_and_skip_the_same_size(unet: UNetModel) -> None:
    def shrink(h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        return h[..., :2, :2], skip

    with pytest.raises(ValueError, match="differ in size"), torch.no_grad():
        unet(*inputs(), blocks=BlockPatches(outputs=(shrink,)))


@dataclasses.dataclass(frozen=True)
class Halve:
    """A token patch keeping every other query token; its restore repeats them."""

    name: str
    log: list[str]

    def split_tokens(self, x: Tensor, context_k: Tensor, context_v: Tensor,
                     info: AttentionInfo) -> tuple[Tensor, Tensor, Tensor, object] | None:
        if info.kind != "self":
            return None

        def restore(out: Tensor) -> Tensor:
            self.log.append(self.name)
            return out.repeat_interleave(2, dim=1)

        return x[:, ::2], context_k, context_v, restore


def test_token_patches_restore_in_reverse_order(unet: UNetModel) -> None:
    log: list[str] = []
    hooks = AttentionHooks(input_patches=(Halve("a", log), Halve("b", log)))
    with torch.no_grad():
        out = unet(*inputs(), attention=hooks)
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()
    assert log[:2] == ["b", "a"] and len(log) == 2 * 7  # 7 transformers' self-attention


def test_a_plain_input_patch_may_not_change_shapes(unet: UNetModel) -> None:
    def drop(x: Tensor, k: Tensor, v: Tensor, info: AttentionInfo) -> tuple[Tensor, ...]:
        return x[:, :1], k, v

    with pytest.raises(ValueError, match="AttentionTokenPatch"), torch.no_grad():
        unet(*inputs(), attention=AttentionHooks(input_patches=(drop,)))  # type: ignore[arg-type]
