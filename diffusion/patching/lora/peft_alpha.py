"""LoRA alphas that a PEFT-format file keeps in its metadata instead of ``.alpha`` tensors.

diffusers' ``save_lora_weights`` stores each component's ``LoraConfig`` as JSON under the
safetensors metadata key ``lora_adapter_metadata``, with keys prefixed by the component
(``unet.lora_alpha``, ``text_encoder.alpha_pattern`` ...; unprefixed for a single model).
``alpha_pattern`` entries match a module name as PEFT matches them: the pattern must match the
whole name or a dot-separated tail of it (``(.*\\.)?(pattern)$``), first match wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from diffusion.patching.lora.errors import LoraFormatError

METADATA_KEY = "lora_adapter_metadata"
_COMPONENTS = ("text_encoder_2.", "text_encoder.", "unet.")
_PEFT_MODEL_PREFIX = "base_model.model."


@dataclass(frozen=True)
class PeftAlpha:
    alpha: float
    rslora: bool  # scale = alpha / sqrt(rank) instead of alpha / rank


def _config(metadata: Mapping[str, str], name: str) -> dict[str, object]:
    raw = metadata.get(METADATA_KEY)
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoraFormatError(f"{name}: metadata {METADATA_KEY!r} is not JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise LoraFormatError(f"{name}: metadata {METADATA_KEY!r} is not a JSON object")
    return config


def _split(stem: str) -> tuple[str, str]:
    """(component prefix with its dot, or "", module name inside the component)."""
    component = next((c for c in _COMPONENTS if stem.startswith(c)), "")
    return component, stem[len(component) :].removeprefix(_PEFT_MODEL_PREFIX)


def _pattern_alpha(patterns: object, module: str) -> float | None:
    if not isinstance(patterns, dict):
        return None
    for pattern, value in patterns.items():
        try:
            if re.match(rf"(.*\.)?({pattern})$", module):
                return float(value)
        except re.error as exc:
            raise LoraFormatError(f"alpha_pattern {pattern!r} is not a regex ({exc})") from exc
    return None


class PeftAlphas:
    """Per-module alphas from ``lora_adapter_metadata`` (empty when the file has none)."""

    def __init__(self, metadata: Mapping[str, str], name: str) -> None:
        self._config = _config(metadata, name)

    def alpha_for(self, stem: str) -> PeftAlpha | None:
        """The alpha PEFT would use for the module the file calls ``stem``; None when unknown."""
        if not self._config:
            return None
        component, module = _split(stem)
        alpha = _pattern_alpha(self._config.get(component + "alpha_pattern"), module)
        if alpha is None:
            value = self._config.get(component + "lora_alpha")
            if not isinstance(value, (int, float)):
                return None
            alpha = float(value)
        return PeftAlpha(alpha, bool(self._config.get(component + "use_rslora", False)))


__all__ = ["METADATA_KEY", "PeftAlpha", "PeftAlphas"]
