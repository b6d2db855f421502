"""IPAdapterModelLoader and IPAdapterUnifiedLoader (the IPAdapter plugin's loaders).

Adapters come from the ``ipadapter`` model folder, CLIP vision models from ``clip_vision``. The
unified loader picks both by the plugin's file-name patterns for its preset and the model's
family (SDXL or not), and pairs them in one IPADAPTER; FaceID presets are not offered (they need
InsightFace). Files are opened through the model manager: weights are read when used.
"""

from __future__ import annotations

import re
from typing import Any

from diffusion.ipadapter import IPADAPTER_COMPONENT, IPAdapterConfig
from diffusion.memory import FileKey
from nodes.api import (
    MODEL,
    CachePolicy,
    Combo,
    FingerprintContext,
    Link,
    ModelFiles,
    Node,
    Output,
    RunContext,
)
from nodes.ipadapter.sockets import IPADAPTER
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import DiffusionModel
from nodes.vision.encode import module_config, vision_payload
from nodes.vision_payloads import IPAdapter

FOLDER = "ipadapter"
CATEGORY = "ipadapter"
PRESETS = ("LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)",
           "VIT-G (medium strength)", "PLUS (high strength)", "PLUS FACE (portraits)",
           "FULL FACE - SD1.5 only (portraits stronger)")
_EXT = r"\.(safetensors|bin)$"
# preset prefix -> (SD1.x pattern, SDXL pattern or None); the plugin's get_ipadapter_file
_ADAPTER_PATTERNS: dict[str, tuple[str, str | None]] = {
    "standard": (r"ip.adapter.sd15" + _EXT, r"ip.adapter.sdxl.vit.h" + _EXT),
    "vit-g": (r"sd15.vit.g" + _EXT, r"ip.adapter.sdxl" + _EXT),
    "plus (": (r"ip.adapter.plus.sd15" + _EXT, r"plus.sdxl.vit.h" + _EXT),
    "plus face": (r"plus.face.sd15" + _EXT, r"plus.face.sdxl.vit.h" + _EXT),
    "full": (r"full.face.sd15" + _EXT, None),
}
_VIT_H = r"(ViT.H.14.*s32B.b79K|ipadapter.*sd15|sd1.?5.*model\.(bin|safetensors))"
_VIT_BIGG = r"(ViT.bigG.14.*39B.b160k|ipadapter.*sdxl|sdxl.*model\.(bin|safetensors))"


def ipadapter_payload(handles: Any, what: str) -> IPAdapter:
    if IPADAPTER_COMPONENT not in handles:
        raise ValueError(f"{what} is not an IP-Adapter (components {sorted(handles)})")
    handle = handles[IPADAPTER_COMPONENT]
    return IPAdapter(handle, module_config(handle, IPAdapterConfig))


class IPAdapterModelLoader(ModelPickerNode):
    """Loads an IP-Adapter (base, light, plus, plus-face, full-face, ViT-G; SD1.5 or SDXL)
    from the ipadapter folder."""

    display_name = "IPAdapter Model Loader"
    category = "ipadapter/loaders"
    pickers = {"ipadapter_file": FOLDER}
    inputs = (model_picker("ipadapter_file", FOLDER, "The IP-Adapter file."),)
    outputs = (Output(IPADAPTER),)

    def run(self, ctx: RunContext, ipadapter_file: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "ipadapter_file", ipadapter_file)
        what = f"IPAdapterModelLoader input 'ipadapter_file': {ipadapter_file!r}"
        return (ipadapter_payload(ctx.models.open(path), what),)


def _first(files: ModelFiles, folder: str, pattern: str) -> str | None:
    found = [name for name in files.files(folder) if re.search(pattern, name, re.IGNORECASE)]
    return found[0] if found else None


def adapter_file(files: ModelFiles, preset: str, sdxl: bool) -> str:
    """The plugin's adapter file for ``preset`` (its first matching name in the folder)."""
    key = preset.lower()
    if key.startswith("light"):
        if sdxl:
            raise ValueError("IPAdapterUnifiedLoader: the light model is not supported for SDXL")
        name = _first(files, FOLDER, r"sd15.light.v11" + _EXT) or _first(
            files, FOLDER, r"sd15.light" + _EXT)
    else:
        prefix = next((p for p in _ADAPTER_PATTERNS if key.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"IPAdapterUnifiedLoader input 'preset': {preset!r}; choose one "
                             f"of {list(PRESETS)}")
        pattern = _ADAPTER_PATTERNS[prefix][1 if sdxl else 0]
        if pattern is None:
            raise ValueError(f"IPAdapterUnifiedLoader: the {preset!r} model is not supported "
                             "for SDXL")
        name = _first(files, FOLDER, pattern)
    if name is None:
        raise ValueError(f"IPAdapterUnifiedLoader: IPAdapter model not found for preset "
                         f"{preset!r} ({'SDXL' if sdxl else 'SD1.5'}) in {FOLDER!r}")
    return name


def clip_vision_file(files: ModelFiles, preset: str) -> str:
    name = _first(files, "clip_vision",
                  _VIT_BIGG if preset.lower().startswith("vit-g") else _VIT_H)
    if name is None:
        raise ValueError(f"IPAdapterUnifiedLoader: ClipVision model not found for preset "
                         f"{preset!r} in 'clip_vision'")
    return name


class IPAdapterUnifiedLoader(Node):
    """Loads the IP-Adapter and CLIP vision model of a preset, picked by the plugin's file
    names for the model's family; the model passes through."""

    display_name = "IPAdapter Unified Loader"
    category = CATEGORY
    cache = CachePolicy.FINGERPRINT
    inputs = (
        Link("model", MODEL, tooltip="The model the adapter is for (its family picks the file)."),
        Combo("preset", choices=PRESETS, tooltip="Which adapter and CLIP vision model to load."),
        Link("ipadapter", IPADAPTER, optional=True,
             tooltip="A pipeline to chain from (files are shared by the model manager anyway)."),
    )
    outputs = (Output(MODEL, "model"), Output(IPADAPTER, "ipadapter"))

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, **inputs: Any) -> Any:
        names = []
        preset = str(inputs.get("preset"))
        for folder, pick in ((FOLDER, lambda s: adapter_file(ctx.model_files, preset, s)),
                             ("clip_vision", lambda s: clip_vision_file(ctx.model_files, preset))):
            for sdxl in (False, True):
                try:
                    key = FileKey.of(ctx.model_files.resolve(folder, pick(sdxl)))
                except (ValueError, OSError):
                    continue
                names.append([key.path, key.size, key.mtime_ns])
        return names

    def run(self, ctx: RunContext, model: DiffusionModel, preset: str,
            ipadapter: IPAdapter | None = None) -> tuple[Any, ...]:
        files = ctx.model_files
        vision_name = clip_vision_file(files, preset)
        vision = vision_payload(ctx.models.open(files.resolve("clip_vision", vision_name)),
                                f"IPAdapterUnifiedLoader clip_vision file {vision_name!r}")
        adapter_name = adapter_file(files, preset, model.family in ("sdxl", "sdxl_refiner"))
        adapter = ipadapter_payload(ctx.models.open(files.resolve(FOLDER, adapter_name)),
                                    f"IPAdapterUnifiedLoader file {adapter_name!r}")
        ctx.note("ipadapter", {"adapter": adapter_name, "clip_vision": vision_name})
        return (model, IPAdapter(adapter.handle, adapter.config, vision))
