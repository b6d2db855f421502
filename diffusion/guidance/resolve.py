"""From CONDITIONING to what the per-step guidance needs (ComfyUI's ``process_conds``).

Done once per sampling run, against the latent's shape: percentage areas resolved, masks resized
to the latent, ``set_area_to_bounds`` applied, percent ranges turned into sigmas, the model inputs
of every entry built (cross-attention, SDXL ADM, inpaint concat), and, as ComfyUI does, every
entry with an area given a counterpart of the same area on the other side (taking the text of the
smallest entry there whose area contains it), so area composition is guided against a matching
negative.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.guidance.adm import AdmKind, Side, encode_adm
from diffusion.guidance.cond import AreaPercentage, Cond, ControlHook, ControlRun, RunControl
from diffusion.guidance.hooked import HookGroup
from diffusion.guidance.inpaint import inpaint_concat, ip2p_concat
from diffusion.guidance.unclip import AdmNoise
from diffusion.sampling.model_sampling import ModelSampling

AreaTuple = tuple[int, int, int, int]
"""(height, width, y, x) in latent units."""


@dataclass(frozen=True, eq=False)
class ResolvedCond:
    """One entry ready for ``calc_cond_batch``: model inputs plus where and when it applies."""

    context: Tensor  # (b, T, C)
    y: Tensor | None  # (b, adm)
    concat: Tensor | None  # (B, k, H, W)
    area: AreaTuple | None
    mask: Tensor | None  # (b, H, W) at latent size
    strength: float
    mask_strength: float
    sigma_start: float  # active while sigma <= sigma_start ...
    sigma_end: float  # ... and sigma >= sigma_end
    control: tuple[ControlHook, ...]
    hooks: HookGroup | None = None  # weight hooks (None: the plain model; never an empty group)
    default: bool = False  # fills in where the side's other entries leave weight (``defaults``)


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """What the model's extra inputs depend on, besides the entry itself."""

    latent_shape: tuple[int, int, int, int]  # (B, C, H, W) of the sampled latent
    adm: AdmKind = "none"
    inpaint_concat: bool = False
    latent_image: Tensor | None = None  # model space (B, C, H, W), for the inpaint concat
    denoise_mask: Tensor | None = None  # prepared noise mask (B, C, H, W)
    process_in: Callable[[Tensor], Tensor] | None = None  # for per-entry concat latents
    ip2p_concat: bool = False  # an InstructPix2Pix UNet (its concat: the entry's image latent)
    control_run: ControlRun | None = None  # what run-bound control sources (ControlNets) need
    adm_noise: AdmNoise | None = None  # unCLIP noise augmentation and the run's seed


BoundControls = dict[int, tuple[RunControl, ControlHook]]
"""One run's bound control sources by ``id`` (the source is kept so its id stays its own)."""


def bind_controls(control: Sequence[ControlHook | RunControl], run: ControlRun | None,
                  bound: BoundControls) -> tuple[ControlHook, ...]:
    """The entry's hooks for this run: ``RunControl`` sources bound (each once per run, so
    entries sharing one still share its hook), plain hooks as they are."""
    out: list[ControlHook] = []
    for source in control:
        if not isinstance(source, RunControl):
            out.append(source)
            continue
        if run is None:
            raise ValueError(f"conditioning carries {source!r}, which needs the sampling run "
                             "(ModelInputs.control_run) to bind it")
        if id(source) not in bound:
            bound[id(source)] = (source, source.bind(run))
        out.append(bound[id(source)][1])
    return tuple(out)


def mask_bounds(mask: Tensor) -> AreaTuple:
    """ComfyUI's ``set_area_to_bounds``: the bounding box of the nonzero mask over the batch,
    at least 8x8 latent cells; an empty mask gives (8, 8, 0, 0)."""
    bounds = mask.abs().amax(dim=0)  # (H, W)
    ys, xs = torch.where(bounds != 0)
    if ys.numel() == 0:
        return (8, 8, 0, 0)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    return (max(8, y1 - y0 + 1), max(8, x1 - x0 + 1), y0, x0)


def _resolve_mask(mask: Tensor, height: int, width: int) -> Tensor:
    mask = mask.float()
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)  # (1, h, w)
    if tuple(mask.shape[1:]) != (height, width):
        grid = mask.unsqueeze(1)  # (b, 1, h, w)
        mask = F.interpolate(grid, size=(height, width), mode="bilinear").squeeze(1)  # (b, H, W)
    return mask


def _resolve_placement(
    cond: Cond, height: int, width: int
) -> tuple[AreaTuple | None, Tensor | None]:
    area = cond.area
    if isinstance(area, AreaPercentage):
        area = area.resolve(height, width)
    area_tuple = None if area is None else area.as_tuple()
    if area_tuple is not None and (area_tuple[2] >= height or area_tuple[3] >= width):
        raise ValueError(
            f"area {area_tuple} (h, w, y, x) starts outside the {height}x{width} latent"
        )
    if cond.mask is None:
        return area_tuple, None
    mask = _resolve_mask(cond.mask, height, width)
    if cond.set_area_to_bounds:
        area_tuple = mask_bounds(mask)
    return area_tuple, mask


