"""SetClipHooks: weight hooks on a CLIP (ComfyUI's ``comfy_extras.nodes_hooks``).

The returned CLIP encodes with the hooks' patches on its text encoders at each hook's
strength_clip; with schedule_clip, once per keyframe range (each entry limited to its range);
with apply_to_conds, the hooks are also attached to every entry it encodes, so the sampler
evaluates those entries with the hooked diffusion model (``nodes.hooks.patching``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diffusion.guidance.hooked import HookGroup
from nodes.api import CLIP, HOOKS, Boolean, Link, Node, Output, RunContext
from nodes.payloads import Clip


class SetClipHooks(Node):
    """Applies weight hooks to a CLIP's text encoders (and, optionally, to what it encodes)."""

    display_name = "Set CLIP Hooks"
    category = "advanced/hooks/clip"
    experimental = True
    inputs = (
        Link("clip", CLIP, tooltip="The CLIP to hook."),
        Boolean("apply_to_conds", default=True,
                tooltip="Attach the hooks to the conditioning this CLIP encodes."),
        Boolean("schedule_clip", default=False,
                tooltip="Encode once per keyframe range of the hooks (else keyframes are "
                        "ignored when encoding)."),
        Link("hooks", HOOKS, optional=True, tooltip="The hooks (none: the CLIP unchanged)."),
    )
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip: Clip, apply_to_conds: bool, schedule_clip: bool,
            hooks: HookGroup | None = None) -> tuple[Any, ...]:
        if hooks is None:
            return (clip,)
        cond_hooks = hooks if apply_to_conds else clip.cond_hooks
        return (dataclasses.replace(clip, hooks=hooks, schedule_hooks=schedule_clip,
                                    cond_hooks=cond_hooks),)
