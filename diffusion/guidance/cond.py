"""One conditioning entry (``Cond``) and the CONDITIONING value (a tuple of them).

A ComfyUI CONDITIONING is ``[[cross_attn, {"pooled_output": ..., "area": ..., ...}], ...]``; here
each entry is a frozen ``Cond`` whose fields are those dict keys, with ComfyUI's defaults. Nodes
never mutate a ``Cond``: they derive new ones with ``dataclasses.replace`` (or ``replace_all``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from diffusion.guidance.hooked import HookGroup
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.unet.hooks import UNetResiduals


@dataclass(frozen=True)
class Area:
    """A rectangle in latent units (pixels // 8), as ConditioningSetArea stores it."""

    height: int
    width: int
    y: int = 0
    x: int = 0

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"area height/width must be >= 1, got {self.height}x{self.width}")
        if self.y < 0 or self.x < 0:
            raise ValueError(f"area y/x must be >= 0, got y={self.y}, x={self.x}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        """ComfyUI's order: (height, width, y, x)."""
        return (self.height, self.width, self.y, self.x)


@dataclass(frozen=True)
class AreaPercentage:
    """A rectangle as fractions of the latent (ConditioningSetAreaPercentage), resolved at
    sampling time against the latent's size."""

    height: float
    width: float
    y: float = 0.0
    x: float = 0.0

    def __post_init__(self) -> None:
        for name in ("height", "width", "y", "x"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"area percentage {name} must be in [0, 1], got {value!r}")

    def resolve(self, latent_height: int, latent_width: int) -> Area:
        """ComfyUI's rounding: size at least 1, Python's round (half to even)."""
        return Area(
            max(1, round(self.height * latent_height)),
            max(1, round(self.width * latent_width)),
            round(self.y * latent_height),
            round(self.x * latent_width),
        )


@dataclass(frozen=True, eq=False)
class ControlInputs:
    """What a control hook sees for one UNet forward (a batch of ``len(sides)`` chunks)."""

    x: Tensor  # the noisy latent rows, unscaled (N, C, h, w)
    sigma: Tensor  # (N,)
    context: Tensor  # (N, T, C)
    y: Tensor | None  # (N, adm) for SDXL
    sides: tuple[int, ...]  # per chunk of x.shape[0] // len(sides) rows: 0 = cond, 1 = uncond


class ControlHook(Protocol):
    """A ControlNet-style residual source, called once per UNet forward that includes its entry;
    returns residuals or None (inactive, e.g. outside its own timestep range). Several hooks on
    one entry are summed. Entries batch together only when their hooks are the same objects."""

    def __call__(self, inputs: ControlInputs) -> UNetResiduals | None: ...


@dataclass(frozen=True, eq=False)
class ControlRun:
    """The sampling run a control source joins: the model's noise schedule (timestep windows,
    input scaling), the UNet's compute dtype and the UNet itself (a Control-LoRA rebuilds its
    ControlNet from the UNet's weights; None when the run has no module to offer)."""

    model_sampling: ModelSampling
    dtype: torch.dtype | None = None
    unet: nn.Module | None = None


@runtime_checkable
class RunControl(Protocol):
    """A control source that prepares itself once per sampling run (ComfyUI's ``pre_run``):
    ``bind`` returns the hook the run calls. The same source object on several entries is bound
    once per run, so those entries still batch together; per-run caches (resized hints, adapter
    features, a rebuilt ControlNet) live in the bound hook and end with the run."""

    def bind(self, run: ControlRun) -> ControlHook: ...


@dataclass(frozen=True, eq=False)
class UnclipEntry:
    """One unCLIPConditioning: CLIP vision image embeddings (n, D), how strongly they
    condition and how much noise augmentation they get (0..1)."""

    image_embeds: Tensor
    strength: float
    noise_augmentation: float

    def __post_init__(self) -> None:
        if self.image_embeds.ndim != 2:
            raise ValueError(f"image_embeds must be (n, D), got {tuple(self.image_embeds.shape)}")
        if not 0.0 <= self.noise_augmentation <= 1.0:
            raise ValueError(f"noise_augmentation must be in [0, 1], got "
                             f"{self.noise_augmentation!r}")


@dataclass(frozen=True, eq=False)
class Cond:
    """One conditioning entry.

    cross_attn: (1, T, C) prompt encoding. pooled_output: (1, P), SDXL's text_embeds.
    area: latent-unit ``Area`` or ``AreaPercentage``; strength scales the entry's weight.
    mask: (H, W) or (B, H, W) at any resolution (resized to the latent bilinearly at sampling),
    scaled by mask_strength; set_area_to_bounds narrows the forward to the mask's bounding box.
    start_percent / end_percent: the part of the schedule where the entry is active.
    SDXL: width/height default to the latent size x 8 (None = that default), crop 0,
    target = width/height; refiner: aesthetic_score defaults to 6 (positive) / 2.5 (negative).
    concat_latent_image / concat_mask: per-entry inpaint-model inputs (InpaintModelConditioning);
    by default the sampled latent and its noise mask are used. control: residual hooks
    (ControlNets, T2I-Adapters; ``RunControl`` sources are bound once per sampling run).
    hooks: weight hooks the entry is evaluated with (``diffusion.guidance.hooked``; None or an
    empty group: the plain model). default: a default entry (ConditioningSetDefaultCombine),
    used only where the side's other active entries leave weight below 1 (``defaults``).
    clip_start_percent / clip_end_percent: the keyframe range a scheduled CLIP encoded this
    entry for (SetClipHooks with schedule_clip); the entry is active only where both its own
    range and this one hold.
    unclip: unCLIP image conditioning (unCLIPConditioning), in the order applied: SD2.1
    unCLIP's ADM input, SDXL's pooled input (Revision); other models ignore it, as ComfyUI.
    """

    cross_attn: Tensor
    pooled_output: Tensor | None = None
    area: Area | AreaPercentage | None = None
    strength: float = 1.0
    mask: Tensor | None = None
    mask_strength: float = 1.0
    set_area_to_bounds: bool = False
    start_percent: float = 0.0
    end_percent: float = 1.0
    width: int | None = None
    height: int | None = None
    crop_w: int = 0
    crop_h: int = 0
    target_width: int | None = None
    target_height: int | None = None
    aesthetic_score: float | None = None
    concat_latent_image: Tensor | None = None
    concat_mask: Tensor | None = None
    control: tuple[ControlHook | RunControl, ...] = ()
    hooks: HookGroup | None = None
    default: bool = False
    clip_start_percent: float | None = None
    clip_end_percent: float | None = None
    unclip: tuple[UnclipEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.cross_attn.ndim != 3:
            raise ValueError(
                f"cross_attn must be (B, T, C), got shape {tuple(self.cross_attn.shape)}"
            )
        if self.pooled_output is not None and self.pooled_output.ndim != 2:
            raise ValueError(
                f"pooled_output must be (B, P), got shape {tuple(self.pooled_output.shape)}"
            )
        if self.mask is not None and self.mask.ndim not in (2, 3):
            raise ValueError(f"mask must be (H, W) or (B, H, W), got {tuple(self.mask.shape)}")
        for name in ("start_percent", "end_percent", "clip_start_percent", "clip_end_percent"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if (self.clip_start_percent is None) != (self.clip_end_percent is None):
            raise ValueError("clip_start_percent and clip_end_percent are set together, got "
                             f"{self.clip_start_percent!r} and {self.clip_end_percent!r}")
        if not isinstance(self.control, tuple):
            raise TypeError(f"control must be a tuple of hooks, got {type(self.control).__name__}")
        if not isinstance(self.unclip, tuple):
            raise TypeError(f"unclip must be a tuple of UnclipEntry, got "
                            f"{type(self.unclip).__name__}")
        if self.hooks is not None and not isinstance(self.hooks, HookGroup):
            raise TypeError(f"hooks must be a HookGroup or None, got {type(self.hooks).__name__}")

    def active_range(self) -> tuple[float, float]:
        """(start, end) percents where the entry is active: its own range, narrowed to its
        scheduled-CLIP range when it has one (ComfyUI's ``calculate_start_end_timesteps``)."""
        if self.clip_start_percent is None or self.clip_end_percent is None:
            return self.start_percent, self.end_percent
        return (max(self.clip_start_percent, self.start_percent),
                min(self.clip_end_percent, self.end_percent))

    @property
    def nbytes(self) -> int:
        """Bytes of the tensors this entry holds (for the output cache's byte budget)."""
        tensors = (self.cross_attn, self.pooled_output, self.mask, self.concat_latent_image,
                   self.concat_mask, *(u.image_embeds for u in self.unclip))
        own = sum(t.numel() * t.element_size() for t in tensors if t is not None)
        return own + sum(int(getattr(c, "nbytes", 0)) for c in self.control)


Conditioning = tuple[Cond, ...]
"""A CONDITIONING value."""


def replace_all(conditioning: Iterable[Cond], **changes: Any) -> Conditioning:
    """Every entry with ``changes`` applied (``dataclasses.replace``); the inputs stay as they
    were."""
    return tuple(dataclasses.replace(c, **changes) for c in conditioning)
