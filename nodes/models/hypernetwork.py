"""HypernetworkLoader (ComfyUI's ``comfy_extras/nodes_hypernetwork.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from diffusion.hypernetwork import HypernetworkPatch, load_hypernetwork
from nodes.api import MODEL, Float, Link, Output, RunContext
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import DiffusionModel


class HypernetworkLoader(ModelPickerNode):
    """Applies an A1111 hypernetwork to the model's attention layers."""

    display_name = "HypernetworkLoader"
    category = "loaders"
    pickers = {"hypernetwork_name": "hypernetworks"}
    inputs = (
        Link("model", MODEL, tooltip="The diffusion model the hypernetwork is applied to."),
        model_picker("hypernetwork_name", "hypernetworks", "The hypernetwork file (.pt)."),
        Float("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
              tooltip="How strongly the hypernetwork rewrites the attention contexts."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, hypernetwork_name: str,
            strength: float) -> tuple[Any, ...]:
        if strength == 0:
            return (model,)
        path = self.model_path(ctx.model_files, "hypernetwork_name", hypernetwork_name)
        hypernetwork = load_hypernetwork(path)
        ctx.note("hypernetwork_widths", hypernetwork.widths())
        patch = HypernetworkPatch(hypernetwork, strength)
        return (dataclasses.replace(model, hooks=model.hooks.plus(attention_inputs=(patch,))),)


HYPERNETWORK_NODES = [HypernetworkLoader]
