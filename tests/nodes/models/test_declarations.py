"""The model, conditioning, latent and VAE nodes are declared as ComfyUI declares them
(names, display names, categories, input order, outputs, python_module, widget options), are in
the built-in pack, and never modify their inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from diffusion.guidance.cond import Cond
from nodes.api import Registry
from nodes.builtin import BUILTIN_NODES, register_builtin_nodes
from nodes.conditioning import CONDITIONING_NODES
from nodes.latents import LATENT_NODES
from nodes.models import MERGING_NODES, MODEL_NODES
from nodes.payloads import Latent
from nodes.vae import VAE_NODES
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, loader

M = 16384
C, L = "comfy_extras.nodes_clip_sdxl", "comfy_extras.nodes_model_advanced"
SDXL_INPUTS = ["clip", "width", "height", "crop_w", "crop_h", "target_width", "target_height",
               "text_g", "text_l"]
TILED = ["tile_size", "overlap", "temporal_size", "temporal_overlap"]
COND, LAT = ["CONDITIONING"], ["LATENT"]

# class: (display name, category, required inputs, optional inputs, outputs, python_module)
DECLARED: dict[str, tuple[str, str, list[str], list[str], list[str], str]] = {
    "CheckpointLoaderSimple": ("Load Checkpoint", "loaders", ["ckpt_name"], [],
                               ["MODEL", "CLIP", "VAE"], "nodes"),
    "VAELoader": ("Load VAE", "loaders", ["vae_name"], [], ["VAE"], "nodes"),
    "UNETLoader": ("Load Diffusion Model", "advanced/loaders", ["unet_name", "weight_dtype"],
                   [], ["MODEL"], "nodes"),
    "CLIPLoader": ("Load CLIP", "advanced/loaders", ["clip_name", "type"], ["device"], ["CLIP"],
                   "nodes"),
    "DualCLIPLoader": ("DualCLIPLoader", "advanced/loaders", ["clip_name1", "clip_name2", "type"],
                       ["device"], ["CLIP"], "nodes"),
    "CLIPSetLastLayer": ("CLIP Set Last Layer", "conditioning", ["clip", "stop_at_clip_layer"],
                         [], ["CLIP"], "nodes"),
    "ModelSamplingDiscrete": ("ModelSamplingDiscrete", "advanced/model",
                              ["model", "sampling", "zsnr"], [], ["MODEL"], L),
    "LoraLoader": ("Load LoRA", "loaders",
                   ["model", "clip", "lora_name", "strength_model", "strength_clip"], [],
                   ["MODEL", "CLIP"], "nodes"),
    "LoraLoaderModelOnly": ("LoraLoaderModelOnly", "loaders",
                            ["model", "lora_name", "strength_model"], [], ["MODEL"], "nodes"),
    "HypernetworkLoader": ("HypernetworkLoader", "loaders",
                           ["model", "hypernetwork_name", "strength"], [], ["MODEL"],
                           "comfy_extras.nodes_hypernetwork"),
    "UpscaleModelLoader": ("Load Upscale Model", "loaders", ["model_name"], [],
                           ["UPSCALE_MODEL"], "comfy_extras.nodes_upscale_model"),
    "ImageUpscaleWithModel": ("Upscale Image (using Model)", "image/upscaling",
                              ["upscale_model", "image"], [], ["IMAGE"],
                              "comfy_extras.nodes_upscale_model"),
    "CLIPTextEncode": ("CLIP Text Encode (Prompt)", "conditioning", ["text", "clip"], [], COND,
                       "nodes"),
    "CLIPTextEncodeSDXL": ("CLIPTextEncodeSDXL", "advanced/conditioning", SDXL_INPUTS, [], COND,
                           C),
    "CLIPTextEncodeSDXLRefiner": ("CLIPTextEncodeSDXLRefiner", "advanced/conditioning",
                                  ["ascore", "width", "height", "text", "clip"], [], COND, C),
    "ConditioningCombine": ("Conditioning (Combine)", "conditioning",
                            ["conditioning_1", "conditioning_2"], [], COND, "nodes"),
    "ConditioningAverage": ("ConditioningAverage", "conditioning",
                            ["conditioning_to", "conditioning_from", "conditioning_to_strength"],
                            [], COND, "nodes"),
    "ConditioningConcat": ("Conditioning (Concat)", "conditioning",
                           ["conditioning_to", "conditioning_from"], [], COND, "nodes"),
    "ConditioningSetArea": ("Conditioning (Set Area)", "conditioning",
                            ["conditioning", "width", "height", "x", "y", "strength"], [], COND,
                            "nodes"),
    "ConditioningSetAreaPercentage": ("Conditioning (Set Area with Percentage)", "conditioning",
                                      ["conditioning", "width", "height", "x", "y", "strength"],
                                      [], COND, "nodes"),
    "ConditioningSetMask": ("Conditioning (Set Mask)", "conditioning",
                            ["conditioning", "mask", "strength", "set_cond_area"], [], COND,
                            "nodes"),
    "ConditioningZeroOut": ("ConditioningZeroOut", "advanced/conditioning", ["conditioning"],
                            [], COND, "nodes"),
    "ConditioningSetTimestepRange": ("ConditioningSetTimestepRange", "advanced/conditioning",
                                     ["conditioning", "start", "end"], [], COND, "nodes"),
    "EmptyLatentImage": ("Empty Latent Image", "latent", ["width", "height", "batch_size"], [],
                         LAT, "nodes"),
    "LatentUpscale": ("Upscale Latent", "latent",
                      ["samples", "upscale_method", "width", "height", "crop"], [], LAT, "nodes"),
    "LatentUpscaleBy": ("Upscale Latent By", "latent", ["samples", "upscale_method", "scale_by"],
                        [], LAT, "nodes"),
    "LatentComposite": ("Latent Composite", "latent",
                        ["samples_to", "samples_from", "x", "y", "feather"], [], LAT, "nodes"),
    "LatentFromBatch": ("Latent From Batch", "latent/batch", ["samples", "batch_index", "length"],
                        [], LAT, "nodes"),
    "RepeatLatentBatch": ("Repeat Latent Batch", "latent/batch", ["samples", "amount"], [], LAT,
                          "nodes"),
    "SetLatentNoiseMask": ("Set Latent Noise Mask", "latent/inpaint", ["samples", "mask"], [],
                           LAT, "nodes"),
    "VAEDecode": ("VAE Decode", "latent", ["samples", "vae"], [], ["IMAGE"], "nodes"),
    "VAEEncode": ("VAE Encode", "latent", ["pixels", "vae"], [], LAT, "nodes"),
    "VAEEncodeForInpaint": ("VAE Encode (for Inpainting)", "latent/inpaint",
                            ["pixels", "vae", "mask", "grow_mask_by"], [], LAT, "nodes"),
    "VAEEncodeTiled": ("VAE Encode (Tiled)", "_for_testing", ["pixels", "vae", *TILED], [], LAT,
                       "nodes"),
    "VAEDecodeTiled": ("VAE Decode (Tiled)", "_for_testing", ["samples", "vae", *TILED], [],
                       ["IMAGE"], "nodes"),
}

# (class, input): the V1 type or choices, and options that must be present with these values.
OPTIONS: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("CLIPSetLastLayer", "stop_at_clip_layer", "INT", {"default": -1, "min": -24, "max": -1,
                                                       "step": 1}),
    ("ModelSamplingDiscrete", "sampling", ["eps", "v_prediction", "lcm", "x0", "img_to_img"], {}),
    ("ModelSamplingDiscrete", "zsnr", "BOOLEAN", {"default": False}),
    ("UNETLoader", "weight_dtype", ["default"], {}),
    ("CLIPLoader", "type", ["stable_diffusion"], {}),
    ("DualCLIPLoader", "type", ["sdxl"], {}),
    ("CLIPTextEncode", "text", "STRING", {"multiline": True, "dynamicPrompts": True}),
    ("CLIPTextEncodeSDXL", "width", "INT", {"default": 1024, "min": 0, "max": M}),
    ("CLIPTextEncodeSDXL", "crop_h", "INT", {"default": 0, "min": 0, "max": M}),
    ("CLIPTextEncodeSDXL", "text_l", "STRING", {"multiline": True, "dynamicPrompts": True}),
    ("CLIPTextEncodeSDXLRefiner", "ascore", "FLOAT", {"default": 6.0, "min": 0.0,
                                                      "max": 1000.0, "step": 0.01}),
    ("ConditioningAverage", "conditioning_to_strength", "FLOAT",
     {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
    ("ConditioningSetArea", "width", "INT", {"default": 64, "min": 64, "max": M, "step": 8}),
    ("ConditioningSetArea", "x", "INT", {"default": 0, "min": 0, "max": M, "step": 8}),
    ("ConditioningSetArea", "strength", "FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0,
                                                  "step": 0.01}),
    ("ConditioningSetAreaPercentage", "height", "FLOAT", {"default": 1.0, "min": 0.0,
                                                          "max": 1.0, "step": 0.01}),
    ("ConditioningSetMask", "set_cond_area", ["default", "mask bounds"], {}),
    ("ConditioningSetTimestepRange", "end", "FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0,
                                                      "step": 0.001}),
    ("EmptyLatentImage", "width", "INT", {"default": 512, "min": 16, "max": M, "step": 8}),
    ("EmptyLatentImage", "batch_size", "INT", {"default": 1, "min": 1, "max": 4096}),
    ("LatentUpscale", "upscale_method",
     ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"], {}),
    ("LatentUpscale", "height", "INT", {"default": 512, "min": 0, "max": M, "step": 8}),
    ("LatentUpscale", "crop", ["disabled", "center"], {}),
    ("LatentUpscaleBy", "scale_by", "FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0,
                                              "step": 0.01}),
    ("LatentComposite", "feather", "INT", {"default": 0, "min": 0, "max": M, "step": 8}),
    ("LatentFromBatch", "batch_index", "INT", {"default": 0, "min": 0, "max": 63}),
    ("LatentFromBatch", "length", "INT", {"default": 1, "min": 1, "max": 64}),
    ("RepeatLatentBatch", "amount", "INT", {"default": 1, "min": 1, "max": 64}),
    ("VAEEncodeForInpaint", "grow_mask_by", "INT", {"default": 6, "min": 0, "max": 64,
                                                    "step": 1}),
    ("VAEEncodeTiled", "tile_size", "INT", {"default": 512, "min": 64, "max": 4096, "step": 64}),
    ("VAEDecodeTiled", "tile_size", "INT", {"default": 512, "min": 64, "max": 4096, "step": 32}),
    ("VAEDecodeTiled", "overlap", "INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
    ("VAEDecodeTiled", "temporal_size", "INT", {"default": 64, "min": 8, "max": 4096,
                                                "step": 4}),
    ("VAEEncodeTiled", "temporal_overlap", "INT", {"default": 8, "min": 4, "max": 4096,
                                                   "step": 4}),
]
MINE = [*(n for n in MODEL_NODES if n not in MERGING_NODES), *CONDITIONING_NODES, *LATENT_NODES,
        *VAE_NODES]  # the merging nodes: test_merging_declarations.py


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    registry = Registry()
    register_builtin_nodes(registry)
    return registry.object_info()


def test_every_node_is_declared_as_in_comfyui(info: dict[str, Any]) -> None:
    assert {n.type_name for n in MINE} == set(DECLARED)
    for name, (display, category, required, optional, outputs, module) in DECLARED.items():
        entry = info[name]
        assert (entry["display_name"], entry["category"]) == (display, category), name
        assert entry["input_order"]["required"] == required, name
        assert entry["input_order"].get("optional", []) == optional, name
        assert entry["output"] == outputs and entry["output_name"] == outputs, name
        assert entry["python_module"] == module and entry["output_node"] is False, name
        assert entry["description"], name
        every = {**entry["input"]["required"], **entry["input"].get("optional", {})}
        assert all(spec[1].get("tooltip") for spec in every.values()), name


def test_input_options_match_comfyui(info: dict[str, Any]) -> None:
    for name, input_name, kind, options in OPTIONS:
        spec = info[name]["input"]["required"][input_name]
        assert spec[0] == kind, (name, input_name)
        assert {k: spec[1].get(k) for k in options} == options, (name, input_name)
    assert info["CLIPLoader"]["input"]["optional"]["device"][1]["advanced"] is True
    assert info["CheckpointLoaderSimple"]["output_tooltips"][0].startswith("The model")


def test_the_nodes_are_in_the_builtin_pack() -> None:
    assert all(node in BUILTIN_NODES for node in MINE)


def snapshot(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(snapshot(v) for v in value)
    if dataclasses.is_dataclass(value) and isinstance(value, (Cond, Latent)):
        return {f.name: snapshot(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def same(before: Any, after: Any) -> bool:
    now = snapshot(after)
    if isinstance(before, torch.Tensor):
        return torch.equal(before, now)
    if isinstance(before, dict):
        return before.keys() == now.keys() and all(same(before[k], getattr(after, k))
                                                  for k in before)
    if isinstance(before, tuple):
        return len(before) == len(after) and all(same(b, a) for b, a in zip(before, after,
                                                                             strict=True))
    return bool(before == now)


def _cases(vae: Any) -> dict[str, tuple[Any, ...]]:
    gen = torch.Generator().manual_seed(5)
    cond = Cond(torch.randn((1, 3, 4), generator=gen), torch.randn((1, 2), generator=gen))
    other = Cond(torch.randn((1, 2, 4), generator=gen))
    mask = torch.rand((8, 8), generator=gen)
    lat = Latent(torch.randn((2, 4, 8, 8), generator=gen), torch.rand((2, 1, 8, 8)), (0, 1))
    small = Latent(torch.randn((1, 4, 4, 4), generator=gen))
    pixels = torch.rand((1, 20, 28, 4), generator=gen)
    return {
        "ConditioningCombine": ((cond,), (other,)),
        "ConditioningAverage": ((cond,), (other,), 0.3),
        "ConditioningConcat": ((cond,), (other,)),
        "ConditioningSetArea": ((cond,), 64, 64, 8, 8, 2.0),
        "ConditioningSetAreaPercentage": ((cond,), 0.5, 0.5, 0.1, 0.1, 2.0),
        "ConditioningSetMask": ((cond,), mask, 1.0, "mask bounds"),
        "ConditioningZeroOut": ((cond,),),
        "ConditioningSetTimestepRange": ((cond,), 0.1, 0.9),
        "LatentUpscale": (lat, "bislerp", 96, 0, "center"),
        "LatentUpscaleBy": (lat, "bicubic", 1.5),
        "LatentComposite": (lat, small, 8, 8, 16),
        "LatentFromBatch": (lat, 1, 1),
        "RepeatLatentBatch": (lat, 2),
        "SetLatentNoiseMask": (lat, mask),
        "VAEDecode": (small, vae),
        "VAEEncode": (pixels, vae),
        "VAEEncodeForInpaint": (pixels, vae, mask, 6),
        "VAEEncodeTiled": (pixels, vae, 64, 32, 64, 8),
        "VAEDecodeTiled": (small, vae, 64, 32, 64, 8),
    }


def test_nodes_never_modify_their_inputs(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    vae = env.probe({"1": loader("m.safetensors")}, "1", 2)
    by_name = {n.type_name: n for n in MINE}
    cases = _cases(vae)
    for name, args in cases.items():
        before = [snapshot(a) for a in args]
        by_name[name]().run(Ctx(), *args)
        for kept, arg in zip(before, args, strict=True):
            assert same(kept, arg), name
