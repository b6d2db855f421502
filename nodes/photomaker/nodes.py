"""PhotoMakerLoader and PhotoMakerEncode (ComfyUI's ``comfy_extras/nodes_photomaker.py``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.photomaker import (
    PhotoMakerError,
    PhotoMakerIDEncoder,
    class_token_mask,
    encode_without_word,
    load_photomaker,
    trigger_index,
)
from diffusion.vision import clip_preprocess
from nodes.api import CLIP, CONDITIONING, IMAGE, PHOTOMAKER, Link, Node, Output, RunContext, String
from nodes.conditioning.encode import prompt_encoders
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import Clip

CATEGORY = "_for_testing/photomaker"


class PhotoMakerLoader(ModelPickerNode):
    """Loads a PhotoMaker (v1) ID encoder from the photomaker folder (photomaker-v1.bin's
    id_encoder; its LoRA is not applied: load it with a LoRA loader)."""

    category = CATEGORY
    experimental = True
    pickers = {"photomaker_model_name": "photomaker"}
    inputs = (model_picker("photomaker_model_name", "photomaker",
                           "The PhotoMaker file, e.g. photomaker-v1.bin."),)
    outputs = (Output(PHOTOMAKER),)

    def run(self, ctx: RunContext, photomaker_model_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "photomaker_model_name", photomaker_model_name)
        try:
            encoder = load_photomaker(path)
        except PhotoMakerError as exc:
            raise ValueError(f"PhotoMakerLoader input 'photomaker_model_name': {exc}") from exc
        return (encoder,)


class PhotoMakerEncode(Node):
    """Encodes the text with SDXL's CLIP and fuses the ID of the first image into the token
    before the trigger word "photomaker" (ComfyUI's rules: see diffusion.photomaker.prompt);
    without the trigger word it is plain text encoding."""

    category = CATEGORY
    experimental = True
    inputs = (
        Link("photomaker", PHOTOMAKER, tooltip="The ID encoder from PhotoMakerLoader."),
        Link("image", IMAGE, tooltip="The ID image(s); the first one is fused."),
        Link("clip", CLIP, tooltip="SDXL's CLIP (CLIP-L and OpenCLIP bigG)."),
        String("text", default="photograph of photomaker", multiline=True,
               dynamic_prompts=True, tooltip="The prompt, with the trigger word 'photomaker' "
                                             "after the class word."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, photomaker: PhotoMakerIDEncoder, image: Tensor, clip: Clip,
            text: str) -> tuple[Any, ...]:
        if not isinstance(photomaker, PhotoMakerIDEncoder):
            raise TypeError(f"PhotoMakerEncode input 'photomaker': expected a PhotoMaker ID "
                            f"encoder, got {type(photomaker).__name__}")
        index = trigger_index(text)
        with prompt_encoders(clip) as encoders:
            encoded = encode_without_word(text, encoders, clip.tokenizer, index,
                                          list(clip.embedding_folders))
        cond, pooled = encoded.cond.cpu(), encoded.pooled.cpu()
        if index > 0:
            cond = fuse_id(ctx, photomaker, image, cond, index)
        return ((Cond(cross_attn=cond, pooled_output=pooled),),)


def fuse_id(ctx: RunContext, encoder: PhotoMakerIDEncoder, image: Tensor, cond: Tensor,
            index: int) -> Tensor:
    """``cond`` (1, 77, 2048) with the ID of ``image``'s first picture fused into token
    ``index - 1``; run on the compute device in float32 (ComfyUI casts the encoder's weights to
    its float32 inputs)."""
    width = encoder.config.id_width
    if cond.shape[-1] != width:
        raise ValueError(f"PhotoMakerEncode input 'clip': PhotoMaker fuses {width}-wide text "
                         f"embeddings (SDXL's CLIP-L + bigG); this CLIP gives {cond.shape[-1]}")
    if cond.shape[1] != class_token_mask(index).shape[0]:
        raise ValueError(f"PhotoMakerEncode input 'text': the prompt takes {cond.shape[1]} "
                         "tokens; PhotoMaker fuses into a single 77-token window")
    if image.ndim != 4 or image.shape[0] < 1:
        raise ValueError(f"PhotoMakerEncode input 'image': expected (B, H, W, C), got "
                         f"{tuple(image.shape)}")
    device = torch.device(ctx.models.device)
    placed = encoder.placed(device, torch.float32)
    pixels = clip_preprocess(image[:1].to(device), encoder.config.vision.image_size)
    with torch.no_grad():
        fused = placed(pixels, cond.to(device), class_token_mask(index).to(device))
    return fused.cpu()  # (1, 77, 2048)


PHOTOMAKER_NODES: list[type[Node]] = [PhotoMakerLoader, PhotoMakerEncode]
PHOTOMAKER_MODULE = "comfy_extras.nodes_photomaker"
