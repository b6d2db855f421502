"""ControlNetApply (legacy), ControlNetApplyAdvanced and SetUnionControlNetType (ComfyUI's
declarations and semantics).

Applying a control model puts a ``ControlApplication`` (the model, the hint image, strength and
schedule range) on conditioning entries; the sampler binds it once per run and evaluates it once
per batched UNet call. An entry that already carries applications keeps them: the new one is
appended and their residuals are summed, as ComfyUI chains ``previous_controlnet``. Entries
whose existing chain is the same object get the same new application (ComfyUI's ``cnets``
dict), so a positive and a negative entry can still share one batched forward. Strength 0
returns the inputs unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from torch import Tensor

from diffusion.control import (
    UNION_CONTROLNET_TYPES,
    ControlApplication,
    ControlNetSpec,
    ControlSpec,
)
from diffusion.guidance.cond import Cond, Conditioning
from nodes.api import (
    CONDITIONING,
    CONTROL_NET,
    IMAGE,
    VAE,
    Combo,
    Float,
    Link,
    Node,
    Output,
    RunContext,
)

logger = logging.getLogger(__name__)

UNION_TYPES = ("auto", *UNION_CONTROLNET_TYPES)


def _strength() -> Float:
    return Float("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                 tooltip="How strongly the control residuals are added.")


def _hint(node: str, image: Tensor) -> Tensor:
    if image.ndim != 4:
        raise ValueError(f"{node} input 'image': expected (B, H, W, C), got {tuple(image.shape)}")
    return image.movedim(-1, 1)  # (B, C, H, W)


def _check_spec(node: str, control_net: Any) -> ControlSpec:
    if not hasattr(control_net, "label"):
        raise TypeError(f"{node} input 'control_net': expected a CONTROL_NET, got "
                        f"{type(control_net).__name__}")
    return control_net  # type: ignore[no-any-return]


class ControlNetApplyAdvanced(Node):
    """Guides sampling with a ControlNet, Control-LoRA or T2I-Adapter and a hint image, on both
    the positive and the negative conditioning, within a part of the schedule."""

    display_name = "Apply ControlNet"
    category = "conditioning/controlnet"
    inputs = (
        Link("positive", CONDITIONING, tooltip="The positive conditioning."),
        Link("negative", CONDITIONING, tooltip="The negative conditioning."),
        Link("control_net", CONTROL_NET, tooltip="The control model (Load ControlNet Model)."),
        Link("image", IMAGE, tooltip="The hint image (resized and centre-cropped to the latent)."),
        _strength(),
        Float("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
              tooltip="Where in the schedule the control starts."),
        Float("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
              tooltip="Where in the schedule the control ends."),
        Link("vae", VAE, optional=True,
             tooltip="Only ControlNets of latent models (SD3, Flux) use it; SD1.x / SD2.x / SDXL "
                     "control models ignore it."),
    )
    outputs = (Output(CONDITIONING, "positive"), Output(CONDITIONING, "negative"))

    def run(self, ctx: RunContext, positive: Conditioning, negative: Conditioning,
            control_net: Any, image: Tensor, strength: float, start_percent: float,
            end_percent: float, vae: Any = None) -> tuple[Any, ...]:
        if strength == 0:
            return (positive, negative)
        spec = _check_spec(self.type_name, control_net)
        hint = _hint(self.type_name, image)
        shared: dict[tuple[int, ...], ControlApplication] = {}

        def apply(entry: Cond) -> Cond:
            chain = tuple(id(c) for c in entry.control)
            if chain not in shared:
                shared[chain] = ControlApplication(spec, hint, strength, start_percent,
                                                   end_percent)
            return dataclasses.replace(entry, control=(*entry.control, shared[chain]))

        return (tuple(apply(c) for c in positive), tuple(apply(c) for c in negative))


class ControlNetApply(Node):
    """Guides sampling with a control model on one conditioning, over the whole schedule
    (legacy: use Apply ControlNet, which also covers the negative conditioning)."""

    display_name = "Apply ControlNet (OLD)"
    category = "conditioning/controlnet"
    deprecated = True
    inputs = (
        Link("conditioning", CONDITIONING, tooltip="The conditioning to control."),
        Link("control_net", CONTROL_NET, tooltip="The control model (Load ControlNet Model)."),
        Link("image", IMAGE, tooltip="The hint image."),
        _strength(),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning, control_net: Any, image: Tensor,
            strength: float) -> tuple[Any, ...]:
        if strength == 0:
            return (conditioning,)
        spec = _check_spec(self.type_name, control_net)
        hint = _hint(self.type_name, image)
        return (tuple(dataclasses.replace(
            c, control=(*c.control, ControlApplication(spec, hint, strength)))
            for c in conditioning),)


class SetUnionControlNetType(Node):
    """Chooses which control type a ControlNet-Union (xinsir's Union / ProMax) reads its hint as;
    "auto" lets the model decide."""

    display_name = "SetUnionControlNetType"
    category = "conditioning/controlnet"
    inputs = (
        Link("control_net", CONTROL_NET, tooltip="A ControlNet-Union."),
        Combo("type", choices=UNION_TYPES, tooltip="The hint's control type."),
    )
    outputs = (Output(CONTROL_NET),)

    def run(self, ctx: RunContext, control_net: Any, type: str) -> tuple[Any, ...]:  # noqa: A002
        if type not in UNION_TYPES:
            raise ValueError(f"SetUnionControlNetType input 'type': {type!r} is not one of "
                             f"{list(UNION_TYPES)}")
        spec = _check_spec(self.type_name, control_net)
        types = () if type == "auto" else (UNION_CONTROLNET_TYPES[type],)
        if not isinstance(spec, ControlNetSpec) or spec.config.union_types is None:
            ctx.log.warning("SetUnionControlNetType: %s is not a ControlNet-Union; the type has "
                            "no effect (as in ComfyUI)", spec.label)
            ctx.note("union_type", {"applied": False, "control_net": spec.label})
            return (spec,)
        return (dataclasses.replace(spec, control_type=types),)


APPLY_NODES = [ControlNetApplyAdvanced, ControlNetApply, SetUnionControlNetType]
