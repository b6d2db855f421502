"""Writing models to ``.safetensors``, streamed tensor by tensor.

* ``stream`` — the header from declared shapes and dtypes, then each tensor as it comes.
* ``parts`` — several resident modules (and computed tensors) into one file.
* ``layout`` — the single-file checkpoint prefixes and ComfyUI's marker keys and metadata.
* ``lora`` — a LoRA extracted from a resident module (``diffusion.patching.extract``).
"""

from __future__ import annotations

from diffusion.saving.layout import marker_tensors, modelspec, text_encoder_views, text_prefix
from diffusion.saving.parts import Part, constant_part, prefixed, save_parts, view_part
from diffusion.saving.stream import TensorEntry, aligned_order, write_safetensors

__all__ = ["Part", "TensorEntry", "aligned_order", "constant_part", "marker_tensors",
           "modelspec", "prefixed", "save_parts", "text_encoder_views", "text_prefix", "view_part",
           "write_safetensors"]
