"""Pasting, padding and channel alignment of image batches, with ComfyUI's arithmetic.

Pure functions; none modifies its arguments.
"""

from __future__ import annotations

import torch

from nodes.images.resize import repeat_to_batch


def match_channels(destination: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``source`` (…, C) with the channel count of ``destination``: extra channels dropped,
    a missing alpha channel added as 1."""
    want, have = destination.shape[-1], source.shape[-1]
    if have > want:
        return source[..., :want]
    if have < want:
        ones = torch.ones((*source.shape[:-1], want - have), dtype=source.dtype,
                          device=source.device)
        return torch.cat((source, ones), dim=-1)
    return source


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
              mask: torch.Tensor | None = None, resize_source: bool = False) -> torch.Tensor:
    """Paste ``source`` (B, C, h, w) onto a copy of ``destination`` (B, C, H, W) at (x, y).

    ``mask`` (any of (h, w), (B, h, w), (B, 1, h, w)) weighs source against destination; it is
    resized bilinearly to the source. The source batch is repeated to the destination's;
    parts outside the destination are dropped.
    """
    out = destination.clone()
    source = source.to(out.device, out.dtype)
    if resize_source:
        source = torch.nn.functional.interpolate(source, size=out.shape[-2:], mode="bilinear")
    source = repeat_to_batch(source, out.shape[0])  # (B, C, h, w)
    height, width = out.shape[-2:]
    x = max(-source.shape[-1], min(x, width))
    y = max(-source.shape[-2], min(y, height))
    if mask is None:
        weight = torch.ones_like(source)
    else:
        weight = mask.to(out.device, out.dtype).reshape((-1, 1, *mask.shape[-2:]))
        weight = torch.nn.functional.interpolate(weight, size=source.shape[-2:], mode="bilinear")
        weight = repeat_to_batch(weight, source.shape[0])  # (B, 1, h, w)
    # Visible part of the source: cut where it leaves the destination on the right/bottom.
    src_x0, src_y0 = max(0, -x), max(0, -y)
    dst_x0, dst_y0 = max(0, x), max(0, y)
    visible_w = min(source.shape[-1] - src_x0, width - dst_x0)
    visible_h = min(source.shape[-2] - src_y0, height - dst_y0)
    if visible_w <= 0 or visible_h <= 0:
        return out
    src = source[..., src_y0:src_y0 + visible_h, src_x0:src_x0 + visible_w]
    w = weight[..., src_y0:src_y0 + visible_h, src_x0:src_x0 + visible_w]
    region = out[..., dst_y0:dst_y0 + visible_h, dst_x0:dst_x0 + visible_w]
    out[..., dst_y0:dst_y0 + visible_h, dst_x0:dst_x0 + visible_w] = w * src + (1 - w) * region
    return out


def outpaint_mask(height: int, width: int, left: int, top: int, right: int, bottom: int,
                  feathering: int) -> torch.Tensor:
    """ImagePadForOutpaint's mask (H + top + bottom, W + left + right): 1 in the new border,
    and inside, near padded edges, ((feathering − d) / feathering)² where d is the distance to
    the nearest padded edge (the last row/column counts 1 from the bottom/right edge)."""
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    inner = torch.zeros((height, width), dtype=torch.float32)  # (H, W)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        # float64 like ComfyUI's Python arithmetic, stored as float32
        rows = torch.arange(height, dtype=torch.float64)[:, None]  # (H, 1)
        cols = torch.arange(width, dtype=torch.float64)[None, :]  # (1, W)
        far_h = torch.tensor(float(height), dtype=torch.float64)
        far_w = torch.tensor(float(width), dtype=torch.float64)
        d_top = rows if top else far_h
        d_bottom = height - rows if bottom else far_h
        d_left = cols if left else far_w
        d_right = width - cols if right else far_w
        distance = torch.minimum(torch.minimum(d_top, d_bottom), torch.minimum(d_left, d_right))
        distance = distance.expand(height, width)  # (H, W)
        ramp = (feathering - distance) / feathering
        inner = torch.where(distance < feathering, ramp * ramp, 0.0).to(torch.float32)
    mask[top:top + height, left:left + width] = inner
    return mask


def pad_for_outpaint(image: torch.Tensor, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The image (B, H, W, C) padded with 0.5 grey, and its outpaint mask (1, H', W')."""
    batch, height, width, channels = image.shape
    padded = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5,
                        dtype=torch.float32, device=image.device)  # (B, H', W', C)
    padded[:, top:top + height, left:left + width, :] = image
    mask = outpaint_mask(height, width, left, top, right, bottom, feathering)
    return padded, mask[None]  # (1, H', W')
