"""ComfyUI's top-level ``nodes`` module, as names on our own ``nodes`` package.

A pack's ``import nodes`` gets our package (it is the one in ``sys.modules``; absolute imports
make that so even inside a pack file named ``nodes.py``), where the host adds:
``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` (every registered node — built-in ones
as V1 views, plugin ones as their own classes), ``MAX_RESOLUTION``, ``common_ksampler``,
``before_node_execution``, ``interrupt_processing`` and the built-in classes by name
(``nodes.KSampler``, ``nodes.SaveImage`` …, added by ``builtin_views.expose_builtins``).
"""

from __future__ import annotations

from typing import Any

MAX_RESOLUTION = 16384


def before_node_execution() -> None:
    from nodes.plugins.compat.comfy.model_management import (
        throw_exception_if_processing_interrupted,
    )

    throw_exception_if_processing_interrupted()


def interrupt_processing(value: bool = True) -> None:
    """A node cannot interrupt its own job here; ``POST /interrupt`` does."""


def common_ksampler(model: Any, seed: int, steps: int, cfg: float, sampler_name: str,
                    scheduler: str, positive: Any, negative: Any, latent: dict[str, Any],
                    denoise: float = 1.0, disable_noise: bool = False,
                    start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False) -> tuple[dict[str, Any]]:
    """ComfyUI's ``nodes.common_ksampler``: KSampler(Advanced)'s sampling of a LATENT dict."""
    from nodes.plugins.compat.comfy.sample import ksampler_latent

    return (ksampler_latent(model, seed, steps, cfg, sampler_name, scheduler, positive,
                            negative, latent, denoise, disable_noise, start_step, last_step,
                            force_full_denoise),)


def exported(host: Any) -> dict[str, Any]:
    return {"NODE_CLASS_MAPPINGS": host.class_mappings,
            "NODE_DISPLAY_NAME_MAPPINGS": host.display_names, "MAX_RESOLUTION": MAX_RESOLUTION,
            "common_ksampler": common_ksampler, "before_node_execution": before_node_execution,
            "interrupt_processing": interrupt_processing, "EXTENSION_WEB_DIRS": {},
            "LOADED_MODULE_DIRS": {}}
