"""A node pack that exposes front-end files the ComfyUI way (``WEB_DIRECTORY``)."""

from __future__ import annotations

from nodes.api import Registry

WEB_DIRECTORY = "web"


def register(registry: Registry) -> None:
    """Registers no nodes: only its web folder matters to the tests."""
