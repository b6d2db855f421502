"""What a control file is, from its keys and shapes alone: its kind, its configuration and the
renames that bring other layouts onto ours.

* ControlNet, original layout: ``control_model.`` keys (lllyasviel 1.0 / 1.1 ``.pth``, SD2.x) or
  the same keys bare (fp16 safetensors conversions). A ``difference`` key marks a "diff"
  ControlNet whose weights are relative to its base model (``DiffControlNetLoader``).
* ControlNet, diffusers layout (``ControlNetModel``: SDXL ControlNets and their ``-mid`` /
  ``-small`` variants, xinsir's Union / ProMax with ``control_add_embedding`` and
  ``task_embedding``): renamed onto the original keys.
* Control-LoRA (Stability): a ``lora_controlnet`` key; see ``diffusion.control.control_lora``.
* T2I-Adapter: original keys (``conv_in`` + ``body.N.block1``: full; ``body.N.in_conv``: light)
  or diffusers' ``T2IAdapter`` (``adapter.`` keys), renamed onto the original ones.

Every configuration (widths, levels, res blocks, transformer depths, hint channels) is read from
the shapes, so narrowed variants are described too; ComfyUI's hard-coded widths are not assumed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from diffusion.control.controlnet import ControlNetConfig
from diffusion.control.t2i_adapter import AdapterConfig, AdapterKind
from diffusion.loading.detect import (
    Shapes,
    block_indices,
    family_from_unet,
    input_levels,
    middle_depth,
    strip_prefix,
)
from diffusion.loading.diffusers_keys import Renames, invert, unet_prefixes
from diffusion.loading.errors import UnknownModelError
from diffusion.unet.config import SDXL_ADM_CHANNELS, SDXL_REFINER_ADM_CHANNELS, Family, UNetConfig

ControlKind = Literal["controlnet", "control_lora", "t2i_adapter"]
CONTROL_PREFIX = "control_model."
DIFFERENCE_KEY = "difference"
CONTROL_LORA_KEY = "lora_controlnet"
HINT_CONVS = 8  # input_hint_block.0, .2, ... .14
UNION_KEYS = ("task_embedding", "control_add_embedding.", "transformer_layes.", "spatial_ch_projs.")
_DIFFUSERS_MARK = "controlnet_cond_embedding.conv_in.weight"
_T2I_MARKS = ("body.0.block1.weight", "body.0.in_conv.weight", "adapter.conv_in.weight",
              "adapter.body.0.in_conv.weight")
XL_IN_CHANNELS = (256, 768)  # ComfyUI's rule: 1- or 3-channel hints unshuffled by 16


def control_kind(shapes: Shapes) -> ControlKind | None:
    """Which kind of control file holds these keys (None: not a control file)."""
    if CONTROL_LORA_KEY in shapes:
        return "control_lora"
    if (CONTROL_PREFIX + "zero_convs.0.0.weight" in shapes or "zero_convs.0.0.weight" in shapes
            or _DIFFUSERS_MARK in shapes):
        return "controlnet"
    if any(mark in shapes for mark in _T2I_MARKS):
        return "t2i_adapter"
    return None


def guess_family(context: int | None, adm: int | None) -> Family | None:
    """The published family of these widths, or None (narrowed / tiny models)."""
    if context is None:
        return {SDXL_ADM_CHANNELS: "sdxl", SDXL_REFINER_ADM_CHANNELS: "sdxl_refiner"}.get(
            adm or -1)  # type: ignore[return-value]
    try:
        return family_from_unet(context, adm)
    except UnknownModelError:
        return None


def detect_controlnet(shapes: Shapes, prefix: str = CONTROL_PREFIX) -> ControlNetConfig:
    """A ControlNet's configuration from its original-layout keys under ``prefix``."""
    s = strip_prefix(shapes, prefix)
    for key in ("input_blocks.0.0.weight", "input_hint_block.0.weight", "zero_convs.0.0.weight"):
        if key not in s:
            raise UnknownModelError(f"no ControlNet under {prefix!r}: {key} missing")
    mc, in_channels = s["input_blocks.0.0.weight"][:2]
    to_k = sorted(k for k in s if k.endswith("attn2.to_k.weight"))
    adm = s["label_emb.0.0.weight"][1] if "label_emb.0.0.weight" in s else None
    family = guess_family(s[to_k[0]][1] if to_k else None, adm)
    context = s[to_k[0]][1] if to_k else {"sdxl": 2048, "sdxl_refiner": 1280}.get(family or "", 0)
    if not context:
        raise UnknownModelError("ControlNet without cross-attention and without an SDXL label "
                                "embedding: its family is unknown")
    mults, res_blocks, depths = input_levels(s, mc)
    proj = [shape for k, shape in s.items() if k.endswith("proj_in.weight")]
    linear = bool(proj) and len(proj[0]) == 2 if proj else family not in (None, "sd1")
    heads = {"num_heads": 8} if not linear else {"num_head_channels": 64}
    levels = len(mults)
    unet = UNetConfig(
        in_channels=in_channels,
        out_channels=4,
        model_channels=mc,
        channel_mult=tuple(mults),
        num_res_blocks=tuple(res_blocks),
        transformer_depth=tuple(depths),
        transformer_depth_output=_mirrored(depths, res_blocks, levels),
        transformer_depth_middle=middle_depth(s),
        context_dim=context,
        use_linear_in_transformer=linear,
        adm_in_channels=adm,
        **heads,  # type: ignore[arg-type]
    )
    union = s["task_embedding"][0] if "task_embedding" in s else None
    return ControlNetConfig(unet, s["input_hint_block.0.weight"][1], union)


