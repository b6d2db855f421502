"""ComfyUI's ``SaveImage`` and ``PreviewImage`` as packs subclass them: the instance attributes
``output_dir``, ``type``, ``prefix_append`` and ``compress_level`` decide where and how
``save_images(images, filename_prefix, prompt, extra_pnginfo)`` writes
``<prefix>_<counter:05>_.png`` files (with the prompt and workflow in PNG text chunks), and the
result is ComfyUI's ``{"ui": {"images": [{filename, subfolder, type}]}}``."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

from torch import Tensor

from nodes.images.png_metadata import encode_png, png_info
from nodes.plugins.compat import folder_paths


class SaveImage:
    """Saves the input images to the output directory."""

    RETURN_TYPES: tuple[str, ...] = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    DESCRIPTION = "Saves the input images to your ComfyUI output directory."

    def __init__(self) -> None:
        self.output_dir = folder_paths.get_output_directory()
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 (ComfyUI's name)
        return {"required": {
                    "images": ("IMAGE", {"tooltip": "The images to save."}),
                    "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip":
                                                   "The prefix for the file to save."})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def save_images(self, images: Tensor, filename_prefix: str = "ComfyUI",
                    prompt: Any = None, extra_pnginfo: Any = None) -> dict[str, Any]:
        prefix = filename_prefix + self.prefix_append
        height, width = int(images[0].shape[0]), int(images[0].shape[1])
        folder, stem, counter, subfolder, _ = folder_paths.get_save_image_path(
            prefix, self.output_dir, width, height)
        info = png_info(prompt, extra_pnginfo)
        results = []
        for index, image in enumerate(images):
            name = stem.replace("%batch_num%", str(index))
            filename = f"{name}_{counter:05}_.png"
            Path(folder, filename).write_bytes(encode_png(image, info, self.compress_level))
            results.append({"filename": filename, "subfolder": subfolder, "type": self.type})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    """Saves the input images to the temp directory (shown, not kept)."""

    def __init__(self) -> None:
        self.output_dir = folder_paths.get_temp_directory()
        self.type = "temp"
        self.prefix_append = "_temp_" + "".join(random.choice(string.ascii_lowercase)
                                                for _ in range(5))
        self.compress_level = 1

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 (ComfyUI's name)
        return {"required": {"images": ("IMAGE",)},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}
