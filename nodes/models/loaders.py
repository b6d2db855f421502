"""Loader nodes: CheckpointLoaderSimple, VAELoader, UNETLoader (ComfyUI's declarations).

A loader is cheap: it resolves the picked name, asks the ModelManager for the file's handles
(the header is read and the layout checked once per unchanged file) and returns payloads.
Weights are read when a consumer (text encode, sampler, VAE) uses a handle.
"""

from __future__ import annotations

from typing import Any

from nodes.api import CLIP, MODEL, VAE, Combo, Output, RunContext
from nodes.models.payload_builders import checkpoint_clip, checkpoint_vae, model_payload
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import DiffusionModel, Vae

WEIGHT_DTYPES = ("default",)  # ComfyUI also offers fp8 storage types; weights load at the
# ModelManager's dtype here, so only "default" is offered rather than silently ignoring fp8.


class CheckpointLoaderSimple(ModelPickerNode):
    """Loads a diffusion model checkpoint, diffusion models are used to denoise latents."""

    display_name = "Load Checkpoint"
    category = "loaders"
    pickers = {"ckpt_name": "checkpoints"}
    inputs = (model_picker("ckpt_name", "checkpoints",
                           "The name of the checkpoint (model) to load."),)
    outputs = (
        Output(MODEL, tooltip="The model used for denoising latents."),
        Output(CLIP, tooltip="The CLIP model used for encoding text prompts."),
        Output(VAE, tooltip="The VAE model used for encoding and decoding images to and from "
                            "latent space."),
    )

    def run(self, ctx: RunContext, ckpt_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "ckpt_name", ckpt_name)
        handles = ctx.models.open(path)
        if "unet" not in handles:
            raise ValueError(f"CheckpointLoaderSimple input 'ckpt_name': {ckpt_name!r} holds "
                             f"no diffusion model (components {sorted(handles)})")
        source = f"checkpoint {ckpt_name!r}"
        embeddings = ctx.model_files.search_paths("embeddings")
        tokenizer = ctx.text.clip_tokenizer()
        return (model_payload(handles["unet"]),
                checkpoint_clip(handles, tokenizer, embeddings, source),
                checkpoint_vae(handles, source))


class VAELoader(ModelPickerNode):
    """Loads a VAE from the vae folder (a VAE file, or the VAE inside a full checkpoint)."""

    display_name = "Load VAE"
    category = "loaders"
    pickers = {"vae_name": "vae"}
    inputs = (model_picker("vae_name", "vae", "The VAE file to load."),)
    outputs = (Output(VAE),)

    def run(self, ctx: RunContext, vae_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "vae_name", vae_name)
        handles = ctx.models.open(path)
        vae = checkpoint_vae(handles, f"VAELoader input 'vae_name': {vae_name!r}")
        if not isinstance(vae, Vae):
            raise ValueError(vae.message)
        return (vae,)


class UNETLoader(ModelPickerNode):
    """Loads a diffusion model (UNet) on its own from the diffusion_models (unet) folder."""

    display_name = "Load Diffusion Model"
    category = "advanced/loaders"
    pickers = {"unet_name": "diffusion_models"}
    inputs = (
        model_picker("unet_name", "diffusion_models", "The diffusion model file to load."),
        Combo("weight_dtype", choices=WEIGHT_DTYPES,
              tooltip="Storage type of the weights; 'default' keeps the engine's dtype."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, unet_name: str, weight_dtype: str) -> tuple[Any, ...]:
        if weight_dtype not in WEIGHT_DTYPES:
            raise ValueError(f"UNETLoader input 'weight_dtype': {weight_dtype!r} is not "
                             f"supported; choose one of {list(WEIGHT_DTYPES)}")
        path = self.model_path(ctx.model_files, "unet_name", unet_name)
        handles = ctx.models.open(path)
        if "unet" not in handles:
            raise ValueError(f"UNETLoader input 'unet_name': {unet_name!r} holds no diffusion "
                             f"model (components {sorted(handles)})")
        model: DiffusionModel = model_payload(handles["unet"])
        return (model,)


LOADER_NODES = [CheckpointLoaderSimple, VAELoader, UNETLoader]
