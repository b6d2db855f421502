"""Decoding image files into IMAGE and MASK tensors (LoadImage, LoadImageMask).

Per frame, as ComfyUI: EXIF orientation applied, RGB floats in [0, 1], mask = 1 − alpha (alpha
from an alpha band or a palette's transparency), else a 64×64 mask of zeros. Frames whose size
differs from the first are skipped; MPO files (a JPEG plus depth/preview frames) give their first
frame only.

16-bit and 32-bit integer grey (Pillow modes ``I;16*`` and ``I``) are scaled by 1/65535 at full
float precision. (ComfyUI divides ``I`` by 255 before an 8-bit conversion, and current Pillow
opens 16-bit PNGs as ``I;16``, which ComfyUI's 8-bit conversion clips to white.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence

logger = logging.getLogger(__name__)

MASK_CHANNELS: tuple[str, ...] = ("alpha", "red", "green", "blue")
_WIDE_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_SINGLE_FRAME_FORMATS = frozenset({"MPO"})


@dataclass(frozen=True)
class Frame:
    """One decoded frame: (H, W, 3) RGB and (H, W) alpha (``None`` without alpha)."""

    rgb: np.ndarray
    alpha: np.ndarray | None


def _wide_grey(frame: Image.Image) -> np.ndarray:
    values = np.asarray(frame).astype(np.float32) / 65535.0  # (H, W)
    return np.clip(values, 0.0, 1.0)


def decode_frame(frame: Image.Image) -> Frame:
    """RGB and alpha of one (already transposed) frame, floats in [0, 1]."""
    if frame.mode in _WIDE_GREY:
        grey = _wide_grey(frame)
        return Frame(np.repeat(grey[:, :, None], 3, axis=2), None)  # (H, W, 3)
    rgb = np.asarray(frame.convert("RGB")).astype(np.float32) / 255.0  # (H, W, 3)
    alpha: np.ndarray | None = None
    if "A" in frame.getbands():
        alpha = np.asarray(frame.getchannel("A")).astype(np.float32) / 255.0  # (H, W)
    elif frame.mode == "P" and "transparency" in frame.info:
        alpha = np.asarray(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0
    return Frame(rgb, alpha)


def read_frames(path: Path) -> list[Frame]:
    """Every usable frame of the file at ``path`` (see the module docstring)."""
    frames: list[Frame] = []
    with Image.open(path) as img:
        size: tuple[int, int] | None = None
        for index, raw in enumerate(ImageSequence.Iterator(img)):
            frame = ImageOps.exif_transpose(raw)
            if size is None:
                size = frame.size
            elif frame.size != size:
                logger.info("%s: frame %d is %s, not %s; skipped", path.name, index,
                            frame.size, size)
                continue
            frames.append(decode_frame(frame))
            if img.format in _SINGLE_FRAME_FORMATS:
                break
    if not frames:
        raise ValueError(f"image file {path.name!r} has no frames")
    return frames


def frames_to_tensors(frames: list[Frame]) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE (B, H, W, 3) and MASK (B, H, W), or (B, 64, 64) zeros when no frame has alpha."""
    images = torch.from_numpy(np.stack([f.rgb for f in frames]))  # (B, H, W, 3)
    if all(f.alpha is None for f in frames):
        return images, torch.zeros((len(frames), 64, 64), dtype=torch.float32)  # (B, 64, 64)
    height, width = frames[0].rgb.shape[:2]
    alphas = [f.alpha if f.alpha is not None else np.ones((height, width), np.float32)
              for f in frames]
    masks = 1.0 - torch.from_numpy(np.stack(alphas))  # (B, H, W)
    return images, masks


def load_image(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """LoadImage: (IMAGE, MASK) of every same-sized frame of the file."""
    return frames_to_tensors(read_frames(path))


def load_mask(path: Path, channel: str) -> torch.Tensor:
    """LoadImageMask: one channel of the first frame as a (1, H, W) mask; alpha is inverted.

    An image without alpha has alpha 1 everywhere, so its alpha mask is all zeros.
    """
    if channel not in MASK_CHANNELS:
        raise ValueError(f"channel {channel!r} is unknown; choose one of {MASK_CHANNELS}")
    with Image.open(path) as img:
        frame = decode_frame(ImageOps.exif_transpose(img))
    if channel == "alpha":
        alpha = frame.alpha if frame.alpha is not None else np.ones(frame.rgb.shape[:2],
                                                                     np.float32)
        return (1.0 - torch.from_numpy(alpha))[None]  # (1, H, W)
    band = MASK_CHANNELS.index(channel) - 1
    return torch.from_numpy(np.ascontiguousarray(frame.rgb[:, :, band]))[None]  # (1, H, W)
