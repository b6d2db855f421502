"""ComfyUI's ``comfy_execution.graph``: ``ExecutionBlocker`` and a read-only
``DynamicPrompt`` (the ``DYNPROMPT`` hidden input) over the job's prompt."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.plugins.compat.comfy_execution.graph_utils import ExecutionBlocker, GraphBuilder

__all__ = ["DynamicPrompt", "ExecutionBlocker", "GraphBuilder"]


class NodeNotFoundError(Exception):
    pass


class DynamicPrompt:
    """The prompt a node runs in (``get_node``, ``has_node``, ``all_node_ids``,
    ``get_original_prompt``); nodes added by expansion are not listed."""

    def __init__(self, original_prompt: Mapping[str, Any]) -> None:
        self.original_prompt = original_prompt
        self.ephemeral_prompt: dict[str, Any] = {}

    def get_node(self, node_id: str) -> Any:
        if node_id in self.original_prompt:
            return self.original_prompt[node_id]
        raise NodeNotFoundError(f"Node {node_id} not found")

    def has_node(self, node_id: str) -> bool:
        return node_id in self.original_prompt

    def all_node_ids(self) -> set[str]:
        return set(self.original_prompt)

    def get_original_prompt(self) -> Mapping[str, Any]:
        return self.original_prompt

    def get_real_node_id(self, node_id: str) -> str:
        return node_id

    def get_display_node_id(self, node_id: str) -> str:
        return node_id

    def get_parent_node_id(self, node_id: str) -> str | None:
        return None
