"""The IPAdapter plugin's core nodes, built in (ComfyUI_IPAdapter_plus: names, inputs, defaults,
categories as it declares them): model and unified loaders, IPAdapter, IPAdapterAdvanced,
IPAdapterEmbeds, IPAdapterEncoder and IPAdapterCombineEmbeds. FaceID, tiled, batch and
style-composition variants are not included."""

from __future__ import annotations

from nodes.api import Node
from nodes.ipadapter.apply import IPAdapterAdvanced, IPAdapterEmbeds, IPAdapterSimple
from nodes.ipadapter.embeds import IPAdapterCombineEmbeds, IPAdapterEncoder
from nodes.ipadapter.loaders import IPAdapterModelLoader, IPAdapterUnifiedLoader

IPADAPTER_NODES: list[type[Node]] = [
    IPAdapterUnifiedLoader, IPAdapterModelLoader, IPAdapterSimple, IPAdapterAdvanced,
    IPAdapterEmbeds, IPAdapterEncoder, IPAdapterCombineEmbeds,
]
IPADAPTER_MODULE = "custom_nodes.ComfyUI_IPAdapter_plus"
"""The ``python_module`` clients see for these nodes: the plugin's, as in a ComfyUI with it."""

__all__ = ["IPADAPTER_MODULE", "IPADAPTER_NODES"]
