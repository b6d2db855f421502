"""Does a control model fit the UNet it is sampled with? Checked when a run binds it, so a
ControlNet of one family applied to a model of another fails with both named instead of a
shape error deep inside a forward."""

from __future__ import annotations

from torch import nn

from diffusion.control.controlnet import ControlNetConfig
from diffusion.control.layout import guess_family
from diffusion.control.t2i_adapter import AdapterConfig, adapter_block_channels
from diffusion.unet.config import UNetConfig

FAMILY_NAMES = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner"}


def describe(config: UNetConfig) -> str:
    """``SD1.x`` for a published family, else its widths."""
    family = guess_family(config.context_dim, config.adm_in_channels)
    if family is not None:
        return FAMILY_NAMES[family]
    return (f"context width {config.context_dim}, ADM {config.adm_in_channels}, "
            f"{config.model_channels} channels x {list(config.channel_mult)}")


def _unet_config(unet: nn.Module | None) -> UNetConfig | None:
    config = getattr(unet, "config", None)
    return config if isinstance(config, UNetConfig) else None


def check_controlnet_fits(config: ControlNetConfig, unet: nn.Module | None, label: str) -> None:
    """The ControlNet's encoder must have the sampled UNet's widths, levels and conditioning."""
    model = _unet_config(unet)
    if model is None:
        return
    ours = config.unet
    fields = ("context_dim", "adm_in_channels", "model_channels", "channel_mult",
              "num_res_blocks")
    differ = [f for f in fields if getattr(ours, f) != getattr(model, f)]
    if differ:
        raise ValueError(
            f"ControlNet {label!r} is for {describe(ours)} models; the model sampled is "
            f"{describe(model)} ({', '.join(differ)} differ)")


def check_adapter_fits(config: AdapterConfig, unet: nn.Module | None, label: str) -> None:
    """Each adapter feature must land on a UNet block of its width (ComfyUI's placement)."""
    model = _unet_config(unet)
    if model is None:
        return
    wanted = adapter_block_channels(config)
    have = _skip_channels(model)
    middle = model.model_channels * model.channel_mult[-1]
    ok = all((have[i] if i < len(have) else None) == ch
             for i, ch in wanted.items() if i >= 0) and wanted.get(-1, middle) == middle
    if not ok:
        kind = "SDXL" if config.kind == "full_xl" else "SD1.x/SD2.x"
        raise ValueError(
            f"T2I-Adapter {label!r} ({config.kind}, an {kind} adapter with widths "
            f"{list(config.channels)}) does not fit the model sampled ({describe(model)})")


def _skip_channels(config: UNetConfig) -> list[int]:
    """The output width of every input block."""
    out = [config.model_channels]
    for level, mult in enumerate(config.channel_mult):
        out += [config.model_channels * mult] * config.num_res_blocks[level]
        if level != len(config.channel_mult) - 1:
            out.append(out[-1])
    return out


__all__ = ["check_adapter_fits", "check_controlnet_fits", "describe"]
