"""ComfyUI's ``comfy_api.latest``: ``io`` (``ComfyNode``, ``Schema``, the input and output
types, ``NodeOutput``), ``ui`` and ``ComfyExtension`` — a pack's ``async def
comfy_entrypoint() -> ComfyExtension`` lists its nodes through ``get_node_list()``."""

from __future__ import annotations

from typing import Any

from nodes.plugins.compat.comfy_api.latest import io, ui

IO = io
Input = io
Types = io


class ComfyExtension:
    """What ``comfy_entrypoint()`` returns: ``on_load()`` once, ``get_node_list()`` the nodes."""

    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        raise NotImplementedError(f"{type(self).__name__} lists no nodes (get_node_list)")


class ComfyAPI:
    """Kept for packs that import it; the node API is ``io``."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"comfy_api.latest.ComfyAPI.{name} is not available here")


ComfyAPISync = ComfyAPI

__all__ = ["IO", "ComfyAPI", "ComfyAPISync", "ComfyExtension", "Input", "Types", "io", "ui"]