def _mirrored(depths: list[int], res_blocks: list[int], levels: int) -> tuple[int, ...]:
    """An output-depth list of the right length (a ControlNet has no decoder)."""
    per_level = []
    start = 0
    for n in res_blocks:
        per_level.append(depths[start] if n else 0)
        start += n
    return tuple(per_level[level] for level in reversed(range(levels))
                 for _ in range(res_blocks[level] + 1))


def _count(keys: list[str], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in keys if (m := rx.match(k))})


def _diffusers_structure(keys: list[str]) -> UNetConfig:
    """The block structure of a diffusers ControlNet (enough for the key map)."""
    levels = _count(keys, r"down_blocks\.(\d+)\.")
    res = tuple(_count(keys, rf"down_blocks\.{i}\.resnets\.(\d+)\.") for i in range(levels))
    depth_in = tuple(
        _count(keys, rf"down_blocks\.{i}\.attentions\.{j}\.transformer_blocks\.(\d+)\.")
        or (1 if any(k.startswith(f"down_blocks.{i}.attentions.{j}.") for k in keys) else 0)
        for i in range(levels) for j in range(res[i]))
    return UNetConfig(
        in_channels=4, out_channels=4, model_channels=1, channel_mult=(1,) * levels,
        num_res_blocks=res, transformer_depth=depth_in,
        transformer_depth_output=(0,) * sum(n + 1 for n in res), transformer_depth_middle=1,
        context_dim=1, num_heads=1,
    )


