"""CLIPLoader, DualCLIPLoader, CLIPSetLastLayer and ModelSamplingDiscrete.

Only the text-encoder types this engine runs are offered (``stable_diffusion``, ``sdxl``): a
workflow asking for another fails validation with the choices named, rather than loading
something that cannot work.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diffusion.loading import OpenedCheckpoint
from diffusion.sampling.model_sampling import discrete_model_sampling
from nodes.api import CLIP, MODEL, Boolean, Combo, Int, Link, Node, Output, RunContext
from nodes.models.payload_builders import (
    checkpoint_clip,
    file_clip,
    single_clip_family,
    text_file,
)
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import Clip, DiffusionModel

CLIP_TYPES = ("stable_diffusion",)
DUAL_CLIP_TYPES = ("sdxl",)
DEVICES = ("default", "cpu")
SAMPLING_TYPES = ("eps", "v_prediction", "lcm", "x0", "img_to_img")


def _device_input() -> Combo:
    return Combo("device", choices=DEVICES, optional=True, advanced=True,
                 tooltip="Accepted for compatibility; the model manager places the weights.")


def _check_choice(node: str, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{node} input {name!r}: {value!r} is not supported; "
                         f"choose one of {list(choices)}")


class CLIPLoader(ModelPickerNode):
    """[Recipes]

    stable_diffusion: clip-l (SD1.x), OpenCLIP ViT-H (SD2.x) or bigG (SDXL refiner)."""

    display_name = "Load CLIP"
    category = "advanced/loaders"
    pickers = {"clip_name": "text_encoders"}
    inputs = (
        model_picker("clip_name", "text_encoders", "The text encoder file to load."),
        Combo("type", choices=CLIP_TYPES, tooltip="The model family the encoder is used with."),
        _device_input(),
    )
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip_name: str, type: str,
            device: str | None = None) -> tuple[Any, ...]:
        _check_choice(self.type_name, "type", type, CLIP_TYPES)
        path = self.model_path(ctx.model_files, "clip_name", clip_name)
        handles = ctx.models.open(path)
        tokenizer = ctx.text.clip_tokenizer()
        embeddings = ctx.model_files.search_paths("embeddings")
        if "unet" in handles and isinstance(handles["unet"].opened, OpenedCheckpoint):
            clip = checkpoint_clip(handles, tokenizer, embeddings, f"clip_name {clip_name!r}")
            if not isinstance(clip, Clip):
                raise ValueError(f"CLIPLoader input 'clip_name': {clip.message}")
            return (clip,)
        if "text" not in handles:
            raise ValueError(f"CLIPLoader input 'clip_name': {clip_name!r} is not a CLIP "
                             f"text-encoder file (components {sorted(handles)})")
        family = single_clip_family(text_file(handles["text"], "CLIPLoader input 'clip_name'"))
        return (file_clip([handles["text"]], family, tokenizer, embeddings),)


class DualCLIPLoader(ModelPickerNode):
    """[Recipes]

    sdxl: clip-l, clip-g (in either order)."""

    display_name = "DualCLIPLoader"
    category = "advanced/loaders"
    pickers = {"clip_name1": "text_encoders", "clip_name2": "text_encoders"}
    inputs = (
        model_picker("clip_name1", "text_encoders", "One of the two text encoder files."),
        model_picker("clip_name2", "text_encoders", "The other text encoder file."),
        Combo("type", choices=DUAL_CLIP_TYPES, tooltip="The model family of the pair."),
        _device_input(),
    )
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip_name1: str, clip_name2: str,
            type: str, device: str | None = None) -> tuple[Any, ...]:
        _check_choice(self.type_name, "type", type, DUAL_CLIP_TYPES)
        manager = ctx.models
        handles = []
        for name, value in (("clip_name1", clip_name1), ("clip_name2", clip_name2)):
            opened = manager.open(self.model_path(ctx.model_files, name, value))
            if "text" not in opened:
                raise ValueError(f"DualCLIPLoader input {name!r}: {value!r} is not a CLIP "
                                 f"text-encoder file (components {sorted(opened)})")
            handles.append(opened["text"])
        kinds = sorted(str(text_file(h, "DualCLIPLoader").text_kind) for h in handles)
        if kinds != ["clip", "open_clip"]:
            raise ValueError(f"DualCLIPLoader type 'sdxl' needs one CLIP-L and one OpenCLIP "
                             f"bigG file; {clip_name1!r} and {clip_name2!r} are {kinds}")
        tokenizer = ctx.text.clip_tokenizer()
        embeddings = ctx.model_files.search_paths("embeddings")
        return (file_clip(handles, "sdxl", tokenizer, embeddings),)


class CLIPSetLastLayer(Node):
    """Sets the CLIP layer whose output conditions the model (-1 last, -2 penultimate: "clip
    skip 2"). A depth beyond an encoder's layer count uses its last layer."""

    display_name = "CLIP Set Last Layer"
    category = "conditioning"
    inputs = (
        Link("clip", CLIP, tooltip="The CLIP model."),
        Int("stop_at_clip_layer", default=-1, min=-24, max=-1, step=1,
            tooltip="The layer to stop at, counted from the end."),
    )
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip: Clip, stop_at_clip_layer: int) -> tuple[Any, ...]:
        if stop_at_clip_layer > -1:
            raise ValueError(f"CLIPSetLastLayer input 'stop_at_clip_layer': "
                             f"{stop_at_clip_layer} must be -1 or lower")
        return (dataclasses.replace(clip, stop_at_layer=stop_at_clip_layer),)


class ModelSamplingDiscrete(Node):
    """Overrides the model's prediction type (eps, v-prediction, x0, img_to_img, or LCM with its
    50 teacher timesteps) and zero-terminal-SNR rescaling of its noise schedule."""

    display_name = "ModelSamplingDiscrete"
    category = "advanced/model"
    inputs = (
        Link("model", MODEL, tooltip="The diffusion model."),
        Combo("sampling", choices=SAMPLING_TYPES, tooltip="What the network predicts."),
        Boolean("zsnr", default=False,
                tooltip="Rescale the schedule to zero terminal SNR (for models trained so)."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, sampling: str,
            zsnr: bool) -> tuple[Any, ...]:
        _check_choice(self.type_name, "sampling", sampling, SAMPLING_TYPES)
        patched = discrete_model_sampling(sampling, zsnr, model.model_sampling)
        return (dataclasses.replace(model, model_sampling=patched),)


CLIP_NODES = [CLIPLoader, DualCLIPLoader]
MODEL_PATCH_NODES = [CLIPSetLastLayer, ModelSamplingDiscrete]
