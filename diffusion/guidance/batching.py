"""Per-step evaluation of all conditioning entries (ComfyUI's ``calc_cond_batch``).

Every active entry becomes a chunk: the rows of x inside its area, a weight (``mult``: mask x
mask_strength x strength, or strength with an 8-cell linear feather on area edges that are not
on the latent border) and its model inputs. Chunks that can share a forward (same input shape,
same control hooks, same extra inputs, token lengths within 4x of each other's LCM) are batched,
as many per forward as ``max_batch_area`` allows; cross-attention of different lengths is repeated
to the LCM length (attention over a repeated key set is unchanged). Each side's result is
``sum(denoised * mult) / (1e-37 + sum(mult))`` over its entries.

Weight hooks (``diffusion.guidance.hooked``): an entry with a hook group is evaluated with the
model patched by that group at the step's keyframe strengths (``HookedApply``); chunks of
different groups, or of one group at different strengths, never share a forward, and unhooked
chunks use ``apply`` itself. Default entries fill in the weight the others leave (``defaults``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.cond import ControlHook, ControlInputs
from diffusion.guidance.defaults import default_weight, remaining_weights
from diffusion.guidance.hook_schedule import ActiveHooks, KeyframeClock
from diffusion.guidance.resolve import AreaTuple, ResolvedCond
from diffusion.guidance.shapes import repeat_to_batch_size
from diffusion.unet.hooks import UNetResiduals

FEATHER = 8  # ComfyUI's area edge ramp, in latent cells
MAX_TOKEN_REPEAT = 4  # ComfyUI's limit on repeating cross-attention to a common length

ApplyModel = Callable[
    [Tensor, Tensor, Tensor, "Tensor | None", "Tensor | None", "UNetResiduals | None",
     tuple[int, ...]],
    Tensor,
]
"""``apply(x, sigma, context, y, concat, residuals, cond_or_uncond) -> denoised`` for a batch of
rows; ``cond_or_uncond`` gives each equal chunk's side (0 positive, 1 negative)."""


@dataclass(frozen=True, eq=False)
class HookedApply:
    """How hooked entries are evaluated in one run: the run's keyframe clock, and the model
    application for a hook group at its current strengths."""

    clock: KeyframeClock
    apply_for: Callable[[ActiveHooks], ApplyModel]


@dataclass(frozen=True, eq=False)
class Chunk:
    side: int  # index into the list of sides (0 = positive, 1 = negative)
    input_x: Tensor  # (B, C, h, w)
    mult: Tensor  # (B, C, h, w)
    context: Tensor  # (B, T, C)
    y: Tensor | None  # (B, adm)
    concat: Tensor | None  # (B, k, h, w)
    area: AreaTuple | None
    control: tuple[ControlHook, ...]
    hooks: ActiveHooks | None = None  # the weights it is evaluated with (None: plain model)


