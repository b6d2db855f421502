"""Opening style model files (ComfyUI's ``load_style_model``): T2I-Adapter style models open
as a ``ModuleFile`` under ``style_model.``; Flux Redux files are refused by name."""

from __future__ import annotations

from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorSource
from diffusion.loading.module_file import ModuleFile, module_file, prefixed_source
from diffusion.style.model import StyleAdapter, StyleConfig, detect_style

STYLE_COMPONENT = "style_model"
STYLE_PREFIX = "style_model."


def open_style_file(file: TensorSource) -> ModuleFile[StyleConfig] | None:
    """The style model of ``file``, or None when it holds none."""
    if "redux_down.weight" in file.shapes:
        raise UnknownModelError(f"{file.path}: a Flux Redux style model; it conditions Flux "
                                "models only, not the SD1.x / SD2.x / SDXL families")
    if "style_embedding" not in file.shapes:
        return None
    source = prefixed_source(file, STYLE_PREFIX)
    config = detect_style(source.shapes, STYLE_PREFIX)

    def build() -> StyleAdapter:
        return StyleAdapter(config)

    return module_file(STYLE_COMPONENT, STYLE_PREFIX, source, build, config)
