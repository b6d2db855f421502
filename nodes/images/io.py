"""Loading and saving images: LoadImage, LoadImageMask, SaveImage, PreviewImage.

Every file name goes through ``nodes.api.paths``; folders come from the context
(``ctx.folders``), never from globals.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from pathlib import Path
from typing import Any

import torch

from nodes.api import (
    IMAGE,
    MASK,
    CachePolicy,
    Combo,
    FilenamePrefix,
    FingerprintContext,
    Folders,
    Hidden,
    Link,
    Node,
    NodeResult,
    Output,
    RunContext,
)
from nodes.api.paths import PathRefusedError, folder_of, resolve_annotated
from nodes.images.decode import MASK_CHANNELS, load_image, load_mask
from nodes.images.filenames import (
    BATCH_NUM,
    next_counter,
    save_target,
    substitute,
    write_exclusive,
)
from nodes.images.pickers import ImageFileCombo, InputImageFiles
from nodes.images.png_metadata import (
    PREVIEW_COMPRESS_LEVEL,
    SAVE_COMPRESS_LEVEL,
    encode_png,
    png_info,
)

_HASH_CHUNK = 1 << 20


def _folders(folders: Folders | None, node: str) -> Folders:
    if folders is None:
        raise RuntimeError(f"{node}: no folders are configured (the engine has folders=None)")
    return folders


def image_path(folders: Folders | None, image: Any, node: str) -> Path:
    """The file an ``image`` input names (``sub/name.png``, ``name.png [output]``)."""
    return resolve_annotated(_folders(folders, node), image, what=f"{node} input 'image'")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_image_file(folders: Folders | None, image: Any, node: str) -> str | None:
    """``None`` if ``image`` names a file inside its folder, else ComfyUI's refusal message."""
    if image is None:  # linked: checked when it runs
        return None
    try:
        path = image_path(folders, image, node)
    except PathRefusedError as exc:
        return f"Invalid image file: {image} ({exc.reason})"
    except RuntimeError as exc:
        return f"Invalid image file: {image} ({exc})"
    return None if path.is_file() else f"Invalid image file: {image}"


class LoadImage(Node):
    """Loads an image from the input folder: every frame of the same size as a batch, and a
    mask that is 1 − alpha (64×64 zeros when the image has no alpha)."""

    display_name = "Load Image"
    category = "image"
    cache = CachePolicy.FINGERPRINT
    inputs = (
        ImageFileCombo("image", choices=InputImageFiles(), image_upload=True,
                       tooltip="An image in the input folder; sub/name.png and "
                               "'name.png [output]' are accepted too."),
    )
    outputs = (Output(IMAGE), Output(MASK))

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, image: Any = None) -> Any:
        if image is None:
            raise ValueError("LoadImage input 'image' is linked; its file cannot be hashed early")
        return file_sha256(image_path(ctx.folders, image, "LoadImage"))

    @classmethod
    def validate(cls, ctx: FingerprintContext, image: Any = None) -> str | None:
        return check_image_file(ctx.folders, image, "LoadImage")

    def run(self, ctx: RunContext, image: str) -> tuple[Any, ...]:
        return load_image(image_path(ctx.folders, image, "LoadImage"))


class LoadImageMask(Node):
    """Loads one channel of an image from the input folder as a mask (alpha is inverted:
    transparent is 1)."""

    display_name = "Load Image (as Mask)"
    category = "mask"
    cache = CachePolicy.FINGERPRINT
    inputs = (
        ImageFileCombo("image", choices=InputImageFiles(), image_upload=True,
                       tooltip="An image in the input folder."),
        Combo("channel", choices=MASK_CHANNELS, tooltip="The channel that becomes the mask."),
    )
    outputs = (Output(MASK),)

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, image: Any = None, channel: Any = None) -> Any:
        if image is None:
            raise ValueError("LoadImageMask input 'image' is linked; it cannot be hashed early")
        return file_sha256(image_path(ctx.folders, image, "LoadImageMask"))

    @classmethod
    def validate(cls, ctx: FingerprintContext, image: Any = None,
                 channel: Any = None) -> str | None:
        return check_image_file(ctx.folders, image, "LoadImageMask")

    def run(self, ctx: RunContext, image: str, channel: str) -> tuple[Any, ...]:
        return (load_mask(image_path(ctx.folders, image, "LoadImageMask"), channel),)


def save_images(ctx: RunContext, node: str, images: torch.Tensor, prefix: str,
                folder_type: str, compress_level: int) -> NodeResult:
    """Write each image of ``images`` (B, H, W, C) as a PNG; the UI lists the files."""
    if images.dim() != 4:
        raise ValueError(f"images: expected a (B, H, W, C) batch, got {tuple(images.shape)}")
    root = folder_of(_folders(ctx.folders, node), folder_type)
    height, width = int(images.shape[1]), int(images.shape[2])
    target = save_target(root, substitute(prefix, width, height))
    target.folder.mkdir(parents=True, exist_ok=True)
    info = png_info(ctx.prompt, ctx.extra_pnginfo)
    counter = next_counter(target.folder, target.name)
    results = []
    for batch_number in range(images.shape[0]):
        ctx.check_cancelled()
        data = encode_png(images[batch_number], info, compress_level)  # (H, W, C)
        stem = target.name.replace(BATCH_NUM, str(batch_number))
        filename, counter = write_exclusive(target.folder, stem, counter, ".png", data)
        counter += 1
        results.append({"filename": filename, "subfolder": target.subfolder,
                        "type": folder_type})
    return NodeResult((), {"images": results})


class SaveImage(Node):
    """Saves the images as PNGs in the output folder, with the prompt and workflow embedded."""

    display_name = "Save Image"
    category = "image"
    output_node = True
    hidden = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})
    inputs = (
        Link("images", IMAGE, tooltip="The images to save."),
        FilenamePrefix("filename_prefix", default="ComfyUI",
                       tooltip="The file name prefix; '/' makes subfolders. %width% %height% "
                               "%year% %month% %day% %hour% %minute% %second% %batch_num% are "
                               "replaced."),
    )

    def run(self, ctx: RunContext, images: torch.Tensor, filename_prefix: str) -> NodeResult:
        return save_images(ctx, "SaveImage", images, filename_prefix, "output",
                           SAVE_COMPRESS_LEVEL)


def preview_prefix() -> str:
    """``ComfyUI_temp_`` plus five random letters, as ComfyUI names previews."""
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    return f"ComfyUI_temp_{letters}"


class PreviewImage(Node):
    """Shows the images in the editor; they are saved to the temp folder."""

    # Pure (cached) like SaveImage: the random name part is drawn only when it runs, so
    # resubmitting the same images writes no new file.

    display_name = "Preview Image"
    category = "image"
    output_node = True
    hidden = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})
    inputs = (Link("images", IMAGE, tooltip="The images to preview."),)

    def run(self, ctx: RunContext, images: torch.Tensor) -> NodeResult:
        return save_images(ctx, "PreviewImage", images, preview_prefix(), "temp",
                           PREVIEW_COMPRESS_LEVEL)
