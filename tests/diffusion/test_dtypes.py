"""Dtype policy per device/family, and fp32 attention for half-precision SD2 UNets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffusion.checkpoint_maker import make_checkpoint
from diffusion.dtypes import compute_dtype, needs_attention_upcast, set_attention_upcast
from diffusion.memory import ModelManager, device_dtype_policy
from diffusion.unet.blocks import CrossAttention

F16, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


@pytest.mark.parametrize(
    ("device", "component", "family", "bf16", "expected"),
    [
        ("cpu", "unet", "sd1", True, F32),
        ("cpu", "vae", "sdxl", True, F32),
        ("cuda", "unet", "sd1", True, F16),
        ("cuda", "clip_g", "sdxl", False, F16),
        ("cuda", "vae", "sd1", True, F16),
        ("cuda", "vae", "sdxl", True, BF16),
        ("cuda", "vae", "sdxl", False, F32),
        ("cuda", "vae", "sdxl_refiner", False, F32),
        ("cuda", "unet", "sd2", True, F16),
    ],
)
def test_compute_dtype_table(device: str, component: str, family: str, bf16: bool,
                             expected: torch.dtype) -> None:
    assert compute_dtype(device, component, family, bf16_supported=bf16) == expected


def test_prefer_bf16_only_where_supported() -> None:
    assert compute_dtype("cuda", "unet", "sd1", bf16_supported=True, prefer_bf16=True) == BF16
    assert compute_dtype("cuda", "unet", "sd1", bf16_supported=False, prefer_bf16=True) == F16


def test_upcast_only_for_sd2_in_half_precision() -> None:
    assert needs_attention_upcast("sd2", F16) and needs_attention_upcast("sd2", BF16)
    assert not needs_attention_upcast("sd2", F32)
    assert not needs_attention_upcast("sd1", F16)


def test_upcast_attention_computes_softmax_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    import diffusion.unet.blocks as blocks

    torch.manual_seed(0)
    attn = CrossAttention(query_dim=64, context_dim=32, heads=4, dim_head=16).to(BF16)
    x, ctx = torch.randn(1, 50, 64, dtype=BF16), torch.randn(1, 12, 32, dtype=BF16)
    seen: list[torch.dtype] = []
    real = blocks.F.scaled_dot_product_attention

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        seen.append(q.dtype)
        return real(q, k, v)

    monkeypatch.setattr(blocks.F, "scaled_dot_product_attention", spy)
    plain = attn(x, ctx)
    assert set_attention_upcast(attn, True) == 1
    upcast = attn(x, ctx)
    assert seen == [BF16, F32]  # attention itself ran in fp32 the second time
    assert plain.dtype == upcast.dtype == BF16  # the layer's output stays in its dtype


def test_manager_applies_the_policy_per_handle(tmp_path: Path) -> None:
    path = make_checkpoint("sd21", tmp_path / "m.safetensors", tiny=True)
    seen: list[tuple[str, str | None]] = []

    def policy(handle: object) -> torch.dtype:
        seen.append((handle.component, handle.opened.layout.family))  # type: ignore[attr-defined]
        return BF16 if handle.component == "unet" else F32  # type: ignore[attr-defined]

    manager = ModelManager(budget_bytes=2**30, dtype=policy)
    handles = manager.open(path)
    with manager.use(handles["unet"]) as unet:
        assert next(unet.parameters()).dtype == BF16
        flags = {m.upcast_attention for m in unet.modules() if isinstance(m, CrossAttention)}
        assert flags == {True}  # SD2 in half precision
    with manager.use(handles["vae"]) as vae:
        assert next(vae.parameters()).dtype == F32
    assert ("unet", "sd2") in seen
    cpu = device_dtype_policy("cpu")
    assert cpu(handles["unet"]) == F32 and cpu(handles["vae"]) == F32
