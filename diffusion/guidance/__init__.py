"""Guidance: CONDITIONING entries, classifier-free guidance with area / mask / timestep-range
composition, SDXL micro-conditioning, inpainting and InstructPix2Pix inputs, model hooks (and
their per-run state and model calls), weight hooks on conditioning (``hooked``), guiders and the
``sample`` run.

Pure torch; knows nothing of graphs, nodes, JSON or HTTP.
"""

from __future__ import annotations

from diffusion.guidance.adm import AdmKind, Side, encode_adm, sdxl_micro_conditions
from diffusion.guidance.batching import calc_cond_batch
from diffusion.guidance.cond import (
    Area,
    AreaPercentage,
    Cond,
    Conditioning,
    ControlHook,
    ControlInputs,
    ControlRun,
    RunControl,
    replace_all,
)
from diffusion.guidance.denoiser import (
    UNetFn,
    UNetProvider,
    cfg_function,
    guided_denoiser,
    make_apply_model,
)
from diffusion.guidance.dual_cfg import DualCFGGuider
from diffusion.guidance.guided_model import GuidedModel
from diffusion.guidance.guider import BasicGuider, CFGGuider, Guider, UncondGuider
from diffusion.guidance.hook_schedule import ActiveHooks
from diffusion.guidance.hooked import (
    HookGroup,
    HookKeyframe,
    HookKeyframes,
    TimestepsRange,
    WeightHook,
    combine_hook_groups,
)
from diffusion.guidance.hooks import (
    NO_HOOKS,
    CFGArgs,
    CFGFunction,
    CondModifier,
    ModelAccess,
    ModelHooks,
    PostCFGArgs,
    PostCFGFunction,
    PreCFGArgs,
    PreCFGFunction,
    StepConds,
    UNetWrapper,
)
from diffusion.guidance.inpaint import inpaint_concat, ip2p_concat, noise_mask_inpaint
from diffusion.guidance.mask_hooks import DenoiseMaskFunction, MaskStep
from diffusion.guidance.model_calls import ModelCalls
from diffusion.guidance.perp_neg import PerpNegGuider, perp_neg
from diffusion.guidance.resolve import ModelInputs, ResolvedCond, resolve_conditioning
from diffusion.guidance.run_state import RunBound, RunState
from diffusion.guidance.sample import ProgressCallback, sample
from diffusion.guidance.shapes import reshape_mask

__all__ = [
    "NO_HOOKS",
    "ActiveHooks",
    "HookGroup",
    "HookKeyframe",
    "HookKeyframes",
    "TimestepsRange",
    "UNetProvider",
    "WeightHook",
    "combine_hook_groups",
    "AdmKind",
    "BasicGuider",
    "CFGGuider",
    "DualCFGGuider",
    "PerpNegGuider",
    "UncondGuider",
    "CFGArgs",
    "CFGFunction",
    "CondModifier",
    "DenoiseMaskFunction",
    "Guider",
    "MaskStep",
    "ModelAccess",
    "ModelCalls",
    "RunBound",
    "RunState",
    "UNetWrapper",
    "ip2p_concat",
    "ModelHooks",
    "StepConds",
    "Area",
    "AreaPercentage",
    "Cond",
    "Conditioning",
    "ControlHook",
    "ControlInputs",
    "ControlRun",
    "RunControl",
    "GuidedModel",
    "ModelInputs",
    "PostCFGArgs",
    "PostCFGFunction",
    "PreCFGArgs",
    "PreCFGFunction",
    "ProgressCallback",
    "ResolvedCond",
    "Side",
    "UNetFn",
    "calc_cond_batch",
    "cfg_function",
    "encode_adm",
    "guided_denoiser",
    "inpaint_concat",
    "make_apply_model",
    "noise_mask_inpaint",
    "perp_neg",
    "replace_all",
    "reshape_mask",
    "resolve_conditioning",
    "sample",
    "sdxl_micro_conditions",
]
