"""SaveImageWebsocket: the images go to the job's client as binary websocket frames.

As ComfyUI's bundled ``websocket_image_save`` node: one frame per image (in batch order, full
size, PNG, no metadata), reported as progress ``step / batch`` with the image as its
``ClientImage`` preview; nothing is written to disk and nothing is cached (it sends again each
time the prompt runs). Clients such as ComfyUI's ``websockets_api_example_ws_images.py`` collect
the binary frames that arrive while this node is executing.
"""

from __future__ import annotations

import torch

from nodes.api import IMAGE, CachePolicy, ClientImage, Link, Node, NodeResult, RunContext
from nodes.images.png_metadata import to_pil


class SaveImageWebsocket(Node):
    """Sends the images to the client over the websocket (binary PNG frames), without saving
    them."""

    category = "api/image"
    output_node = True
    cache = CachePolicy.NEVER
    inputs = (Link("images", IMAGE, tooltip="The images to send to the client."),)

    def run(self, ctx: RunContext, images: torch.Tensor) -> NodeResult:
        if images.dim() != 4:
            raise ValueError(f"images: expected (B, H, W, C), got {tuple(images.shape)}")
        total = images.shape[0]
        for step in range(total):
            ctx.progress(step, total, ClientImage(to_pil(images[step])))
        return NodeResult()
