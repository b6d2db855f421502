"""ComfyUI's ``latent_preview``: the sampling callback that reports progress with a preview
(``prepare_callback``), and a previewer of model-space latents (``get_previewer``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from diffusion.previews import LATENT_RGB, preview_image
from nodes.plugins.runtime import active

MAX_PREVIEW_RESOLUTION = 512


class LatentPreviewer:
    """A cheap latent -> RGB projection of a model family's latents."""

    def __init__(self, family: str) -> None:
        self.family = family

    def decode_latent_to_preview_image(self, preview_format: str, x0: Tensor) -> tuple[Any, ...]:
        return (preview_format, preview_image(x0, self.family), MAX_PREVIEW_RESOLUTION)


def _family(model: Any) -> str | None:
    payload = getattr(model, "payload", model)
    family = getattr(payload, "family", None)
    return family if family in LATENT_RGB else None


def get_previewer(device: Any, latent_format: Any) -> LatentPreviewer | None:
    family = getattr(latent_format, "family", None)
    return LatentPreviewer(family) if family in LATENT_RGB else None


def prepare_callback(model: Any, steps: int, x0_output_dict: dict[str, Any] | None = None
                     ) -> Callable[[int, Tensor, Tensor, int], None]:
    """``callback(step, x0, x, total_steps)``: progress (and a preview) of the running node;
    ``x0_output_dict["x0"]`` keeps the latest prediction."""
    node = active()
    family = _family(model)

    def callback(step: int, x0: Tensor, x: Tensor, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        if node is not None:
            preview = None if family is None else ("JPEG", preview_image(x0, family),
                                                   MAX_PREVIEW_RESOLUTION)
            node.ctx.progress(step + 1, total_steps, preview)

    return callback


def set_preview_method(override: Any) -> None:
    """Previews follow the server's settings."""