def _model_conds(
    cond: Cond, side: Side, inputs: ModelInputs
) -> tuple[Tensor | None, Tensor | None]:
    _, _, height, width = inputs.latent_shape
    y = encode_adm(cond, inputs.adm, side, height, width, inputs.adm_noise)
    concat = None
    if inputs.ip2p_concat:
        concat = ip2p_concat(inputs.latent_shape, cond.concat_latent_image)
    elif inputs.inpaint_concat:
        if inputs.latent_image is None:
            raise ValueError("inpaint_concat=True needs latent_image (the model-space latent)")
        concat = inpaint_concat(
            inputs.latent_shape,
            inputs.latent_image,
            inputs.denoise_mask,
            concat_latent_image=cond.concat_latent_image,
            concat_mask=cond.concat_mask,
            process_in=inputs.process_in,
        )
    return y, concat


def resolve_cond(
    cond: Cond, side: Side, model_sampling: ModelSampling, inputs: ModelInputs,
    bound: BoundControls | None = None,
) -> ResolvedCond:
    """One entry resolved for a run on a latent of ``inputs.latent_shape``; ``bound`` shares
    the run's bound control sources between entries (None: this entry's own)."""
    _, _, height, width = inputs.latent_shape
    area, mask = _resolve_placement(cond, height, width)
    y, concat = _model_conds(cond, side, inputs)
    start, end = cond.active_range()
    return ResolvedCond(
        context=cond.cross_attn,
        y=y,
        concat=concat,
        area=area,
        mask=mask,
        strength=cond.strength,
        mask_strength=cond.mask_strength,
        sigma_start=model_sampling.percent_to_sigma(start),
        sigma_end=model_sampling.percent_to_sigma(end),
        control=bind_controls(cond.control, inputs.control_run, {} if bound is None else bound),
        hooks=cond.hooks or None,
        default=cond.default,
    )


def _area_inside(inner: AreaTuple, outer: AreaTuple) -> bool:
    h, w, y, x = inner
    oh, ow, oy, ox = outer
    return y >= oy and x >= ox and y + h <= oy + oh and x + w <= ox + ow


def _smallest_container(others: Sequence[ResolvedCond], area: AreaTuple) -> ResolvedCond | None:
    """ComfyUI's choice: the smallest entry whose area contains ``area``; an entry without area
    counts only until one with a containing area is seen."""
    smallest: ResolvedCond | None = None
    for other in others:
        if other.area is None:
            if smallest is None:
                smallest = other
        elif _area_inside(area, other.area):
            if smallest is None or smallest.area is None:
                smallest = other
            elif smallest.area[0] * smallest.area[1] > other.area[0] * other.area[1]:
                smallest = other
    return smallest


def _add_same_area(others: list[ResolvedCond], rc: ResolvedCond) -> None:
    """``create_cond_with_same_area_if_none``: appends ``rc``'s placement with the text of the
    smallest containing entry of ``others`` (unless that entry already has the same area)."""
    if rc.area is None:
        return
    smallest = _smallest_container(others, rc.area)
    if smallest is None or smallest.area == rc.area:
        return
    others.append(
        dataclasses.replace(rc, context=smallest.context, y=smallest.y, concat=smallest.concat)
    )


def resolve_sides(
    sides: Sequence[tuple[Sequence[Cond], Side]],
    model_sampling: ModelSampling,
    inputs: ModelInputs,
    bound: BoundControls | None = None,
) -> list[list[ResolvedCond]]:
    """Each side's entries resolved, then every area entry mirrored onto every other side, in
    ComfyUI's order (side by side, entry by entry, mirrors added earlier included); ``bound``:
    the run's bound control sources (None: fresh)."""
    bound = {} if bound is None else bound
    resolved = [[resolve_cond(c, side, model_sampling, inputs, bound) for c in conds]
                for conds, side in sides]
    for k, entries in enumerate(resolved):
        for rc in list(entries):
            for kk, others in enumerate(resolved):
                if kk != k:
                    _add_same_area(others, rc)
    return resolved


def resolve_conditioning(
    positive: Sequence[Cond],
    negative: Sequence[Cond],
    model_sampling: ModelSampling,
    inputs: ModelInputs,
) -> tuple[list[ResolvedCond], list[ResolvedCond]]:
    """Both sides resolved, each area entry mirrored onto the other side as ComfyUI does."""
    pos, neg = resolve_sides(((positive, "positive"), (negative, "negative")), model_sampling,
                             inputs)
    return pos, neg
