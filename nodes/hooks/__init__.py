"""ComfyUI's hook nodes (``comfy_extras.nodes_hooks``): LoRAs and checkpoints as weight hooks
scheduled per conditioning entry and per step, keyframes, and the conditioning nodes that attach
hooks, masks, timestep ranges and default entries.

Payloads (``diffusion.guidance.hooked``): HOOKS is a ``HookGroup`` (or None), HOOK_KEYFRAMES a
``HookKeyframes``, TIMESTEPS_RANGE a ``TimestepsRange``. Nothing here imports the conditioning or
sampling node modules (they import ``nodes.hooks.patching``).
"""

from __future__ import annotations

from nodes.api import Node
from nodes.hooks.clip_nodes import SetClipHooks
from nodes.hooks.combine import COMBINE_NODES
from nodes.hooks.conds import SINGLE_COND_NODES
from nodes.hooks.create import CREATE_HOOK_NODES
from nodes.hooks.keyframes import KEYFRAME_NODES
from nodes.hooks.pairs import PAIR_COND_NODES

HOOK_NODES: list[type[Node]] = [
    *CREATE_HOOK_NODES, *KEYFRAME_NODES, *COMBINE_NODES, *SINGLE_COND_NODES, *PAIR_COND_NODES,
    SetClipHooks,
]

HOOKS_EXTRAS_MODULES: dict[str, str] = {
    node.type_name: "comfy_extras.nodes_hooks" for node in HOOK_NODES}

__all__ = ["HOOKS_EXTRAS_MODULES", "HOOK_NODES"]
