"""T2I-Adapter style models: image tokens from CLIP vision hidden states, appended to the
prompt's cross-attention tokens (StyleModelApply)."""

from __future__ import annotations

from diffusion.style.files import STYLE_COMPONENT, open_style_file
from diffusion.style.model import StyleAdapter, StyleConfig, style_tokens

__all__ = ["STYLE_COMPONENT", "StyleAdapter", "StyleConfig", "open_style_file", "style_tokens"]