def controlnet_from_diffusers(keys: list[str]) -> dict[str, str]:
    """``{diffusers key: original key}`` for a diffusers ``ControlNetModel`` (Union included)."""
    table: dict[str, tuple[str, Renames]] = invert(unet_prefixes(_diffusers_structure(keys)))
    hint_blocks = _count(keys, r"controlnet_cond_embedding\.blocks\.(\d+)\.")
    table["controlnet_cond_embedding.conv_in."] = ("input_hint_block.0.", ())
    for k in range(hint_blocks):
        table[f"controlnet_cond_embedding.blocks.{k}."] = (f"input_hint_block.{2 * (k + 1)}.", ())
    table["controlnet_cond_embedding.conv_out."] = (f"input_hint_block.{2 * (hint_blocks + 1)}.",
                                                    ())
    table["controlnet_mid_block."] = ("middle_block_out.0.", ())
    for n in range(_count(keys, r"controlnet_down_blocks\.(\d+)\.")):
        table[f"controlnet_down_blocks.{n}."] = (f"zero_convs.{n}.0.", ())
    for key in UNION_KEYS:
        table[key] = (key, ())
    out = {}
    for key in keys:
        best = max((p for p in table if key.startswith(p)), key=len, default=None)
        if best is None:
            raise UnknownModelError(f"diffusers ControlNet key {key!r} has no original name")
        target, inner = table[best]
        rest = key[len(best):]
        for old, new in inner:
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        out[key] = target + rest
    return out


def t2i_from_diffusers(shapes: Shapes) -> dict[str, str]:
    """``{diffusers key: original key}`` for a diffusers ``T2IAdapter`` (``adapter.`` keys)."""
    keys = [k for k in shapes if k.startswith("adapter.")]
    light = any(re.match(r"adapter\.body\.\d+\.out_conv\.", k) for k in keys)
    per_block = _count(keys, r"adapter\.body\.0\.resnets\.(\d+)\.")
    out = {}
    for key in keys:
        rest = key[len("adapter."):]
        m = re.match(r"body\.(\d+)\.resnets\.(\d+)\.(.*)", rest)
        if m:
            i, j, tail = int(m.group(1)), int(m.group(2)), m.group(3)
            rest = f"body.{i}.body.{j}.{tail}" if light else f"body.{i * per_block + j}.{tail}"
        elif not light and (m := re.match(r"body\.(\d+)\.in_conv\.(.*)", rest)):
            rest = f"body.{int(m.group(1)) * per_block}.in_conv.{m.group(2)}"
        out[key] = rest
    return out


def _level_widths(s: Mapping[str, tuple[int, ...]], blocks: int, per_level: int) -> list[int]:
    return [s[f"body.{i * per_level}.block1.weight"][0] for i in range(blocks // per_level)]


def detect_adapter(shapes: Shapes) -> AdapterConfig:
    """A T2I-Adapter's configuration from its original-layout keys."""
    keys = list(shapes)
    if "conv_in.weight" not in shapes:
        if "body.0.in_conv.weight" not in shapes:
            raise UnknownModelError("no T2I-Adapter: conv_in / body.0.in_conv missing")
        levels = block_indices(keys, r"body\.(\d+)\.")
        return AdapterConfig(
            kind="light", in_channels=shapes["body.0.in_conv.weight"][1],
            channels=tuple(shapes[f"body.{i}.out_conv.weight"][0] for i in levels),
            res_blocks=len(block_indices(keys, r"body\.0\.body\.(\d+)\.")), kernel=3)
    blocks = len(block_indices(keys, r"body\.(\d+)\."))
    per_level = 2  # ComfyUI's full adapters: two blocks per level
    if blocks % per_level:
        raise UnknownModelError(f"T2I-Adapter with {blocks} body blocks; expected pairs")
    cin = shapes["conv_in.weight"][1]
    kind: AdapterKind = "full_xl" if cin in XL_IN_CHANNELS else "full"
    return AdapterConfig(
        kind=kind, in_channels=cin, channels=tuple(_level_widths(shapes, blocks, per_level)),
        res_blocks=per_level, kernel=shapes["body.0.block2.weight"][2],
        skip_conv=any(".skep." in k for k in keys),
        conv_down=any(k.endswith("down_opt.op.weight") for k in keys))


__all__ = ["CONTROL_LORA_KEY", "CONTROL_PREFIX", "DIFFERENCE_KEY", "ControlKind",
           "control_kind", "controlnet_from_diffusers", "detect_adapter", "detect_controlnet",
           "guess_family", "t2i_from_diffusers"]
