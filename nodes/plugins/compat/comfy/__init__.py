"""ComfyUI's ``comfy`` package: the submodules packs use, imported on first attribute access
(``import comfy`` then ``comfy.model_management.…`` works, as it does in ComfyUI)."""

from __future__ import annotations

import importlib
from types import ModuleType

SUBMODULES = ("utils", "model_management", "samplers", "sample", "cli_args", "model_patcher",
              "sd")


def __getattr__(name: str) -> ModuleType:
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'comfy' has no attribute {name!r}")
