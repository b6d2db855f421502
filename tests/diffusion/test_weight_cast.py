"""Per-layer upcast of half-precision weights (``diffusion.weight_cast``)."""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import Tensor, nn

from diffusion.weight_cast import (
    CastConv2d,
    CastEmbedding,
    CastLinear,
    CastScratch,
    cast_weights,
    compute_dtype_of,
    computing_in,
)


class Tiny(nn.Module):
    """Every castable layer type plus a bare parameter used directly in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.linear = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.conv1 = nn.Conv1d(8, 8, 3, padding=1)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.group = nn.GroupNorm(2, 8)
        self.scale = nn.Parameter(torch.randn(8))

    def forward(self, ids: Tensor) -> Tensor:
        x = self.norm(self.linear(self.embed(ids)))  # (B, T, 8)
        x = self.conv1(x.transpose(1, 2))  # (B, 8, T)
        x = self.group(self.conv(x[..., None].expand(-1, -1, -1, 4)))  # (B, 8, T, 4)
        return x * self.scale[:, None, None]


def _pair(dtype: torch.dtype) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    half = Tiny().to(dtype).eval().requires_grad_(False)
    upcast = copy.deepcopy(half).float()
    return half, upcast


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_outputs_equal_a_load_time_upcast_bit_for_bit(dtype: torch.dtype) -> None:
    half, upcast = _pair(dtype)
    report = cast_weights(half, torch.float32)
    ids = torch.tensor([[1, 2, 3, 9]])
    with torch.no_grad():
        assert torch.equal(half(ids), upcast(ids))
    assert report.layers == 6 and report.converted == 1  # ``scale`` is converted once
    assert half.linear.weight.dtype == dtype  # layers keep their stored dtype
    assert half.scale.dtype == torch.float32


def test_state_dict_keys_types_and_dtype_queries_survive() -> None:
    half, _ = _pair(torch.float16)
    keys = list(half.state_dict())
    cast_weights(half)
    assert list(half.state_dict()) == keys
    assert isinstance(half.linear, nn.Linear) and type(half.linear) is CastLinear
    assert type(half.conv) is CastConv2d and type(half.embed) is CastEmbedding
    assert compute_dtype_of(half) == torch.float32
    assert compute_dtype_of(nn.Linear(2, 2).to(torch.bfloat16)) == torch.bfloat16
    assert cast_weights(half).converted == 0  # idempotent: nothing left to convert


def test_layers_already_in_the_compute_dtype_are_left_alone() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4).half())
    report = cast_weights(model)
    assert type(model[0]) is nn.Linear and type(model[1]) is CastLinear
    assert report.layers == 1


def test_scratch_is_reused_and_not_kept_while_autograd_records() -> None:
    torch.manual_seed(1)
    layer = nn.Linear(4, 4).half()
    cast_weights(layer)
    x = torch.randn(2, 4)
    with torch.no_grad():
        first = layer(x)
    buffers = layer.cast_scratch._local.buffers  # type: ignore[attr-defined]
    assert [b.dtype for b in buffers.values()] == [torch.float32]
    pointer = next(iter(buffers.values())).data_ptr()
    with torch.no_grad():
        assert torch.equal(layer(x), first)
    assert next(iter(buffers.values())).data_ptr() == pointer
    layer.requires_grad_(True)
    out = layer(x)  # the graph must own its upcast weight: no scratch view
    out.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float16


def test_deepcopy_shares_the_scratch_and_threads_get_their_own_buffers() -> None:
    scratch = CastScratch()
    assert copy.deepcopy(scratch) is scratch
    seen: list[int] = []

    def grab() -> None:
        with scratch.cast((torch.ones(4, dtype=torch.float16),), torch.float32) as (out,):
            assert out is not None and out.dtype == torch.float32
            seen.append(out.data_ptr())

    threads = [threading.Thread(target=grab) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2


def test_non_floating_dtype_is_named() -> None:
    with pytest.raises(ValueError, match="dtype=torch.int64"):
        cast_weights(nn.Linear(2, 2), torch.int64)


def test_computing_in_overrides_the_compute_dtype_in_this_thread_only() -> None:
    torch.manual_seed(2)
    layer = nn.Linear(4, 4).half()
    reference = copy.deepcopy(layer)
    cast_weights(layer)
    x = torch.randn(2, 4)
    with torch.no_grad(), computing_in(torch.float16):
        out = layer(x)
        assert out.dtype == torch.float16
        assert torch.equal(out, reference(x.half()))
    with torch.no_grad():
        assert layer(x).dtype == torch.float32


def test_openclip_fused_attention_keeps_its_half_in_proj_and_matches_an_upcast() -> None:
    """OpenCLIP's fused ``in_proj_weight`` is a parameter of its own: registered as a cast
    type, it stays as stored (no float32 copy of SDXL's biggest text tensors) and computes as
    the load-time upcast does."""
    from diffusion.text.clip import OpenCLIPTextModel, TextEncoderConfig

    torch.manual_seed(0)
    cfg = TextEncoderConfig(vocab_size=64, width=32, layers=2, heads=4, max_positions=16,
                            activation="gelu", projection_dim=16, eos_token_id=63)
    half = OpenCLIPTextModel(cfg).half().eval().requires_grad_(False)
    upcast = copy.deepcopy(half).float()
    report = cast_weights(half, torch.float32)
    attention = half.transformer.resblocks[0].attn
    assert attention.in_proj_weight.dtype == torch.float16
    assert compute_dtype_of(attention) == torch.float32
    ids = torch.tensor([[1, 5, 9, 63, 0, 0]])
    with torch.no_grad():
        got, want = half(ids), upcast(ids)
    assert torch.equal(got.hidden, want.hidden)
    # only the model's own bare parameters: positional_embedding, text_projection, logit_scale
    assert report.converted == 3
