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

Family = Literal["sd1", "sd2", "sdxl", "sdxl_refiner", "sd_x4_upscaler"]

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

    ``num_classes``: a class-label embedding (``label_emb``, an ``nn.Embedding``) added to the
    timestep embedding; the SD x4 upscaler feeds its noise level there. It excludes
    ``adm_in_channels``. ``disable_self_attentions`` (one flag per level; None: none) and
    ``disable_middle_self_attn`` make those transformers' first attention attend to the
    context, as LDM's ``disable_self_attentions`` (the x4 upscaler's three low levels).
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
    num_classes: int | None = None
    disable_self_attentions: tuple[bool, ...] | None = None
    disable_middle_self_attn: bool = False

    def __post_init__(self) -> None:
        levels = len(self.channel_mult)
        if self.disable_self_attentions is not None and len(self.disable_self_attentions) != levels:
            raise ValueError(
                f"disable_self_attentions={self.disable_self_attentions!r} needs one flag per "
                f"level ({levels})"
            )
        if self.num_classes is not None and self.adm_in_channels is not None:
            raise ValueError(
                f"num_classes={self.num_classes} and adm_in_channels={self.adm_in_channels}: "
                "the label embedding is one or the other"
            )
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

    @property
    def takes_y(self) -> bool:
        """Whether the model takes ``y``: ADM vectors or class labels."""
        return self.adm_in_channels is not None or self.num_classes is not None

    def self_attention_disabled(self, level: int) -> bool:
        return bool(self.disable_self_attentions and self.disable_self_attentions[level])

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


X4_UPSCALER_CLASSES = 1000  # noise levels the class embedding knows (0 .. 999)


def sd_x4_upscaler_config() -> UNetConfig:
    """SD 2.x x4 upscaler (x4-upscaling.yaml): 7 input channels (latent + low-res RGB), 256
    channels, levels (1, 2, 2, 4) with attention on the three deeper ones, 8 heads, linear
    projections, context 1024, self-attention disabled on levels 0-2, noise level as a class
    label (1000 classes)."""
    depth_in, depth_out = _uniform((0, 1, 1, 1), 2)
    return UNetConfig(
        in_channels=7,
        out_channels=4,
        model_channels=256,
        channel_mult=(1, 2, 2, 4),
        num_res_blocks=(2, 2, 2, 2),
        transformer_depth=depth_in,
        transformer_depth_output=depth_out,
        transformer_depth_middle=1,
        context_dim=1024,
        num_heads=8,
        use_linear_in_transformer=True,
        num_classes=X4_UPSCALER_CLASSES,
        disable_self_attentions=(True, True, True, False),
    )


def family_config(family: Family, *, in_channels: int | None = None) -> UNetConfig:
    """The published full-size configuration of ``family``; ``in_channels`` None is the
    family's own (7 for the x4 upscaler, else 4; 9 makes an inpainting model)."""
    if family == "sd_x4_upscaler":
        if in_channels not in (None, 7):
            raise ValueError(
                f"in_channels={in_channels} is not supported for family 'sd_x4_upscaler' (7)"
            )
        return sd_x4_upscaler_config()
    in_channels = 4 if in_channels is None else in_channels
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
        f"unknown family {family!r}; choose one of ['sd1', 'sd2', 'sdxl', 'sdxl_refiner', "
        "'sd_x4_upscaler']"
    )
