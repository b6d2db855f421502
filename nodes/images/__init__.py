"""Image and mask nodes with ComfyUI's names and semantics.

``IMAGE_NODES`` lists them in palette order; ``IMAGE_EXTRAS_MODULES`` gives ComfyUI's
python_module of those it keeps in comfy_extras (the rest are in ``nodes``). LoadImage and
LoadImageMask list the input folder of the registry's schema context
(``nodes.images.pickers.InputImageFiles``).
"""

from __future__ import annotations

from nodes.api import Node
from nodes.images.alpha import ALPHA_NODES
from nodes.images.batch import BATCH_NODES, RebatchImages
from nodes.images.filters import FILTER_NODES, ImageAddNoise
from nodes.images.io import LoadImage, LoadImageMask, PreviewImage, SaveImage
from nodes.images.loaders import LoadImageOutput, WebcamCapture
from nodes.images.masks import MASK_NODES
from nodes.images.morphology import MORPHOLOGY_NODES
from nodes.images.ops import IMAGE_OPS
from nodes.images.quantize import ImageQuantize
from nodes.images.transform import TRANSFORM_NODES
from nodes.images.websocket import SaveImageWebsocket

IMAGE_NODES: list[type[Node]] = [
    SaveImage, PreviewImage, LoadImage, LoadImageOutput, WebcamCapture, LoadImageMask,
    *IMAGE_OPS, *BATCH_NODES, *TRANSFORM_NODES, *FILTER_NODES, ImageQuantize,
    *MORPHOLOGY_NODES, *ALPHA_NODES, *MASK_NODES, SaveImageWebsocket,
]

_NODES_IMAGES = (ImageAddNoise, *BATCH_NODES, *TRANSFORM_NODES)
IMAGE_EXTRAS_MODULES: dict[str, str] = {
    **{node.type_name: "comfy_extras.nodes_images" for node in _NODES_IMAGES},
    **{node.type_name: "comfy_extras.nodes_post_processing"
       for node in (*FILTER_NODES, ImageQuantize) if node is not ImageAddNoise},
    **{node.type_name: "comfy_extras.nodes_morphology" for node in MORPHOLOGY_NODES},
    **{node.type_name: "comfy_extras.nodes_compositing" for node in ALPHA_NODES},
    RebatchImages.type_name: "comfy_extras.nodes_rebatch",
    WebcamCapture.type_name: "comfy_extras.nodes_webcam",
    SaveImageWebsocket.type_name: "custom_nodes.websocket_image_save",
}

__all__ = ["IMAGE_EXTRAS_MODULES", "IMAGE_NODES"]
