"""Payloads across the ComfyUI plugin boundary: ours in, ComfyUI's shapes out, and back.

A ComfyUI pack receives LATENT as ``{"samples": (B, 4, h, w), "noise_mask"?, "batch_index"?}``,
CONDITIONING as ``[[cross_attn (1, T, C), {"pooled_output": …, "area": …}], …]``, IMAGE
(B, H, W, C) and MASK (B, H, W) tensors as they are, MODEL / CLIP / VAE as ComfyUI's objects
(``compat.comfy.model_patcher.ModelPatcher``, ``compat.comfy.sd.CLIP`` / ``VAE``). What it
returns is converted back by the declared output type (and, for wildcard and custom types, by
the value's evident shape). Keys our payloads have no field for are kept (``PluginLatent`` /
``PluginCond`` ``extras``) so they survive a trip through built-in nodes to the next pack.
Nothing is modified in place: dicts and lists are new, tensors are shared.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from diffusion.guidance import Area, AreaPercentage, Cond
from nodes.payloads import Clip, DiffusionModel, Latent, Vae
from nodes.plugins.compat.comfy.model_patcher import ModelPatcher
from nodes.plugins.compat.comfy.sd import CLIP, VAE

logger = logging.getLogger(__name__)
LATENT_KEYS = ("samples", "noise_mask", "batch_index")
_COND_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Cond) if f.name != "cross_attn"}
_COND_FIELDS = set(_COND_DEFAULTS)


@dataclass(frozen=True, eq=False)
class PluginLatent(Latent):
    """A LATENT from a pack, with the dict keys our Latent has no field for."""

    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class PluginCond(Cond):
    """A conditioning entry from a pack, with the dict keys Cond has no field for."""

    extras: Mapping[str, Any] = field(default_factory=dict)


# -- LATENT ---------------------------------------------------------------------------------
def latent_to_comfy(latent: Latent) -> dict[str, Any]:
    out: dict[str, Any] = dict(getattr(latent, "extras", {}))
    out["samples"] = latent.samples
    if latent.noise_mask is not None:
        out["noise_mask"] = latent.noise_mask
    if latent.batch_index is not None:
        out["batch_index"] = list(latent.batch_index)
    return out


def latent_from_comfy(value: Any, what: str) -> Latent:
    if not isinstance(value, Mapping) or not isinstance(value.get("samples"), Tensor):
        raise TypeError(f"{what}: a LATENT is a dict with a 'samples' tensor, got "
                        f"{type(value).__name__}")
    index = value.get("batch_index")
    extras = {k: v for k, v in value.items() if k not in LATENT_KEYS}
    samples = value["samples"]
    if samples.ndim != 4:
        raise ValueError(f"{what}: LATENT samples must be (B, C, H, W), got "
                         f"{tuple(samples.shape)}")
    return PluginLatent(samples, value.get("noise_mask"),
                        None if index is None else tuple(int(i) for i in index), extras)


# -- CONDITIONING ---------------------------------------------------------------------------
def _area_to_comfy(area: Area | AreaPercentage) -> tuple[Any, ...]:
    if isinstance(area, AreaPercentage):
        return ("percentage", area.height, area.width, area.y, area.x)
    return area.as_tuple()


def _area_from_comfy(value: Any) -> Area | AreaPercentage:
    if value[0] == "percentage":
        return AreaPercentage(*(float(v) for v in value[1:5]))
    return Area(*(int(v) for v in value[:4]))


def cond_to_comfy(cond: Cond) -> list[Any]:
    extra: dict[str, Any] = dict(getattr(cond, "extras", {}))
    for name, default in _COND_DEFAULTS.items():
        value = getattr(cond, name)
        if value is None or (value is default) or (not isinstance(value, Tensor)
                                                  and value == default):
            continue
        extra[name] = _area_to_comfy(value) if name == "area" else value
    return [cond.cross_attn, extra]


def cond_from_comfy(entry: Any, what: str) -> Cond:
    if not isinstance(entry, (list, tuple)) or len(entry) != 2 or \
            not isinstance(entry[0], Tensor) or not isinstance(entry[1], Mapping):
        raise TypeError(f"{what}: a CONDITIONING entry is [tensor, dict], got {entry!r:.80}")
    tensor, options = entry
    known = {k: v for k, v in options.items() if k in _COND_FIELDS}
    extras = {k: v for k, v in options.items() if k not in _COND_FIELDS}
    if "area" in known and known["area"] is not None:
        known["area"] = _area_from_comfy(known["area"])
    if "control" in known and not isinstance(known["control"], tuple):
        logger.warning("%s: conditioning 'control' holds a %s, which Latentgraph cannot run; "
                       "kept but ignored", what, type(known["control"]).__name__)
        extras["control"] = known.pop("control")
    return PluginCond(cross_attn=tensor, extras=extras, **known)


def conditioning_from_comfy(value: Any, what: str) -> tuple[Cond, ...]:
    if isinstance(value, tuple) and all(isinstance(c, Cond) for c in value):
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{what}: CONDITIONING is a list of [tensor, dict], got "
                        f"{type(value).__name__}")
    return tuple(cond_from_comfy(entry, what) for entry in value)


def _looks_like_latent(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("samples"), Tensor) and \
        value["samples"].ndim == 4


def _looks_like_conditioning(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], Tensor)
        and e[0].ndim == 3 and isinstance(e[1], Mapping) for e in value)


# -- both ways ------------------------------------------------------------------------------
def to_comfy(value: Any, declared: Any = None) -> Any:
    """One value as a ComfyUI pack expects it."""
    if isinstance(value, Latent):
        return latent_to_comfy(value)
    declared_conditioning = type(declared) is str and declared == "CONDITIONING"
    if isinstance(value, tuple) and (declared_conditioning or (
            value and all(isinstance(c, Cond) for c in value))):
        return [cond_to_comfy(c) for c in value]
    if isinstance(value, DiffusionModel):
        return ModelPatcher(value)
    if isinstance(value, Clip):
        return CLIP(value)
    if isinstance(value, Vae):
        return VAE(value)
    return value


KNOWN_TYPES = {"LATENT", "CONDITIONING", "MODEL", "CLIP", "VAE", "IMAGE", "MASK", "INT", "FLOAT",
               "STRING", "BOOLEAN", "SIGMAS", "SAMPLER", "NOISE", "GUIDER", "CONTROL_NET"}


def from_comfy(value: Any, declared: Any, what: str, notes: list[str] | None = None) -> Any:
    """One value a pack returned, as our payloads (``notes`` collects what a MODEL's options
    could not honour)."""
    if isinstance(value, ModelPatcher):
        payload, unsupported = value.to_payload()
        if notes is not None:
            notes.extend(unsupported)
        return payload
    if isinstance(value, CLIP):
        return value.payload
    if isinstance(value, VAE):
        return value.payload
    plain = type(declared) is str
    if (plain and declared == "LATENT") or (
            not (plain and declared in KNOWN_TYPES) and _looks_like_latent(value)):
        return latent_from_comfy(value, what) if not isinstance(value, Latent) else value
    if (plain and declared == "CONDITIONING") or (
            not (plain and declared in KNOWN_TYPES) and _looks_like_conditioning(value)):
        return conditioning_from_comfy(value, what)
    return value