def _feather(mult: Tensor, area: AreaTuple, full: tuple[int, int]) -> None:
    """In place: linear ramps on the edges of ``area`` that are inside the latent."""
    for dim in range(2):
        size, offset = area[dim], area[2 + dim]
        rr = min(FEATHER, mult.shape[2 + dim] // 4)
        for t in range(rr):
            ramp = (1.0 / rr) * (t + 1)
            if offset != 0:
                mult.narrow(2 + dim, t, 1).mul_(ramp)
            if size + offset < full[dim]:
                mult.narrow(2 + dim, size - 1 - t, 1).mul_(ramp)


def _clip_area(area: AreaTuple | None, height: int, width: int) -> AreaTuple | None:
    if area is None:
        return None
    h, w, y, x = area
    return (min(height - y, h), min(width - x, w), y, x)


def _weights(rc: ResolvedCond, input_x: Tensor, area: AreaTuple | None) -> Tensor:
    batch, channels = input_x.shape[:2]
    if rc.mask is None:
        return torch.ones_like(input_x) * rc.strength  # (B, C, h, w)
    mask = rc.mask[:batch].to(input_x)  # (b, H, W)
    if batch % mask.shape[0]:
        raise ValueError(
            f"a mask batch of {mask.shape[0]} does not divide the latent batch {batch}"
        )
    if area is not None:
        h, w, y, x = area
        mask = mask[:, y : y + h, x : x + w]  # (b, h, w)
    mask = mask * rc.mask_strength
    mask = mask.unsqueeze(1).repeat(batch // mask.shape[0], channels, 1, 1)  # (B, C, h, w)
    return mask * rc.strength


def make_chunk(rc: ResolvedCond, side: int, x: Tensor, sigma: Tensor) -> Chunk | None:
    """ComfyUI's ``get_area_and_mult``: None when the entry is outside its sigma range."""
    current = float(sigma[0])
    if current > rc.sigma_start or current < rc.sigma_end:
        return None
    batch, _, height, width = x.shape
    area = _clip_area(rc.area, height, width)
    input_x = x
    concat = rc.concat
    if area is not None:
        h, w, y, x0 = area
        input_x = x[:, :, y : y + h, x0 : x0 + w]  # (B, C, h, w)
        if concat is not None:
            concat = concat[:, :, y : y + h, x0 : x0 + w]  # (B, k, h, w)
    mult = _weights(rc, input_x, area)
    if rc.mask is None and area is not None:
        _feather(mult, area, (height, width))
    return Chunk(
        side=side,
        input_x=input_x,
        mult=mult,
        context=repeat_to_batch_size(rc.context, batch),
        y=None if rc.y is None else repeat_to_batch_size(rc.y, batch),
        concat=None if concat is None else repeat_to_batch_size(concat, batch),
        area=area,
        control=rc.control,
    )


def _context_compatible(a: Tensor, b: Tensor) -> bool:
    """``CONDCrossAttn.can_concat``."""
    if a.shape == b.shape:
        return True
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        return False
    return math.lcm(a.shape[1], b.shape[1]) // min(a.shape[1], b.shape[1]) <= MAX_TOKEN_REPEAT


def _optional_same_shape(a: Tensor | None, b: Tensor | None) -> bool:
    if (a is None) != (b is None):
        return False
    return a is None or b is None or a.shape == b.shape


def can_batch(a: Chunk, b: Chunk) -> bool:
    """``can_concat_cond``: one forward can carry both chunks."""
    if a.input_x.shape != b.input_x.shape:
        return False
    if len(a.control) != len(b.control):
        return False
    if any(p is not q for p, q in zip(a.control, b.control, strict=True)):
        return False
    if a.hooks != b.hooks:
        return False
    return (
        _context_compatible(a.context, b.context)
        and _optional_same_shape(a.y, b.y)
        and _optional_same_shape(a.concat, b.concat)
    )


def concat_context(contexts: Sequence[Tensor]) -> Tensor:
    """``CONDCrossAttn.concat``: each repeated along tokens to the LCM length, then stacked."""
    length = math.lcm(*(c.shape[1] for c in contexts))
    out = [c.repeat(1, length // c.shape[1], 1) for c in contexts]  # (b, length, C) each
    return torch.cat(out)  # (sum b, length, C)


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


def _merge_lists(a: Sequence[Tensor | None], b: Sequence[Tensor | None]
                 ) -> tuple[Tensor | None, ...]:
    """Element-wise sum; the shorter list counts as padded with None."""
    longest = max(len(a), len(b))
    padded_a = [*a, *([None] * (longest - len(a)))]
    padded_b = [*b, *([None] * (longest - len(b)))]
    return tuple(_add(x, y) for x, y in zip(padded_a, padded_b, strict=True))


def merge_residuals(parts: Sequence[UNetResiduals]) -> UNetResiduals | None:
    """The sum of several hooks' residuals (ComfyUI chains ControlNets by adding outputs)."""
    if not parts:
        return None
    skips: Sequence[Tensor | None] = parts[0].skips
    inputs: Sequence[Tensor | None] = parts[0].inputs
    middle = parts[0].middle
    for part in parts[1:]:
        if skips and part.skips and len(part.skips) != len(skips):
            raise ValueError(
                f"control hooks returned {len(skips)} and {len(part.skips)} skip residuals"
            )
        skips = _merge_lists(skips, part.skips)
        inputs = _merge_lists(inputs, part.inputs)
        middle = _add(middle, part.middle)
    return UNetResiduals(skips=tuple(skips), middle=middle, inputs=tuple(inputs))


def _control_residuals(
    hooks: tuple[ControlHook, ...], inputs: ControlInputs
) -> UNetResiduals | None:
    outputs = [hook(inputs) for hook in hooks]
    return merge_residuals([r for r in outputs if r is not None])


def _pick_batch(to_run: list[Chunk], max_batch_area: int | None) -> list[int]:
    """Indices (descending) of the chunks for the next forward, as ComfyUI picks them: all that
    can join the first one, else the largest 1/i of them that fits ``max_batch_area``."""
    first = to_run[0]
    candidates = [i for i, c in enumerate(to_run) if can_batch(c, first)]
    candidates.reverse()
    rows, _, h, w = first.input_x.shape
    for i in range(1, len(candidates) + 1):
        amount = candidates[: len(candidates) // i]
        if max_batch_area is None or len(amount) * rows * h * w <= max_batch_area:
            return amount
    return candidates[:1]


def _run_batch(apply: ApplyModel, batch: list[Chunk], sigma: Tensor) -> list[Tensor]:
    input_x = torch.cat([c.input_x for c in batch])  # (n * B, C, h, w)
    sigmas = torch.cat([sigma] * len(batch))  # (n * B,)
    context = concat_context([c.context for c in batch])  # (n * B, T, C)
    ys = [c.y for c in batch if c.y is not None]
    y = torch.cat(ys) if ys else None  # (n * B, adm)
    concats = [c.concat for c in batch if c.concat is not None]
    concat = torch.cat(concats) if concats else None  # (n * B, k, h, w)
    residuals = None
    if batch[0].control:
        inputs = ControlInputs(input_x, sigmas, context, y, tuple(c.side for c in batch))
        residuals = _control_residuals(batch[0].control, inputs)
    output = apply(input_x, sigmas, context, y, concat, residuals, tuple(c.side for c in batch))
    return list(output.chunk(len(batch)))


def _entry_chunk(rc: ResolvedCond, side: int, x: Tensor, sigma: Tensor,
                 hooked: HookedApply | None) -> Chunk | None:
    """``make_chunk`` plus, for a hooked entry, its hooks at this step's keyframe strengths."""
    chunk = make_chunk(rc, side, x, sigma)
    if chunk is None or rc.hooks is None:
        return chunk
    if hooked is None:
        raise ValueError(
            f"a conditioning entry has weight hooks ({rc.hooks.summary()}) but the model "
            "has no provider of hooked weights (GuidedModel.unet_for)"
        )
    return dataclasses.replace(chunk, hooks=hooked.clock.active(rc.hooks, float(sigma[0])))


def _default_chunks(defaults: list[list[ResolvedCond]], used: list[Chunk], x: Tensor,
                    sigma: Tensor, hooked: HookedApply | None) -> list[Chunk]:
    """The active default entries of each side, weighted by what ``used`` leaves."""
    remaining = remaining_weights(x, [bool(d) for d in defaults],
                                  ((c.side, c.area, c.mult) for c in used))
    out = []
    for side, weight in enumerate(remaining):
        if weight is None:
            continue
        for rc in defaults[side]:
            chunk = _entry_chunk(rc, side, x, sigma, hooked)
            if chunk is not None:
                out.append(dataclasses.replace(chunk, mult=default_weight(weight, chunk.area)))
    return out


def _chunks(sides: Sequence[Sequence[ResolvedCond] | None], x: Tensor, sigma: Tensor,
            hooked: HookedApply | None) -> list[Chunk]:
    """Every active entry's chunk, in side and entry order, then the default entries'."""
    to_run: list[Chunk] = []
    defaults: list[list[ResolvedCond]] = []
    for side, entries in enumerate(sides):
        defaults.append([rc for rc in entries or () if rc.default])
        for rc in entries or ():
            chunk = None if rc.default else _entry_chunk(rc, side, x, sigma, hooked)
            if chunk is not None:
                to_run.append(chunk)
    if any(defaults):
        to_run += _default_chunks(defaults, to_run, x, sigma, hooked)
    return to_run


def calc_cond_batch(
    apply: ApplyModel,
    sides: Sequence[Sequence[ResolvedCond] | None],
    x: Tensor,
    sigma: Tensor,
    *,
    max_batch_area: int | None = None,
    hooked: HookedApply | None = None,
) -> list[Tensor]:
    """The weighted denoised prediction of each side (None = skipped side, result 0).

    ``max_batch_area`` bounds rows x h x w per forward (None: no bound). ``hooked`` evaluates
    entries with weight hooks (required when one is active).
    """
    outs = [torch.zeros_like(x) for _ in sides]
    counts = [torch.ones_like(x) * 1e-37 for _ in sides]
    if hooked is not None:
        hooked.clock.observe(float(sigma[0]))
    to_run = _chunks(sides, x, sigma, hooked)
    while to_run:
        batch = [to_run.pop(i) for i in _pick_batch(to_run, max_batch_area)]
        active = batch[0].hooks
        batch_apply = apply if active is None or hooked is None else hooked.apply_for(active)
        for chunk, output in zip(batch, _run_batch(batch_apply, batch, sigma), strict=True):
            out, count = outs[chunk.side], counts[chunk.side]
            if chunk.area is not None:
                h, w, y, x0 = chunk.area
                out = out[:, :, y : y + h, x0 : x0 + w]  # view (B, C, h, w)
                count = count[:, :, y : y + h, x0 : x0 + w]  # view (B, C, h, w)
            out += output * chunk.mult
            count += chunk.mult
    return [out / count for out, count in zip(outs, counts, strict=True)]
