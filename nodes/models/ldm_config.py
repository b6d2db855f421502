"""The parts of an LDM ``.yaml`` config (``models/configs/``) that CheckpointLoader applies.

ComfyUI v0.3.64 detects the model from the checkpoint's weights and then reads two things from
the config: ``model.params.parameterization`` (``"v"`` makes it a v-prediction model) and
``model.params.cond_stage_config.params.layer_idx`` (the CLIP layer, as CLIPSetLastLayer). We
also honour ``model.params.unet_config.params.upcast_attention: true`` (attention computed in
float32), which ComfyUI leaves to its own per-model choice. Everything else in the file (the
architecture, ``scale_factor``, the schedule) is detected from the weights, as in ComfyUI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_MAX_CONFIG_BYTES = 1 << 20


class ConfigError(ValueError):
    """A config file without the shape of an LDM config."""


@dataclass(frozen=True)
class LdmConfig:
    """What a config overrides (False or None: as detected)."""

    v_prediction: bool = False
    clip_layer: int | None = None
    upcast_attention: bool = False


def _section(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key} is a {type(value).__name__}, not a mapping")
    return value


def parse_ldm_config(data: Any, source: str) -> LdmConfig:
    """The overrides of a loaded YAML document (``source`` names it in errors)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        raise ConfigError(f"{source}: not an LDM config (no 'model' mapping)")
    params = data["model"].get("params")
    if not isinstance(params, Mapping):
        raise ConfigError(f"{source}: not an LDM config (no 'model.params' mapping)")
    clip = _section(_section(params, "cond_stage_config", "model.params"), "params",
                    "model.params.cond_stage_config")
    unet = _section(_section(params, "unet_config", "model.params"), "params",
                    "model.params.unet_config")
    layer = clip.get("layer_idx")
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int)
                              or not -24 <= layer <= -1):
        raise ConfigError(f"{source}: cond_stage_config layer_idx {layer!r} is not a CLIP "
                          "layer between -24 and -1")
    return LdmConfig(v_prediction=params.get("parameterization") == "v", clip_layer=layer,
                     upcast_attention=unet.get("upcast_attention") is True)


def read_ldm_config(path: Path) -> LdmConfig:
    """Parse an LDM config file with YAML's safe loader."""
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{path.name}: {path.stat().st_size} bytes is too large for a config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc})") from None
    return parse_ldm_config(data, path.name)
