"""An example node pack written in Latentgraph's typed API (see ``docs/plugins.md``).

Drop the folder into ``<base-dir>/custom_nodes/`` (or pass ``--custom-nodes`` its parent) and
its nodes appear in ``/object_info``, the editor and workflows. The loader calls
:func:`register` with the server's registry.
"""

from __future__ import annotations

from nodes.api import Registry

from .image_nodes import Brightness, LatentNoise
from .text_nodes import ReadTextFile, ShowText

NODES = [Brightness, LatentNoise, ReadTextFile, ShowText]


def register(registry: Registry) -> None:
    registry.register_all(NODES, module="custom_nodes.example_pack")
