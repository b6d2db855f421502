"""ControlNetLoader and DiffControlNetLoader (ComfyUI's declarations): ControlNets, Control-LoRAs
and T2I-Adapters from the ``controlnet`` folder (which also searches ``models/t2i_adapter``).

ControlNets and T2I-Adapters are opened through the ``ModelManager`` like checkpoint components:
the loader reads the header, detects and checks the layout and returns a handle; weights are read
when a sampler uses it and evicted under the memory budget like any model. A Control-LoRA is read
by the loader (its tensors travel in the payload, as a LoRA's do) and rebuilt on the sampled UNet
every run. A diff ControlNet (``difference`` key) is merged with the model's UNet at load, as
ComfyUI does; the merged module is held by the payload (counted by the output cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diffusion.control import (
    AdapterSpec,
    ControlFile,
    ControlLoraSpec,
    ControlNetModel,
    ControlNetSpec,
    ControlSpec,
    ResidentModule,
    control_kind,
    load_control_lora,
    merge_difference,
)
from diffusion.loading.files import read_tensor_file
from diffusion.weight_cast import compute_dtype_of
from nodes.api import CONTROL_NET, MODEL, Link, Output, RunContext
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import DiffusionModel

SHUFFLE_SUFFIXES = ("_shuffle", "_shuffle_fp16")  # ComfyUI: average the residuals over space


def _opened(ctx: RunContext, path: Path, what: str) -> tuple[Any, ControlFile]:
    handles = ctx.models.open(path)
    for component in ("controlnet", "t2i_adapter"):
        handle = handles.get(component)
        if handle is not None and isinstance(handle.opened, ControlFile):
            return handle, handle.opened
    raise ValueError(f"{what}: {path.name!r} holds no ControlNet or T2I-Adapter (components "
                     f"{sorted(handles)})")


def load_control(ctx: RunContext, path: Path, name: str, what: str) -> tuple[ControlSpec, Any]:
    """The CONTROL_NET payload of ``path`` and, for a ControlNet / T2I-Adapter, its file."""
    kind = control_kind(read_tensor_file(path).shapes)
    if kind is None:
        raise ValueError(f"{what}: {name!r} is not a ControlNet, Control-LoRA or T2I-Adapter "
                         "file")
    if kind == "control_lora":
        weights = load_control_lora(path)
        ctx.note("controlnet", {"file": name, "kind": "control_lora", "rank": weights.rank})
        return ControlLoraSpec(weights, name), None
    handle, opened = _opened(ctx, path, what)
    ctx.note("controlnet", {"file": name, "kind": opened.component,
                            "family": opened.family, "difference": opened.difference})
    if opened.component == "t2i_adapter":
        return AdapterSpec(handle, opened.config, name), opened  # type: ignore[arg-type]
    shuffle = Path(name).stem.endswith(SHUFFLE_SUFFIXES)
    return ControlNetSpec(handle, opened.config, name,  # type: ignore[arg-type]
                          global_average_pooling=shuffle), opened


class ControlNetLoader(ModelPickerNode):
    """Loads a ControlNet, Control-LoRA or T2I-Adapter from the controlnet folder; which one is
    read from the file's keys."""

    display_name = "Load ControlNet Model"
    category = "loaders"
    pickers = {"control_net_name": "controlnet"}
    inputs = (model_picker("control_net_name", "controlnet",
                           "The ControlNet, Control-LoRA or T2I-Adapter file."),)
    outputs = (Output(CONTROL_NET),)

    def run(self, ctx: RunContext, control_net_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "control_net_name", control_net_name)
        spec, opened = load_control(ctx, path, control_net_name,
                                    "ControlNetLoader input 'control_net_name'")
        if opened is not None and opened.difference:
            ctx.log.warning("ControlNetLoader: %s is a diff ControlNet (weights relative to a "
                            "model); load it with DiffControlNetLoader", control_net_name)
        return (spec,)


class DiffControlNetLoader(ModelPickerNode):
    """Loads a ControlNet whose weights are stored relative to a model (a "diff" ControlNet):
    the model's UNet weights are added to them. Other control files load as they are."""

    display_name = "Load ControlNet Model (diff)"
    category = "loaders"
    pickers = {"control_net_name": "controlnet"}
    inputs = (
        Link("model", MODEL, tooltip="The model the diff ControlNet's weights are relative to."),
        model_picker("control_net_name", "controlnet", "The diff ControlNet file."),
    )
    outputs = (Output(CONTROL_NET),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            control_net_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "control_net_name", control_net_name)
        spec, opened = load_control(ctx, path, control_net_name,
                                    "DiffControlNetLoader input 'control_net_name'")
        if opened is None or not opened.difference or not isinstance(spec, ControlNetSpec):
            return (spec,)
        with ctx.models.use(model.unet, model.patches) as unet:
            param = next(unet.parameters())
            net = opened.load("controlnet", dtype=compute_dtype_of(unet))
            assert isinstance(net, ControlNetModel)
            net.to(param.device)
            merged = merge_difference(net, unet.state_dict())
        ctx.note("diff_controlnet", {"file": control_net_name, "merged_tensors": merged})
        return (ControlNetSpec(ResidentModule(net), spec.config, control_net_name,
                               global_average_pooling=spec.global_average_pooling),)


LOADER_NODES = [ControlNetLoader, DiffControlNetLoader]
