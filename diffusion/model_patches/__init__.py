"""Model patches: the maths of ComfyUI's MODEL -> MODEL patch nodes, as small frozen hooks.

Each patch adds itself to a model's hooks with ``patch.add_to(hooks) -> ModelHooks`` (a new
value; the input is never changed), at the extension point it needs:

* UNet block patches: ``FreeU`` (v1/v2), ``DeepShrink`` (Kohya);
* attention token patches: ``HyperTile``, ``TokenMerging`` (ToMe);
* attention processor + post-CFG re-evaluation: ``SelfAttentionGuidance``,
  ``PerturbedAttentionGuidance``;
* CFG functions: ``RescaleCFG``, ``PerpNegCFG``;
* pre-CFG functions: ``APG``, ``TCFG``, ``FreSca``;
* post-CFG functions: ``CFGNorm``, ``CFGZeroStar``, ``Mahiro``, ``EpsilonScaling``;
* the denoise-mask function: ``DifferentialDiffusion``;
* network wrappers: ``ComputeDtype``, ``TorchCompile``.

Attention multipliers are weight patches (``diffusion.patching.WeightScale``). Pure torch;
knows nothing of graphs or nodes.
"""

from __future__ import annotations

from diffusion.model_patches.cfg_functions import PerpNegCFG, RescaleCFG, rescale_cfg
from diffusion.model_patches.deep_shrink import DeepShrink, DeepShrinkDown, DeepShrinkUp, Resize
from diffusion.model_patches.differential import DifferentialDiffusion
from diffusion.model_patches.freeu import FreeU
from diffusion.model_patches.hypertile import HyperTile
from diffusion.model_patches.pag import PerturbedAttentionGuidance, PerturbedSelfAttention
from diffusion.model_patches.post_cfg_functions import CFGNorm, CFGZeroStar, EpsilonScaling, Mahiro
from diffusion.model_patches.pre_cfg_functions import APG, TCFG, FreSca
from diffusion.model_patches.sag import SelfAttentionGuidance
from diffusion.model_patches.tome import TokenMerging
from diffusion.model_patches.wrappers import COMPILE_BACKENDS, ComputeDtype, TorchCompile

__all__ = [
    "APG", "CFGNorm", "CFGZeroStar", "COMPILE_BACKENDS", "ComputeDtype", "DeepShrink",
    "DeepShrinkDown", "DeepShrinkUp", "DifferentialDiffusion", "EpsilonScaling", "FreSca",
    "FreeU", "HyperTile", "Mahiro", "PerpNegCFG", "PerturbedAttentionGuidance",
    "PerturbedSelfAttention", "RescaleCFG", "Resize", "SelfAttentionGuidance", "TCFG",
    "TokenMerging", "TorchCompile", "rescale_cfg",
]
