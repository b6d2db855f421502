"""The nodes' /object_info entries carry ComfyUI's names, orders, defaults and ranges, and no
node modifies its input tensors. (Every image node is also checked against ComfyUI's own
/object_info by tests/nodes/test_comfyui_reference.py; DECLARED spells out the first ones.)"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.api import Registry
from nodes.builtin import BUILTIN_NODES
from nodes.images import IMAGE_NODES
from tests.nodes.images.helpers import FakeContext

M = 16384
METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]

# class: (display name, category, required inputs in order, outputs, output node)
DECLARED = {
    "SaveImage": ("Save Image", "image", ["images", "filename_prefix"], [], True),
    "PreviewImage": ("Preview Image", "image", ["images"], [], True),
    "LoadImage": ("Load Image", "image", ["image"], ["IMAGE", "MASK"], False),
    "LoadImageMask": ("Load Image (as Mask)", "mask", ["image", "channel"], ["MASK"], False),
    "ImageScale": ("Upscale Image", "image/upscaling",
                   ["image", "upscale_method", "width", "height", "crop"], ["IMAGE"], False),
    "ImageScaleBy": ("Upscale Image By", "image/upscaling",
                     ["image", "upscale_method", "scale_by"], ["IMAGE"], False),
    "ImageScaleToTotalPixels": ("ImageScaleToTotalPixels", "image/upscaling",
                                ["image", "upscale_method", "megapixels"], ["IMAGE"], False),
    "ImagePadForOutpaint": ("Pad Image for Outpainting", "image",
                            ["image", "left", "top", "right", "bottom", "feathering"],
                            ["IMAGE", "MASK"], False),
    "ImageInvert": ("Invert Image", "image", ["image"], ["IMAGE"], False),
    "ImageBatch": ("Batch Images", "image", ["image1", "image2"], ["IMAGE"], False),
    "ImageCrop": ("Image Crop", "image/transform", ["image", "width", "height", "x", "y"],
                  ["IMAGE"], False),
    "EmptyImage": ("EmptyImage", "image", ["width", "height", "batch_size", "color"],
                   ["IMAGE"], False),
    "ImageCompositeMasked": ("ImageCompositeMasked", "image",
                             ["destination", "source", "x", "y", "resize_source"], ["IMAGE"],
                             False),
    "SolidMask": ("SolidMask", "mask", ["value", "width", "height"], ["MASK"], False),
    "InvertMask": ("InvertMask", "mask", ["mask"], ["MASK"], False),
    "MaskComposite": ("MaskComposite", "mask",
                      ["destination", "source", "x", "y", "operation"], ["MASK"], False),
    "FeatherMask": ("FeatherMask", "mask", ["mask", "left", "top", "right", "bottom"],
                    ["MASK"], False),
    "GrowMask": ("GrowMask", "mask", ["mask", "expand", "tapered_corners"], ["MASK"], False),
    "ImageToMask": ("Convert Image to Mask", "mask", ["image", "channel"], ["MASK"], False),
    "MaskToImage": ("Convert Mask to Image", "mask", ["mask"], ["IMAGE"], False),
    "ThresholdMask": ("ThresholdMask", "mask", ["mask", "value"], ["MASK"], False),
    "CropMask": ("CropMask", "mask", ["mask", "x", "y", "width", "height"], ["MASK"], False),
}

# (class, input): the V1 entry's type or choices, and the options that must be present.
OPTIONS: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("SaveImage", "filename_prefix", "STRING", {"default": "ComfyUI"}),
    ("LoadImage", "image", [], {"image_upload": True}),
    ("LoadImageMask", "channel", ["alpha", "red", "green", "blue"], {}),
    ("ImageScale", "upscale_method", METHODS, {}),
    ("ImageScale", "width", "INT", {"default": 512, "min": 0, "max": M, "step": 1}),
    ("ImageScale", "crop", ["disabled", "center"], {}),
    ("ImageScaleBy", "scale_by", "FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0,
                                           "step": 0.01}),
    ("ImageScaleToTotalPixels", "megapixels", "FLOAT", {"default": 1.0, "min": 0.01,
                                                        "max": 16.0, "step": 0.01}),
    ("ImagePadForOutpaint", "left", "INT", {"default": 0, "min": 0, "max": M, "step": 8}),
    ("ImagePadForOutpaint", "feathering", "INT", {"default": 40, "min": 0, "max": M,
                                                  "step": 1}),
    ("ImageCrop", "width", "INT", {"default": 512, "min": 1, "max": M, "step": 1}),
    ("ImageCrop", "x", "INT", {"default": 0, "min": 0, "max": M, "step": 1}),
    ("EmptyImage", "batch_size", "INT", {"default": 1, "min": 1, "max": 4096}),
    ("EmptyImage", "color", "INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1}),
    ("ImageCompositeMasked", "resize_source", "BOOLEAN", {"default": False}),
    ("SolidMask", "value", "FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
    ("MaskComposite", "operation", ["multiply", "add", "subtract", "and", "or", "xor"], {}),
    ("GrowMask", "expand", "INT", {"default": 0, "min": -M, "max": M, "step": 1}),
    ("GrowMask", "tapered_corners", "BOOLEAN", {"default": True}),
    ("ImageToMask", "channel", ["red", "green", "blue", "alpha"], {}),
    ("ThresholdMask", "value", "FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
    ("CropMask", "height", "INT", {"default": 512, "min": 1, "max": M, "step": 1}),
]


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    registry = Registry()
    registry.register_all(IMAGE_NODES, module="nodes")
    return registry.object_info()


def test_every_node_is_declared_as_in_comfyui(info: dict[str, Any]) -> None:
    assert set(DECLARED) <= set(info)
    for name, (display, category, order, outputs, output_node) in DECLARED.items():
        entry = info[name]
        assert entry["display_name"] == display, name
        assert entry["category"] == category, name
        assert entry["input_order"]["required"] == order, name
        assert entry["output"] == outputs and entry["output_name"] == outputs, name
        assert entry["output_node"] is output_node, name


def test_every_node_and_input_is_described(info: dict[str, Any]) -> None:
    assert set(info) == {node.type_name for node in IMAGE_NODES}
    for name, entry in info.items():
        assert entry["description"], name
        every = {**entry["input"]["required"], **entry["input"].get("optional", {})}
        assert all(spec[1].get("tooltip") for spec in every.values()), name


def test_input_options_match_comfyui(info: dict[str, Any]) -> None:
    for name, input_name, kind, options in OPTIONS:
        spec = info[name]["input"]["required"][input_name]
        assert spec[0] == kind, (name, input_name)
        assert {k: spec[1].get(k) for k in options} == options, (name, input_name)
    assert info["ImageCompositeMasked"]["input"]["optional"]["mask"][0] == "MASK"
    for name in ("SaveImage", "PreviewImage"):
        assert info[name]["input"]["hidden"] == {"prompt": "PROMPT",
                                                 "extra_pnginfo": "EXTRA_PNGINFO"}


def test_image_nodes_are_in_the_builtin_pack() -> None:
    assert all(node in BUILTIN_NODES for node in IMAGE_NODES)


def _inputs() -> dict[str, tuple[Any, ...]]:
    generator = torch.Generator().manual_seed(1)
    img = torch.rand((2, 6, 6, 3), generator=generator)
    img4 = torch.rand((1, 4, 5, 4), generator=generator)
    mask = torch.rand((2, 6, 6), generator=generator)
    small = torch.rand((1, 3, 3), generator=generator)
    return {
        "ImageScale": (img, "bicubic", 4, 3, "center"),
        "ImageScaleBy": (img, "lanczos", 1.5),
        "ImageScaleToTotalPixels": (img, "area", 0.01),
        "ImagePadForOutpaint": (img, 8, 0, 8, 8, 2),
        "ImageInvert": (img,),
        "ImageBatch": (img, img4),
        "ImageCrop": (img, 3, 3, 1, 1),
        "ImageCompositeMasked": (img, img4, 1, 1, True, small),
        "InvertMask": (mask,),
        "CropMask": (mask, 1, 1, 2, 2),
        "MaskComposite": (mask, small, 1, 2, "xor"),
        "FeatherMask": (mask, 2, 2, 2, 2),
        "GrowMask": (mask, -2, False),
        "ImageToMask": (img, "green"),
        "MaskToImage": (mask,),
        "ThresholdMask": (mask, 0.3),
        "GetImageSize": (img,),
        "ImageFromBatch": (img, 1, 1),
        "RepeatImageBatch": (img, 2),
        "RebatchImages": ([img, img], [3]),
        "ImageFlip": (img, "y-axis: horizontally"),
        "ImageRotate": (img, "90 degrees"),
        "ImageScaleToMaxDimension": (img, "area", 3),
        "ResizeAndPadImage": (img, 8, 4, "black", "bilinear"),
        "ImageStitch": (img, "left", False, 2, "red", img4),
        "ImageBlend": (img, img4[..., :3], 0.5, "soft_light"),
        "ImageBlur": (img, 2, 1.0),
        "ImageSharpen": (img, 1, 1.0, 1.0),
        "ImageAddNoise": (img, 7, 0.5),
        "ImageQuantize": (img4, 4, "bayer-4"),
        "Morphology": (img4, "top_hat", 3),
        "ImageRGBToYUV": (img,),
        "ImageYUVToRGB": (img, img, img),
        "PorterDuffImageComposite": (img, mask, img, small, "OVERLAY"),
        "SplitImageWithAlpha": (img4,),
        "JoinImageWithAlpha": (img, small),
    }


@pytest.mark.parametrize("node", [n for n in IMAGE_NODES if n.__name__ in _inputs()],
                         ids=lambda n: n.__name__)
def test_nodes_never_modify_their_inputs(node: type) -> None:
    args = _inputs()[node.__name__]
    before = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    outputs = node().run(FakeContext(), *args)
    for arg, kept in zip(args, before, strict=True):
        if isinstance(arg, torch.Tensor):
            assert torch.equal(arg, kept)
    flat = [t for out in outputs for t in (out if isinstance(out, list) else [out])]
    for out in flat:  # results are new tensors: writing to them leaves the inputs alone
        if isinstance(out, torch.Tensor) and not any(out is a for a in args):
            out.add_(1.0)
    for arg, kept in zip(args, before, strict=True):
        if isinstance(arg, torch.Tensor):
            assert torch.equal(arg, kept)
