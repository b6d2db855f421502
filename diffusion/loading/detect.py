"""Detecting a checkpoint's family and configuration from its keys and shapes — never its name.

Family conventions (attention heads or head width, text encoders and their prefixes, activations)
are fixed per family. Widths, number of levels, res blocks per level and transformer depths are
read from the keys, so narrowed and shallowed variants (BK-SDM, SSD-1B, Vega) are described too.
Everything here works on ``{key: shape}`` alone, so it runs on layouts without any weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from diffusion.loading.errors import UnknownModelError
from diffusion.text.clip import TextEncoderConfig
from diffusion.text.slots import TextKind as TextKind  # re-exported
from diffusion.text.slots import TextSlot
from diffusion.unet.config import Family, UNetConfig
from diffusion.vae.model import VAEConfig

Shapes = Mapping[str, tuple[int, ...]]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_HEAD_WIDTH = 64  # every CLIP / OpenCLIP text tower in these families uses 64-wide heads
UNCLIP_ADM_CHANNELS = (2 * 768, 2 * 1024)  # SD2.1 unCLIP L and H: embedding + noise level


TEXT_SLOTS: dict[Family, tuple[TextSlot, ...]] = {
    "sd1": (TextSlot("clip_l", "cond_stage_model.transformer.", "clip", -1, True),),
    "sd2": (TextSlot("clip_h", "cond_stage_model.model.", "open_clip", -2, True),),
    "sdxl": (
        TextSlot("clip_l", "conditioner.embedders.0.transformer.", "clip", -2, False),
        TextSlot("clip_g", "conditioner.embedders.1.model.", "open_clip", -2, False),
    ),
    "sdxl_refiner": (TextSlot("clip_g", "conditioner.embedders.0.model.", "open_clip", -2, False),),
}


@dataclass(frozen=True)
class CheckpointLayout:
    family: Family
    unet: UNetConfig
    vae: VAEConfig | None
    text: tuple[tuple[TextSlot, TextEncoderConfig], ...]


def strip_prefix(shapes: Shapes, prefix: str) -> dict[str, tuple[int, ...]]:
    return {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}


def block_indices(keys: list[str], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys if (m := rx.match(k))})


def _depth(s: dict[str, tuple[int, ...]], block: str) -> int:
    """Transformer depth of the ``SpatialTransformer`` at ``block`` (e.g. ``input_blocks.1.1.``)."""
    if block + "proj_in.weight" not in s:
        return 0
    ids = block_indices(list(s), re.escape(block) + r"transformer_blocks\.(\d+)\.")
    return max(ids) + 1 if ids else 0


def _family_from_text(shapes: Shapes) -> Family | None:
    keys = shapes.keys()
    has = {p for slots in TEXT_SLOTS.values() for slot in slots for p in [slot.prefix]}
    present = {p for p in has if any(k.startswith(p) for k in keys)}
    for family, slots in TEXT_SLOTS.items():
        if {slot.prefix for slot in slots} == present:
            return family
    return None


def family_from_unet(context: int, adm: int | None) -> Family:
    """The published family with this cross-attention width and label-embedding input."""
    if adm is None and context == 768:
        return "sd1"
    if context == 1024 and adm in (None, *UNCLIP_ADM_CHANNELS):
        return "sd2"  # with ADM: SD2.1 unCLIP (image embedding + noise level embedding)
    if adm is not None and context == 2048:
        return "sdxl"
    if adm is not None and context == 1280:
        return "sdxl_refiner"
    raise UnknownModelError(
        f"UNet with context width {context} and label_emb input {adm} is unknown"
    )


def input_levels(s: dict[str, tuple[int, ...]], mc: int) -> tuple[list[int], list[int], list[int]]:
    """(channel mult per level, res blocks per level, depth per input block) from input_blocks."""
    mults: list[int] = []
    res_blocks: list[int] = [0]
    depths: list[int] = []
    for i in block_indices(list(s), r"input_blocks\.(\d+)\.")[1:]:
        if f"input_blocks.{i}.0.op.weight" in s:
            res_blocks.append(0)
            continue
        key = f"input_blocks.{i}.0.in_layers.2.weight"
        if key not in s:
            raise UnknownModelError(f"input_blocks.{i} is neither a ResBlock nor a Downsample")
        mult = s[key][0] // mc
        if res_blocks[-1] == 0:
            mults.append(mult)
        elif mults[-1] != mult:
            raise UnknownModelError(f"input_blocks.{i} changes width inside a level ({mult}x)")
        res_blocks[-1] += 1
        depths.append(_depth(s, f"input_blocks.{i}.1."))
    return mults, res_blocks, depths


def middle_depth(s: dict[str, tuple[int, ...]]) -> int | None:
    if not any(k.startswith("middle_block.") for k in s):
        return None
    if "middle_block.1.proj_in.weight" in s:
        return _depth(s, "middle_block.1.")
    return -1


def detect_unet(
    shapes: Shapes, prefix: str = UNET_PREFIX, family: Family | None = None
) -> UNetConfig:
    """The UNet configuration under ``prefix``; ``family`` fixes the conventions when known."""
    s = strip_prefix(shapes, prefix)
    if "input_blocks.0.0.weight" not in s or "out.2.weight" not in s:
        raise UnknownModelError(f"no UNet under {prefix!r}: input_blocks.0.0 / out.2 missing")
    mc, in_channels = s["input_blocks.0.0.weight"][:2]
    to_k = sorted(k for k in s if k.endswith("attn2.to_k.weight"))
    if not to_k:
        raise UnknownModelError(f"UNet under {prefix!r} has no cross-attention layers")
    context = s[to_k[0]][1]
    adm = s["label_emb.0.0.weight"][1] if "label_emb.0.0.weight" in s else None
    family = family or family_from_unet(context, adm)
    mults, res_blocks, depths = input_levels(s, mc)
    n_out = len(block_indices(list(s), r"output_blocks\.(\d+)\."))
    expected_out = sum(n + 1 for n in res_blocks)
    if n_out != expected_out:
        raise UnknownModelError(
            f"UNet has {n_out} output blocks; levels {res_blocks} imply {expected_out}"
        )
    heads = {"num_heads": 8} if family == "sd1" else {"num_head_channels": 64}
    return UNetConfig(
        in_channels=in_channels,
        out_channels=s["out.2.weight"][0],
        model_channels=mc,
        channel_mult=tuple(mults),
        num_res_blocks=tuple(res_blocks),
        transformer_depth=tuple(depths),
        transformer_depth_output=tuple(_depth(s, f"output_blocks.{j}.1.") for j in range(n_out)),
        transformer_depth_middle=middle_depth(s),
        context_dim=context,
        use_linear_in_transformer=family != "sd1",
        adm_in_channels=adm,
        **heads,  # type: ignore[arg-type]
    )


def detect_vae(shapes: Shapes, prefix: str = VAE_PREFIX) -> VAEConfig:
    """The KL autoencoder configuration under ``prefix`` (``""`` for a standalone VAE file)."""
    s = strip_prefix(shapes, prefix)
    if "encoder.conv_in.weight" not in s or "decoder.conv_in.weight" not in s:
        raise UnknownModelError(f"no VAE under {prefix!r}: encoder/decoder conv_in missing")
    ch = s["encoder.conv_in.weight"][0]
    levels = block_indices(list(s), r"encoder\.down\.(\d+)\.")
    mult = tuple(s[f"encoder.down.{i}.block.0.conv1.weight"][0] // ch for i in levels)
    res = len(block_indices(list(s), r"encoder\.down\.0\.block\.(\d+)\."))
    return VAEConfig(
        ch=ch,
        ch_mult=mult,
        num_res_blocks=res,
        in_channels=s["encoder.conv_in.weight"][1],
        out_ch=s["decoder.conv_out.weight"][0],
        z_channels=s["decoder.conv_in.weight"][1],
    )


def detect_text(shapes: Shapes, slot: TextSlot) -> TextEncoderConfig:
    """Text-tower configuration at ``slot``: widths and depth from keys, conventions from kind."""
    s = strip_prefix(shapes, slot.prefix)
    if slot.kind == "clip":
        token, pos = (
            "text_model.embeddings.token_embedding.weight",
            "text_model.embeddings.position_embedding.weight",
        )
        layer_rx, fc = (
            r"text_model\.encoder\.layers\.(\d+)\.",
            "text_model.encoder.layers.0.mlp.fc1.weight",
        )
    else:
        token, pos = "token_embedding.weight", "positional_embedding"
        layer_rx, fc = r"transformer\.resblocks\.(\d+)\.", "transformer.resblocks.0.mlp.c_fc.weight"
    if token not in s or pos not in s or fc not in s:
        raise UnknownModelError(
            f"text encoder under {slot.prefix!r} lacks {token} / {pos} / layer 0"
        )
    vocab, width = s[token]
    return TextEncoderConfig(
        vocab_size=vocab,
        width=width,
        layers=len(block_indices(list(s), layer_rx)),
        heads=width // TEXT_HEAD_WIDTH,
        max_positions=s[pos][0],
        mlp_ratio=s[fc][0] // width,
        activation="quick_gelu" if slot.kind == "clip" else "gelu",
        projection_dim=s["text_projection"][1] if "text_projection" in s else None,
    )


def detect_layout(shapes: Shapes) -> CheckpointLayout:
    """Family and every component's configuration of a single-file checkpoint."""
    family = _family_from_text(shapes)
    unet = detect_unet(shapes, UNET_PREFIX, family)
    family = family or family_from_unet(unet.context_dim, unet.adm_in_channels)
    has_vae = any(k.startswith(VAE_PREFIX) for k in shapes)
    vae = detect_vae(shapes) if has_vae else None
    text = tuple(
        (slot, detect_text(shapes, slot)) for slot in TEXT_SLOTS[family] if _has(shapes, slot)
    )
    return CheckpointLayout(family, unet, vae, text)


def _has(shapes: Shapes, slot: TextSlot) -> bool:
    return any(k.startswith(slot.prefix) for k in shapes)
