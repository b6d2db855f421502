"""Text encoding nodes: CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner.

As ComfyUI's ``encode_from_tokens_scheduled``, a CLIP with weight hooks (SetClipHooks) encodes
with them applied, once per keyframe range when it schedules them, and may attach them to the
entries it makes (``nodes.hooks.patching.encode_with_hooks``); without hooks there is one entry.
"""

from __future__ import annotations

from typing import Any

from diffusion.guidance.cond import Cond
from nodes.api import CLIP, CONDITIONING, Float, Int, Link, Node, Output, RunContext, String
from nodes.conditioning.encode import encode_text, encode_texts
from nodes.hooks.patching import encode_with_hooks
from nodes.payloads import Clip

MAX_RESOLUTION = 16384


def _prompt(name: str, tooltip: str) -> String:
    return String(name, multiline=True, dynamic_prompts=True, tooltip=tooltip)


def _size(name: str, default: int, tooltip: str) -> Int:
    return Int(name, default=default, min=0, max=MAX_RESOLUTION, tooltip=tooltip)


class CLIPTextEncode(Node):
    """Encodes a text prompt using a CLIP model into an embedding that can be used to guide the
    diffusion model towards generating specific images."""

    display_name = "CLIP Text Encode (Prompt)"
    category = "conditioning"
    inputs = (
        _prompt("text", "The text to be encoded."),
        Link("clip", CLIP, tooltip="The CLIP model used for encoding the text."),
    )
    outputs = (Output(CONDITIONING, tooltip="A conditioning containing the embedded text used "
                                            "to guide the diffusion model."),)

    def run(self, ctx: RunContext, text: str, clip: Clip) -> tuple[Any, ...]:
        def encode(variant: Clip) -> Cond:
            cond, pooled = encode_text(variant, text)
            return Cond(cross_attn=cond, pooled_output=pooled)

        return (encode_with_hooks(clip, encode),)


class CLIPTextEncodeSDXL(Node):
    """Encodes SDXL's two prompts (text_g for OpenCLIP bigG, text_l for CLIP-L) with the size
    and crop micro-conditions."""

    display_name = "CLIPTextEncodeSDXL"
    category = "advanced/conditioning"
    inputs = (
        Link("clip", CLIP, tooltip="An SDXL CLIP (CLIP-L and bigG)."),
        _size("width", 1024, "The original image width the model is told about."),
        _size("height", 1024, "The original image height the model is told about."),
        _size("crop_w", 0, "Left crop offset the model is told about."),
        _size("crop_h", 0, "Top crop offset the model is told about."),
        _size("target_width", 1024, "The target width the model is told about."),
        _size("target_height", 1024, "The target height the model is told about."),
        _prompt("text_g", "The prompt for the OpenCLIP bigG encoder."),
        _prompt("text_l", "The prompt for the CLIP-L encoder."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, clip: Clip, width: int, height: int, crop_w: int,
            crop_h: int, target_width: int, target_height: int, text_g: str,
            text_l: str) -> tuple[Any, ...]:
        def encode(variant: Clip) -> Cond:
            cond, pooled = encode_texts(variant, {"clip_l": text_l, "clip_g": text_g},
                                        "CLIPTextEncodeSDXL input 'clip'")
            return Cond(cross_attn=cond, pooled_output=pooled, width=width, height=height,
                        crop_w=crop_w, crop_h=crop_h, target_width=target_width,
                        target_height=target_height)

        return (encode_with_hooks(clip, encode),)


class CLIPTextEncodeSDXLRefiner(Node):
    """Encodes a prompt for the SDXL refiner with its aesthetic score and size conditions."""

    display_name = "CLIPTextEncodeSDXLRefiner"
    category = "advanced/conditioning"
    inputs = (
        Float("ascore", default=6.0, min=0.0, max=1000.0, step=0.01,
              tooltip="Aesthetic score: higher asks for 'better looking' images."),
        _size("width", 1024, "The image width the model is told about."),
        _size("height", 1024, "The image height the model is told about."),
        _prompt("text", "The text to be encoded."),
        Link("clip", CLIP, tooltip="The refiner's CLIP (OpenCLIP bigG)."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, ascore: float, width: int, height: int, text: str,
            clip: Clip) -> tuple[Any, ...]:
        def encode(variant: Clip) -> Cond:
            cond, pooled = encode_text(variant, text)
            return Cond(cross_attn=cond, pooled_output=pooled, aesthetic_score=ascore,
                        width=width, height=height)

        return (encode_with_hooks(clip, encode),)


TEXT_NODES = [CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner]
