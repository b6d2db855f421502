"""Shared helpers for the model tests: parameter randomisation and reference-model configs.

Reference models (diffusers / transformers) are always built from local config dicts; nothing is
fetched from a hub.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from diffusion.unet.config import UNetConfig


def randomize_parameters(module: nn.Module, seed: int) -> None:
    """Overwrites EVERY parameter and float buffer with seeded random values.

    Zero-initialised output projections and unit norm affines would let a wrong wiring pass a
    parity test, so nothing keeps its initial value: matrices get N(0, 1/fan_in), 1-D weights
    (norm scales) 1 + N(0, 0.25), 1-D biases N(0, 0.25).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            if param.ndim >= 2:
                fan_in = math.prod(param.shape[1:])
                value = noise / math.sqrt(fan_in)
            elif name.endswith("weight"):
                value = 1.0 + 0.5 * noise
            else:
                value = 0.5 * noise
            param.copy_(value.to(param.dtype))


def relative_error(ours: Tensor, ref: Tensor) -> float:
    """max|ours - ref| / max|ref|."""
    assert ours.shape == ref.shape, (tuple(ours.shape), tuple(ref.shape))
    return float((ours.double() - ref.double()).abs().max() / ref.double().abs().max())


def diffusers_unet_config(cfg: UNetConfig) -> dict[str, Any]:
    """The ``UNet2DConditionModel`` config equal to ``cfg`` (uniform res blocks per level)."""
    levels = len(cfg.channel_mult)
    nrb = cfg.num_res_blocks[0]
    assert all(n == nrb for n in cfg.num_res_blocks), (
        "diffusers' converter needs uniform res blocks"
    )
    level_depth = [cfg.transformer_depth[level * nrb] for level in range(levels)]
    # No middle block (BK-SDM-small style) is diffusers' mid_block_type=None.
    middle = cfg.transformer_depth_middle or 1
    assert middle > 0, "a lone middle ResBlock has no diffusers equivalent"
    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    heads: int | list[int] = (
        cfg.num_heads if cfg.num_heads > 0 else [c // cfg.num_head_channels for c in channels]
    )
    config: dict[str, Any] = {
        "sample_size": 32,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in level_depth],
        "up_block_types": [
            "CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(level_depth)
        ],
        "block_out_channels": channels,
        "layers_per_block": nrb,
        "cross_attention_dim": cfg.context_dim,
        "attention_head_dim": heads,
        "use_linear_projection": cfg.use_linear_in_transformer,
        # Levels without attention ignore their entry; diffusers reads the middle depth from [-1].
        "transformer_layers_per_block": [d or middle for d in level_depth[:-1]]
        + [level_depth[-1] or middle],
        "norm_num_groups": cfg.norm_groups,
        "norm_eps": cfg.resnet_eps,
        "act_fn": "silu",
    }
    assert level_depth[-1] in (0, middle), (
        "diffusers ties the middle depth to the last level's depth"
    )
    expected_output = tuple(d for d in reversed(level_depth) for _ in range(nrb + 1))
    assert cfg.transformer_depth_output == expected_output, "diffusers mirrors the input depths"
    if cfg.transformer_depth_middle is None:
        config["mid_block_type"] = None
    if cfg.adm_in_channels is not None:
        config.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=cfg.adm_in_channels,
        )
    if cfg.num_classes is not None:  # the x4 upscaler's noise-level labels
        config["num_class_embeds"] = cfg.num_classes
    if cfg.disable_self_attentions is not None:
        config["only_cross_attention"] = list(cfg.disable_self_attentions)
    return config


RSS_GROWTH_LIMIT_MIB = 1536
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float:
    for line in _STATUS.read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) / 1024
    raise KeyError(field)


@pytest.fixture(autouse=True)
def peak_rss_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a model test whose peak RSS rises more than 1.5 GiB above its starting RSS.

    Resets the kernel's high-water mark (``clear_refs`` 5) before the test and reads ``VmHWM``
    after it. Only for this package's own tests (not tests/diffusion/sampling, owned elsewhere);
    a no-op where /proc is unavailable or read-only.
    """
    mine = "sampling" not in request.node.path.relative_to(Path(__file__).parent).parts
    try:
        _CLEAR_REFS.write_text("5")
        start = _status_mib("VmRSS")
    except OSError:
        mine = False
    yield
    if mine:
        growth = _status_mib("VmHWM") - start
        if growth > RSS_GROWTH_LIMIT_MIB:
            pytest.fail(f"peak RSS grew by {growth:.0f} MiB (limit {RSS_GROWTH_LIMIT_MIB} MiB)")


@pytest.fixture
def randomize() -> Callable[[nn.Module, int], None]:
    return randomize_parameters


@pytest.fixture
def rel_err() -> Callable[[Tensor, Tensor], float]:
    return relative_error


@pytest.fixture
def unet_reference_config() -> Callable[[UNetConfig], dict[str, Any]]:
    return diffusers_unet_config
