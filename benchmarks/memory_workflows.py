"""Workflows for ``txt2img.py --memory``: SDXL base → refiner, and one SD1.5 job per file.

``refiner_workflow`` is ComfyUI's usual hand-over: the base samples the first ``switch`` of
``steps`` with KSamplerAdvanced (leftover noise returned), the refiner (its own CLIP, the
refiner's micro-conditions through CLIPTextEncodeSDXLRefiner) samples the rest without adding
noise, and the base's VAE decodes (the refiner's is the same network). The output node is "8".
"""

from __future__ import annotations

from typing import Any

NEGATIVE = "blurry, low quality"


def _sdxl_encode(text: str, clip: list[Any], size: int) -> dict[str, Any]:
    return {"class_type": "CLIPTextEncodeSDXL", "inputs": {
        "clip": clip, "width": size, "height": size, "crop_w": 0, "crop_h": 0,
        "target_width": size, "target_height": size, "text_g": text, "text_l": text}}


def _refiner_encode(text: str, clip: list[Any], size: int, score: float) -> dict[str, Any]:
    return {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
        "ascore": score, "width": size, "height": size, "text": text, "clip": clip}}


def _advanced(model: list[Any], positive: str, negative: str, latent: list[Any], seed: int,
              steps: int, start: int, end: int, first: bool) -> dict[str, Any]:
    return {"class_type": "KSamplerAdvanced", "inputs": {
        "model": model, "add_noise": "enable" if first else "disable", "noise_seed": seed,
        "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": [positive, 0], "negative": [negative, 0], "latent_image": latent,
        "start_at_step": start, "end_at_step": end,
        "return_with_leftover_noise": "enable" if first else "disable"}}


def refiner_workflow(text: str, seed: int, size: int, steps: int, switch: int,
                     base: str = "sdxl.safetensors",
                     refiner: str = "sdxl-refiner.safetensors") -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": base}},
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": refiner}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": _sdxl_encode(text, ["4", 1], size), "7": _sdxl_encode(NEGATIVE, ["4", 1], size),
        "11": _refiner_encode(text, ["10", 1], size, 6.0),
        "12": _refiner_encode(NEGATIVE, ["10", 1], size, 2.5),
        "3": _advanced(["4", 0], "6", "7", ["5", 0], seed, steps, 0, switch, True),
        "13": _advanced(["10", 0], "11", "12", ["3", 0], seed, steps, switch, 10000, False),
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["4", 2]}},
    }


__all__ = ["NEGATIVE", "refiner_workflow"]
