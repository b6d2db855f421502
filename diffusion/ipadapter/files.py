"""Opening IP-Adapter files: ``.safetensors`` with ``image_proj.`` / ``ip_adapter.`` prefixed
keys, or ``.bin`` pickles nesting the two dicts (read flattened to the same keys). The adapter
opens as a ``ModuleFile`` under ``ipadapter.``."""

from __future__ import annotations

from diffusion.ipadapter.model import IPAdapterConfig, IPAdapterModel, detect_ipadapter
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorSource
from diffusion.loading.module_file import ModuleFile, module_file, prefixed_source

IPADAPTER_COMPONENT = "ipadapter"
IPADAPTER_PREFIX = "ipadapter."

IPAdapterFile = ModuleFile[IPAdapterConfig]


def open_ipadapter_file(file: TensorSource) -> IPAdapterFile | None:
    """The adapter of ``file``, or None when it has no ``ip_adapter.`` keys."""
    if not any(k.startswith("ip_adapter.") for k in file.shapes):
        return None
    source = prefixed_source(file, IPADAPTER_PREFIX)
    try:
        config = detect_ipadapter(source.shapes, IPADAPTER_PREFIX)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{file.path}: {exc}") from exc

    def build() -> IPAdapterModel:
        return IPAdapterModel(config)

    return module_file(IPADAPTER_COMPONENT, IPADAPTER_PREFIX, source, build, config)
