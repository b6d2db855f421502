"""The pack's nodes: a model-file probe, a folder lister, a weight-diff patch and a guider."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from diffusion.guidance import Cond
from diffusion.patching import WeightDiff
from nodes.api import (
    CONDITIONING,
    GUIDER,
    MODEL,
    CachePolicy,
    Combo,
    Float,
    Link,
    ModelFolderFiles,
    Node,
    NodeResult,
    Output,
    RunContext,
    String,
)
from nodes.payloads import DiffusionModel
from tests.plugins.port_pack.sampling import PositiveOnlyGuide

PATCHED_KEY = "out.2.weight"  # the UNet's last convolution


class PackModelProbe(Node):
    """Opens a checkpoint through ``ctx.models`` and reads its VAE's parameter count."""

    category = "tests/port_pack"
    cache = CachePolicy.NEVER
    output_node = True
    inputs = (Combo("ckpt_name", choices=ModelFolderFiles("checkpoints"), tooltip="A file."),)

    def run(self, ctx: RunContext, ckpt_name: str) -> NodeResult:
        path = ctx.model_files.resolve("checkpoints", ckpt_name, what="PackModelProbe input")
        handles = ctx.models.open(path)
        with ctx.models.use(handles["vae"]) as vae:
            count = sum(p.numel() for p in vae.parameters())
        return NodeResult((), {"components": sorted(handles), "vae_parameters": [count]})


class PackListFolder(Node):
    """Lists a model folder through ``ctx.model_files``."""

    category = "tests/port_pack"
    cache = CachePolicy.NEVER
    output_node = True
    inputs = (String("folder", default="checkpoints", tooltip="A model folder name."),)

    def run(self, ctx: RunContext, folder: str) -> NodeResult:
        return NodeResult((), {"files": ctx.model_files.files(folder)})


class PackWeightDiff(Node):
    """Adds ``strength`` x a seeded random diff to the UNet's last convolution (a patch)."""

    category = "tests/port_pack"
    inputs = (Link("model", MODEL, tooltip="The model."),
              Float("strength", default=1.0, min=-10.0, max=10.0, tooltip="The diff's scale."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, strength: float) -> tuple[Any, ...]:
        with ctx.models.use(model.unet) as unet:
            shape = dict(unet.named_parameters())[PATCHED_KEY].shape
        diff = torch.randn(shape, generator=torch.Generator().manual_seed(7))
        patches = model.patches.plus(WeightDiff(PATCHED_KEY, diff, strength))
        return (dataclasses.replace(model, patches=patches),)


class PackPositiveGuider(Node):
    """A guider that samples the positive conditioning alone."""

    category = "tests/port_pack"
    inputs = (Link("model", MODEL, tooltip="The model."),
              Link("positive", CONDITIONING, tooltip="The conditioning."))
    outputs = (Output(GUIDER),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            positive: tuple[Cond, ...]) -> tuple[Any, ...]:
        return (PositiveOnlyGuide(model, tuple(positive)),)


PACK_NODES: list[type[Node]] = [PackModelProbe, PackListFolder, PackWeightDiff,
                                PackPositiveGuider]
