"""ComfyUI's ``comfy.utils`` for node packs: progress bars, resizing, safe file loading, tiles.

``ProgressBar`` reports to the running job (progress events, previews, and cancellation: an
update after the job was cancelled raises ``NodeInterrupted``). ``load_torch_file`` only loads
safely: safetensors, or pickles restricted to tensors (``torch.load(weights_only=True)``) —
whatever the pack asks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nodes.api import ClientImage
from nodes.images.resize import lanczos as _lanczos
from nodes.images.resize import upscale as _upscale
from nodes.latents.resample import bislerp as _bislerp
from nodes.plugins.runtime import ActiveNode, active

logger = logging.getLogger(__name__)
PROGRESS_BAR_ENABLED = True
_PROGRESS_HOOK: Callable[..., Any] | None = None


def set_progress_bar_enabled(enabled: bool) -> None:
    global PROGRESS_BAR_ENABLED
    PROGRESS_BAR_ENABLED = enabled


def set_progress_bar_global_hook(function: Callable[..., Any] | None) -> None:
    """Kept for packs that install a hook; progress goes to the running job regardless."""
    global _PROGRESS_HOOK
    _PROGRESS_HOOK = function


def client_image(preview: Any) -> Any:
    """A ``("PNG", PIL image, None)`` preview — no size limit: a full-size image for the
    client, as ComfyUI's bundled ``SaveImageWebsocket`` sends — as a ``ClientImage`` (always
    sent, never resized); other previews as they are (sent only when the job asked for
    previews)."""
    if (isinstance(preview, tuple) and len(preview) == 3 and preview[2] is None
            and str(preview[0]).upper() == "PNG" and hasattr(preview[1], "save")):
        return ClientImage(preview[1])
    return preview


class ProgressBar:
    """Progress of the running node: ``update(n)`` adds, ``update_absolute(value, total,
    preview)`` sets (preview: ComfyUI's ``("JPEG" | "PNG", PIL image, max size)``)."""

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total = total
        self.current = 0
        self.node_id = node_id
        self._node: ActiveNode | None = active()

    def update_absolute(self, value: float, total: float | None = None,
                        preview: Any = None) -> None:
        if total is not None:
            self.total = total
        self.current = min(value, self.total) if self.total else value
        if self._node is not None:
            self._node.ctx.progress(self.current, self.total, client_image(preview))

    def update(self, value: float) -> None:
        self.update_absolute(self.current + value)


def common_upscale(samples: Tensor, width: int, height: int, upscale_method: str,
                   crop: str) -> Tensor:
    """Resize (B, C, H, W) to (B, C, height, width) with ComfyUI's methods (nearest-exact,
    bilinear, area, bicubic, lanczos, bislerp) and crop (disabled, center)."""
    if upscale_method == "bislerp":
        from nodes.latents.resample import upscale_latent

        return upscale_latent(samples, width, height, "bislerp", crop)
    return _upscale(samples, width, height, upscale_method, crop)


def lanczos(samples: Tensor, width: int, height: int) -> Tensor:
    return _lanczos(samples, width, height)


def bislerp(samples: Tensor, width: int, height: int) -> Tensor:
    return _bislerp(samples, width, height)


def load_torch_file(ckpt: str | Path, safe_load: bool = False, device: Any = None,
                    return_metadata: bool = False) -> Any:
    """A state dict from a ``.safetensors`` file, or from a pickle loaded with
    ``weights_only=True`` (never arbitrary code, whatever ``safe_load`` says)."""
    path = Path(ckpt)
    device = torch.device("cpu") if device is None else device
    metadata = None
    if path.suffix.lower() in (".safetensors", ".sft"):
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata()
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    else:
        loaded = torch.load(path, map_location=device, weights_only=True)
        state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    return (state, metadata) if return_metadata else state


def calculate_parameters(sd: Mapping[str, Tensor], prefix: str = "") -> int:
    return sum(v.nelement() for k, v in sd.items() if k.startswith(prefix))


def state_dict_prefix_replace(state_dict: dict[str, Any], replace_prefix: Mapping[str, str],
                              filter_keys: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            out[new + key[len(old):]] = state_dict.pop(key)
    return out


def repeat_to_batch_size(tensor: Tensor, batch_size: int, dim: int = 0) -> Tensor:
    size = tensor.shape[dim]
    if size > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if size < batch_size:
        repeats = [1] * tensor.ndim
        repeats[dim] = math.ceil(batch_size / size)
        return tensor.repeat(*repeats).narrow(dim, 0, batch_size)
    return tensor


def resize_to_batch_size(tensor: Tensor, batch_size: int) -> Tensor:
    size = tensor.shape[0]
    if size == batch_size:
        return tensor
    index = torch.linspace(0, size - 1, batch_size).round().long()  # (batch_size,)
    return tensor[index]


def get_attr(obj: Any, attr: str) -> Any:
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def set_attr(obj: Any, attr: str, value: Any) -> Any:
    names = attr.split(".")
    for name in names[:-1]:
        obj = getattr(obj, name)
    previous = getattr(obj, names[-1])
    setattr(obj, names[-1], value)
    return previous


def _feather(height: int, width: int, feather_y: int, feather_x: int) -> Tensor:
    """A (1, 1, h, w) weight ramping up over the feather band at each border."""
    mask = torch.ones((1, 1, height, width))
    for i in range(feather_y):
        weight = (i + 1) / (feather_y + 1)
        mask[:, :, i, :] *= weight
        mask[:, :, height - 1 - i, :] *= weight
    for i in range(feather_x):
        weight = (i + 1) / (feather_x + 1)
        mask[:, :, :, i] *= weight
        mask[:, :, :, width - 1 - i] *= weight
    return mask


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    return [*starts, size - tile]


def tiled_scale(samples: Tensor, function: Callable[[Tensor], Tensor], tile_x: int = 64,
                tile_y: int = 64, overlap: int = 8, upscale_amount: float = 4,
                out_channels: int = 3, output_device: Any = "cpu", pbar: Any = None) -> Tensor:
    """``function`` applied tile by tile to (B, C, H, W), each tile's result blended in with
    feathered borders; the result is (B, out_channels, H * amount, W * amount)."""
    batch, _, height, width = samples.shape
    out_h, out_w = round(height * upscale_amount), round(width * upscale_amount)
    result = torch.zeros((batch, out_channels, out_h, out_w), device=output_device)
    for b in range(batch):
        acc = torch.zeros((1, out_channels, out_h, out_w), device=output_device)
        weight = torch.zeros_like(acc)
        for y in _starts(height, tile_y, overlap):
            for x in _starts(width, tile_x, overlap):
                tile = samples[b:b + 1, :, y:y + tile_y, x:x + tile_x]  # (1, C, th, tw)
                scaled = function(tile).to(output_device)  # (1, out, th*a, tw*a)
                oy, ox = round(y * upscale_amount), round(x * upscale_amount)
                th, tw = scaled.shape[-2], scaled.shape[-1]
                feather = round(overlap * upscale_amount)
                mask = _feather(th, tw, min(feather, th // 2), min(feather, tw // 2))
                mask = mask.to(output_device)
                acc[:, :, oy:oy + th, ox:ox + tw] += scaled * mask
                weight[:, :, oy:oy + th, ox:ox + tw] += mask
                if pbar is not None:
                    pbar.update(1)
        result[b:b + 1] = acc / weight.clamp_min(1e-8)
    return result


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int,
                          overlap: int) -> int:
    return len(_starts(height, tile_y, overlap)) * len(_starts(width, tile_x, overlap))
