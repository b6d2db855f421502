"""Plugin node packs: discovery, isolated loading, and the ComfyUI compatibility layer.

``load_plugins(registry, settings)`` finds packs (``<base>/custom_nodes``, ``--custom-nodes``
folders, ``--node-pack`` modules), imports each under its name with failures contained
(reported, never fatal), and registers their nodes: packs in our API through
``register(registry)``, ComfyUI V1 classes (``NODE_CLASS_MAPPINGS``) and V3 extensions
(``comfy_entrypoint``) through adapters (``nodes.plugins.adapter``) that run them unchanged
against ComfyUI's modules (``nodes.plugins.compat``), which call our engine through its ports.
Nothing here is imported unless packs are loaded.
"""

from __future__ import annotations

from nodes.plugins.loader import load_plugins
from nodes.plugins.settings import PluginSettings
from nodes.plugins.startup import format_import_times

__all__ = ["PluginSettings", "format_import_times", "load_plugins"]
