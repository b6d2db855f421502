"""ComfyUI's ``CLIP`` and ``VAE`` objects (``comfy.sd``) over our CLIP and VAE payloads.

They run the engine's own nodes through the node contract (``CLIPTextEncode``, ``VAEDecode``,
``VAEEncode`` and their tiled forms), so a pack's ``clip.encode_from_tokens(...)`` or
``vae.decode(...)`` computes exactly what those nodes do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance import Cond
from diffusion.text.prompt import tokenize_prompt
from nodes.payloads import Clip, Latent, Vae
from nodes.plugins.compat.builtin_calls import run_node

ENCODER_KEYS = {"clip_l": "l", "clip_g": "g", "clip_h": "h"}


class Tokens(dict[str, list[list[tuple[int, float]]]]):
    """``CLIP.tokenize``'s result: ComfyUI's ``{"l": windows, "g": …}`` of (token, weight)
    pairs, remembering the text it came from (encoding re-reads the text, so weights and
    ``embedding:`` names mean exactly what they mean to CLIPTextEncode)."""

    def __init__(self, text: str, windows: dict[str, list[list[tuple[int, float]]]]) -> None:
        super().__init__(windows)
        self.text = text


class CLIP:
    """ComfyUI's CLIP object: ``clone``, ``clip_layer``, ``tokenize``, ``encode_from_tokens``
    (``return_pooled``, ``return_dict``), ``encode_from_tokens_scheduled``, ``encode``."""

    def __init__(self, payload: Clip) -> None:
        self.payload = payload
        self.layer_idx = payload.stop_at_layer
        self.cond_stage_model = None
        self.patcher = None

    def clone(self) -> CLIP:
        return CLIP(self.payload)

    def clip_layer(self, layer_idx: int) -> None:
        self.payload = dataclasses.replace(self.payload, stop_at_layer=layer_idx)
        self.layer_idx = layer_idx

    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> Tokens:
        windows = {}
        for ref in self.payload.encoders:
            rows = tokenize_prompt(text, self.payload.tokenizer, pad=ref.pad)
            windows[ENCODER_KEYS.get(ref.name, ref.name)] = [
                [(t, float(w)) for t, w, *_ in row] for row in rows]
        return Tokens(text, windows)

    def _encode(self, tokens: Any) -> Cond:
        if not isinstance(tokens, Tokens):
            raise TypeError("encode_from_tokens takes what CLIP.tokenize returned; tokens "
                            "built by hand are not supported here")
        values, _ = run_node("CLIPTextEncode", text=tokens.text, clip=self.payload)
        return values[0][0]

    def encode_from_tokens(self, tokens: Any, return_pooled: bool | str = False,
                           return_dict: bool = False) -> Any:
        cond = self._encode(tokens)
        if return_dict:
            return {"cond": cond.cross_attn, "pooled_output": cond.pooled_output}
        if return_pooled:
            return cond.cross_attn, cond.pooled_output
        return cond.cross_attn

    def encode_from_tokens_scheduled(self, tokens: Any, unprojected: bool = False,
                                     add_dict: dict[str, Any] | None = None,
                                     show_pbar: bool = True) -> list[list[Any]]:
        cond = self._encode(tokens)
        extra = {"pooled_output": cond.pooled_output, **(add_dict or {})}
        return [[cond.cross_attn, extra]]

    def encode(self, text: str) -> Tensor:
        return self.encode_from_tokens(self.tokenize(text))

    def add_patches(self, patches: dict[str, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[str]:
        raise NotImplementedError("patching a CLIP's weights from a ComfyUI pack is not "
                                  "supported; use LoraLoader")

    def get_sd(self) -> dict[str, Tensor]:
        raise NotImplementedError("CLIP.get_sd is not available to plugins")


class VAE:
    """ComfyUI's VAE object: ``encode`` (IMAGE (B, H, W, C) -> latents (B, 4, H/8, W/8)),
    ``decode`` (latents -> IMAGE) and their tiled forms."""

    def __init__(self, payload: Vae) -> None:
        self.payload = payload
        self.downscale_ratio = payload.downscale
        self.upscale_ratio = payload.downscale
        self.latent_channels = 4
        self.output_channels = 3
        self.vae_dtype = torch.float32
        self.first_stage_model = None

    def spacial_compression_decode(self) -> int:
        return self.payload.downscale

    def spacial_compression_encode(self) -> int:
        return self.payload.downscale

    def decode(self, samples_in: Tensor, vae_options: Any = None) -> Tensor:
        values, _ = run_node("VAEDecode", samples=Latent(samples_in), vae=self.payload)
        return values[0]

    def decode_tiled(self, samples: Tensor, tile_x: int = 64, tile_y: int = 64,
                     overlap: int = 16, **kwargs: Any) -> Tensor:
        scale = self.payload.downscale
        values, _ = run_node("VAEDecodeTiled", samples=Latent(samples), vae=self.payload,
                             tile_size=max(tile_x, tile_y) * scale, overlap=overlap * scale,
                             temporal_size=64, temporal_overlap=8)
        return values[0]

    def encode(self, pixel_samples: Tensor) -> Tensor:
        values, _ = run_node("VAEEncode", pixels=pixel_samples, vae=self.payload)
        return values[0].samples

    def encode_tiled(self, pixel_samples: Tensor, tile_x: int = 512, tile_y: int = 512,
                     overlap: int = 64, **kwargs: Any) -> Tensor:
        values, _ = run_node("VAEEncodeTiled", pixels=pixel_samples, vae=self.payload,
                             tile_size=max(tile_x, tile_y), overlap=overlap,
                             temporal_size=64, temporal_overlap=8)
        return values[0].samples
