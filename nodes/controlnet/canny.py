"""Canny (ComfyUI's ``comfy_extras/nodes_canny.py``): an edge map for edge ControlNets."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from diffusion.control import canny
from nodes.api import IMAGE, Float, Link, Node, Output, RunContext


def _threshold(name: str, default: float, tooltip: str) -> Float:
    return Float(name, default=default, min=0.01, max=0.99, step=0.01, tooltip=tooltip)


class Canny(Node):
    """White edges on black (Canny: Gaussian blur, Sobel gradients, non-maximum suppression,
    hysteresis between the two thresholds), as an RGB image."""

    category = "image/preprocessors"
    inputs = (
        Link("image", IMAGE, tooltip="The images to find edges in."),
        _threshold("low_threshold", 0.4, "Gradient magnitude above which a pixel is a weak edge."),
        _threshold("high_threshold", 0.8, "Gradient magnitude above which a pixel is a strong "
                                          "edge; weak edges are kept when they touch strong ones."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: Tensor, low_threshold: float,
            high_threshold: float) -> tuple[Any, ...]:
        if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
            raise ValueError(f"Canny input 'image': expected (B, H, W, 1|3|4), got "
                             f"{tuple(image.shape)}")
        if low_threshold > high_threshold:
            raise ValueError(f"Canny: low_threshold={low_threshold} is above "
                             f"high_threshold={high_threshold}")
        pixels = image[..., :3].movedim(-1, 1)  # (B, C, H, W)
        edges = canny(pixels, low_threshold, high_threshold)  # (B, 1, H, W)
        return (edges.repeat(1, 3, 1, 1).movedim(1, -1),)  # (B, H, W, 3)


CANNY_NODES = [Canny]
