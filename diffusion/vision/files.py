"""Opening CLIP vision towers: standalone files and the tower inside an SD2.1 unCLIP checkpoint.

Accepted layouts (the ones ComfyUI's ``clip_vision.load`` reads):

* transformers ``CLIPVisionModelWithProjection`` keys (``vision_model.…``,
  ``visual_projection.weight``; an old ``…embeddings.position_ids`` buffer is ignored);
* OpenAI / OpenCLIP ``visual.…`` keys (``visual.transformer.resblocks.N.attn.in_proj_weight``);
* inside a checkpoint, OpenCLIP keys under ``embedder.model.visual.`` (SD2.1 unCLIP H and L).

Every layout opens as a ``ModuleFile`` whose keys are the transformers names under
``clip_vision.``; a file missing keys of the detected tower is refused with the keys named.
"""

from __future__ import annotations

import dataclasses
import logging

from diffusion.loading.checkpoint import OpenedCheckpoint
from diffusion.loading.files import TensorSource
from diffusion.loading.module_file import ModuleFile, module_file, prefixed_source, reader
from diffusion.vision.config import VisionConfig, detect_vision
from diffusion.vision.keys import OPEN_CLIP_VISUAL_MARKER, open_clip_visual
from diffusion.vision.model import CLIPVisionModel

logger = logging.getLogger(__name__)

VISION_COMPONENT = "clip_vision"
VISION_PREFIX = "clip_vision."
UNCLIP_VISION_PREFIX = "embedder.model.visual."
_TRANSFORMERS_MARKER = "vision_model.embeddings.patch_embedding.weight"

VisionFile = ModuleFile[VisionConfig]


def _vision(source: TensorSource) -> VisionFile:
    config = detect_vision(source.shapes, VISION_PREFIX)

    def build() -> CLIPVisionModel:
        return CLIPVisionModel(config)

    return module_file(VISION_COMPONENT, VISION_PREFIX, source, build, config)


def open_vision_file(file: TensorSource) -> VisionFile | None:
    """The tower of a standalone file, or None when it holds none (other models)."""
    keys = file.shapes
    if _TRANSFORMERS_MARKER in keys:
        return _vision(prefixed_source(file, VISION_PREFIX))
    if "visual." + OPEN_CLIP_VISUAL_MARKER in keys:
        return _vision(open_clip_visual(file.path, keys, reader(file), "visual.", VISION_PREFIX))
    return None


def embedded_vision(source: TensorSource) -> VisionFile | None:
    """The tower of an SD2.1 unCLIP checkpoint (``embedder.model.visual.``), or None."""
    if UNCLIP_VISION_PREFIX + OPEN_CLIP_VISUAL_MARKER not in source.shapes:
        return None
    mapped = open_clip_visual(source.path, source.shapes, reader(source), UNCLIP_VISION_PREFIX,
                              VISION_PREFIX)
    return _vision(mapped)


def with_embedded_vision(opened: OpenedCheckpoint) -> OpenedCheckpoint:
    """``opened`` with its embedded CLIP vision tower as component ``clip_vision`` (if any)."""
    vision = embedded_vision(opened.source)
    if vision is None:
        return opened
    logger.info("%s: CLIP vision tower (width %d, %d layers) inside the checkpoint",
                opened.source.path, vision.config.width, vision.config.layers)
    return dataclasses.replace(opened, extras={**opened.extras, VISION_COMPONENT: vision})
