"""Configuration of the LDM ("original single-file") UNet and the per-family presets.

Family conventions (attention head count or head width, linear or conv projections, context width,
size of the label embedding) are fixed per family. Widths, number of levels, residual blocks per
level and transformer depths vary between fine-tunes and distilled variants, so they are plain
fields that the checkpoint detector fills in from the state dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Family = Literal["sd1", "sd2", "sdxl", "sdxl_refiner"]

# ADM ("label_emb") input widths: pooled text embedding + 256-d Fourier features per
# micro-condition.
SDXL_ADM_CHANNELS = 1280 + 6 * 256  # size (h, w), crop (top, left), target (h, w)
SDXL_REFINER_ADM_CHANNELS = 1280 + 5 * 256  # size (h, w), crop (top, left), aesthetic score
ADM_FOURIER_CHANNELS = 256


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of ``UNetModel``; names follow the original LDM ``unet_config``.

    ``transformer_depth`` has one entry per input block (levels x res blocks), and
    ``transformer_depth_output`` one per output block (levels x (res blocks + 1)), listed from the
    deepest level up, as in the checkpoint's ``output_blocks.N`` order. ``0`` means the block has no
    ``SpatialTransformer``. ``transformer_depth_middle`` is ``None`` when the model has no middle
    block, ``-1`` when the middle block is a single ResBlock (both occur in distilled models).
    Exactly one of ``num_heads`` / ``num_head_channels`` is positive.
    """

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: tuple[int, ...]
    transformer_depth: tuple[int, ...]
    transformer_depth_output: tuple[int, ...]
    transformer_depth_middle: int | None
    context_dim: int
    num_heads: int = -1
    num_head_channels: int = -1
    use_linear_in_transformer: bool = False
    adm_in_channels: int | None = None
    norm_groups: int = 32
    resnet_eps: float = 1e-5
    transformer_norm_eps: float = 1e-6
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        levels = len(self.channel_mult)
        if len(self.num_res_blocks) != levels:
            raise ValueError(
                f"num_res_blocks={self.num_res_blocks!r} needs one entry per level ({levels})"
            )
        if len(self.transformer_depth) != sum(self.num_res_blocks):
            raise ValueError(
                f"transformer_depth={self.transformer_depth!r} needs "
                f"{sum(self.num_res_blocks)} entries"
            )
        expected_out = sum(n + 1 for n in self.num_res_blocks)
        if len(self.transformer_depth_output) != expected_out:
            raise ValueError(
                f"transformer_depth_output={self.transformer_depth_output!r} needs "
                f"{expected_out} entries"
            )
        if (self.num_heads > 0) == (self.num_head_channels > 0):
            raise ValueError(
                f"exactly one of num_heads={self.num_heads} and "
                f"num_head_channels={self.num_head_channels} "
                "must be positive"
            )

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4

    def heads_for(self, channels: int) -> tuple[int, int]:
        """(number of heads, head width) of an attention layer working at ``channels``."""
        if self.num_heads > 0:
            return self.num_heads, channels // self.num_heads
        return channels // self.num_head_channels, self.num_head_channels

    def replace(self, **changes: object) -> UNetConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _uniform(
    levels_depth: tuple[int, ...], res_blocks: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-block depths for a model with ``res_blocks`` blocks at every level."""
    inputs = tuple(d for d in levels_depth for _ in range(res_blocks))
    outputs = tuple(d for d in reversed(levels_depth) for _ in range(res_blocks + 1))
    return inputs, outputs


def sd1_config(*, in_channels: int = 4) -> UNetConfig:
    """SD 1.x (512px, eps): context 768, 8 heads, conv projections; 9 in-channels: inpainting."""
    depth_in, depth_out = _uniform((1, 1, 1, 0), 2)
    return UNetConfig(
        in_channels=in_channels,
        out_channels=4,
        model_channels=320,
        channel_mult=(1, 2, 4, 4),
        num_res_blocks=(2, 2, 2, 2),
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=1,
        context_dim=768,
        num_heads=8,
    )


def sd2_config(*, in_channels: int = 4) -> UNetConfig:
    """SD 2.x (512 eps / 768 v): context 1024, head width 64, linear projections."""
    return sd1_config(in_channels=in_channels).replace(
        context_dim=1024, num_heads=-1, num_head_channels=64, use_linear_in_transformer=True
    )


def sdxl_config(*, in_channels: int = 4) -> UNetConfig:
    """SDXL base: three levels, transformer depth (0, 2, 10), context 2048, ADM 2816."""
    depth_in, depth_out = _uniform((0, 2, 10), 2)
    return UNetConfig(
        in_channels=in_channels,
        out_channels=4,
        model_channels=320,
        channel_mult=(1, 2, 4),
        num_res_blocks=(2, 2, 2),
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=10,
        context_dim=2048,
        num_head_channels=64,
        use_linear_in_transformer=True,
        adm_in_channels=SDXL_ADM_CHANNELS,
    )


def sdxl_refiner_config() -> UNetConfig:
    """SDXL refiner: 384 channels, four levels, transformer depth (0, 4, 4, 0), context 1280."""
    depth_in, depth_out = _uniform((0, 4, 4, 0), 2)
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=384,
        channel_mult=(1, 2, 4, 4),
        num_res_blocks=(2, 2, 2, 2),
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=4,
        context_dim=1280,
        num_head_channels=64,
        use_linear_in_transformer=True,
        adm_in_channels=SDXL_REFINER_ADM_CHANNELS,
    )


def family_config(family: Family, *, in_channels: int = 4) -> UNetConfig:
    """The published full-size configuration of ``family``."""
    if family == "sd1":
        return sd1_config(in_channels=in_channels)
    if family == "sd2":
        return sd2_config(in_channels=in_channels)
    if family == "sdxl":
        return sdxl_config(in_channels=in_channels)
    if family == "sdxl_refiner":
        if in_channels != 4:
            raise ValueError(
                f"in_channels={in_channels} is not supported for family 'sdxl_refiner'"
            )
        return sdxl_refiner_config()
    raise ValueError(
        f"unknown family {family!r}; choose one of ['sd1', 'sd2', 'sdxl', 'sdxl_refiner']"
    )
