"""Extension point of the UNet's attention layers: processors around every attention call.

Passed explicitly to ``UNetModel.forward(..., attention=AttentionHooks(...))``; the model holds no
patch state. Every ``CrossAttention`` of the UNet (self-attention ``attn1`` and cross-attention
``attn2`` of each ``BasicTransformerBlock``) then computes

    to_out(processors[0](q, k, v, info, attend_1))

where ``attend_i(q, k, v)`` calls ``processors[i]`` with ``attend_{i+1}`` and the last one is
the default multi-head scaled-dot-product attention (:func:`multihead_attention`): processors
chain like middleware, the first outermost. ``q`` is (B, N, inner) and ``k`` / ``v`` are
(B, M, inner): the projections after ``to_q`` / ``to_k`` / ``to_v``, before the head split. A
processor returns (B, N, inner) and decides from ``info`` (kind, block, timestep ...) whether to
act; returning ``attend(q, k, v)`` unchanged passes the call through.

Before the projections, input patches change what is projected: an ``AttentionInputPatch``
(hypernetworks) keeps the shapes; an ``AttentionTokenPatch`` may change the query tokens
(HyperTile tiles them, ToMe merges them) and restores the output's tokens after ``to_out``.

This is what ComfyUI threads through ``transformer_options`` patches (``attn1_patch``,
``attn2_replace``, ``attn1_output_patch`` ...) for IP-Adapter, PAG, SAG, HyperTile, attention
couple; ``AttentionInfo.block`` uses ComfyUI's block ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

AttentionKind = Literal["self", "cross"]
BlockId = tuple[str, int]
"""ComfyUI's block id: ("input", i) / ("middle", 0) / ("output", i), i indexing
``input_blocks`` / ``output_blocks``."""

Attend = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``attend(q, k, v) -> (B, N, inner)``: the rest of the processor chain."""

COND, UNCOND = 0, 1


@dataclass(frozen=True, eq=False)
class AttentionInfo:
    """One attention call. ``eq=False``: it holds a tensor, so instances compare by identity.

    ``transformer_index`` is the ``BasicTransformerBlock``'s index inside its
    ``SpatialTransformer``; ``hw`` the spatial (h, w) of the N query tokens; ``timesteps`` the
    UNet's (B,) timestep input; ``cond_or_uncond`` which equal batch chunks are cond (0) or
    uncond (1), in batch order, empty when the caller did not say; ``original_shape`` the UNet
    input's (B, C, H, W) (ComfyUI's ``original_shape``; empty when not known); ``sigmas`` the
    (B,) noise levels of the rows (ComfyUI's ``extra_options["sigmas"]``), None when the caller
    did not say.
    """

    kind: AttentionKind
    block: BlockId
    transformer_index: int
    heads: int
    hw: tuple[int, int]
    timesteps: Tensor
    cond_or_uncond: tuple[int, ...] = ()
    original_shape: tuple[int, ...] = ()
    sigmas: Tensor | None = None


class AttentionInputPatch(Protocol):
    """Changes an attention call's inputs before the projections (ComfyUI's ``attn1_patch`` /
    ``attn2_patch``): from (x, context_k, context_v) — x (B, N, C) the normed hidden states,
    the contexts (B, M, C') that ``to_k`` / ``to_v`` project (x itself for self-attention) —
    to new ones of the same shapes. Hypernetworks live here."""

    def __call__(
        self, x: Tensor, context_k: Tensor, context_v: Tensor, info: AttentionInfo
    ) -> tuple[Tensor, Tensor, Tensor]: ...


Restore = Callable[[Tensor], Tensor]
"""Maps an attention output over changed query tokens back to the original tokens."""


@runtime_checkable
class AttentionTokenPatch(Protocol):
    """An input patch that changes the query tokens and restores them after the output
    projection (ComfyUI's ``attn1_patch`` / ``attn1_output_patch`` pairs: HyperTile tiles the
    tokens, ToMe merges similar ones). From (x, context_k, context_v) as for
    ``AttentionInputPatch`` it returns the queries' tokens x' (B', N', C), the contexts for the
    keys and values (B', M', C') and ``restore``, which maps the projected output (B', N', C)
    back to (B, N, C); or None to leave the call alone. Restores run in reverse order of the
    patches."""

    def split_tokens(
        self, x: Tensor, context_k: Tensor, context_v: Tensor, info: AttentionInfo
    ) -> tuple[Tensor, Tensor, Tensor, Restore] | None: ...


InputPatch = AttentionInputPatch | AttentionTokenPatch


class AttentionProcessor(Protocol):
    """Computes (B, N, inner) from q (B, N, inner), k and v (B, M, inner); ``attend`` is the rest
    of the chain (ending in the default attention)."""

    def __call__(
        self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, attend: Attend
    ) -> Tensor: ...


@dataclass(frozen=True)
class AttentionHooks:
    """The processors for one UNet forward (first outermost), the input patches (applied in
    order before the projections) and the batch's cond/uncond layout
    (``AttentionInfo.cond_or_uncond``) and noise levels (``AttentionInfo.sigmas``). ``None`` or
    neither processors nor patches: plain attention."""

    processors: tuple[AttentionProcessor, ...] = ()
    cond_or_uncond: tuple[int, ...] = ()
    input_patches: tuple[InputPatch, ...] = ()
    original_shape: tuple[int, ...] = ()  # the UNet input's (B, C, H, W); the UNet sets it
    sigmas: Tensor | None = None  # (B,) noise levels of the rows; None: not known

    def __post_init__(self) -> None:
        for i, processor in enumerate(self.processors):
            if not callable(processor):
                raise TypeError(f"processors[{i}]={processor!r} is not callable")
        for i, patch in enumerate(self.input_patches):
            if not callable(patch) and not isinstance(patch, AttentionTokenPatch):
                raise TypeError(f"input_patches[{i}]={patch!r} is neither callable nor an "
                                "AttentionTokenPatch")
        bad = [c for c in self.cond_or_uncond if c not in (COND, UNCOND)]
        if bad:
            raise ValueError(
                f"cond_or_uncond={self.cond_or_uncond!r} may hold only {COND} (cond) and "
                f"{UNCOND} (uncond)"
            )

    def check_batch(self, batch: int) -> None:
        """``cond_or_uncond`` must split a batch of ``batch`` rows into equal chunks."""
        if self.cond_or_uncond and batch % len(self.cond_or_uncond):
            raise ValueError(
                f"cond_or_uncond={self.cond_or_uncond!r} does not split batch={batch} into "
                "equal chunks"
            )

    def __bool__(self) -> bool:
        return bool(self.processors or self.input_patches)

    def patch_inputs(self, x: Tensor, context: Tensor, info: AttentionInfo
                     ) -> tuple[Tensor, Tensor, Tensor, tuple[Restore, ...]]:
        """(x, context_k, context_v) after the input patches, in order, and the restores of the
        token patches among them; a plain input patch must keep the shapes it is given."""
        context_k = context_v = context
        restores: list[Restore] = []
        for patch in self.input_patches:
            if isinstance(patch, AttentionTokenPatch):
                split = patch.split_tokens(x, context_k, context_v, info)
                if split is not None:
                    x, context_k, context_v, restore = split
                    restores.append(restore)
                continue
            new = patch(x, context_k, context_v, info)
            _check_same_shapes(patch, (x, context_k, context_v), new, info)
            x, context_k, context_v = new
        return x, context_k, context_v, tuple(restores)

    def run(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo, default: Attend) -> Tensor:
        """The processor chain around ``default``; checks the (B, N, inner) result."""
        attend = default
        for processor in reversed(self.processors):
            attend = _bind(processor, info, attend)
        out = attend(q, k, v)
        if out.shape != q.shape:
            raise ValueError(
                f"attention processors returned shape {tuple(out.shape)} for {info.kind} "
                f"attention in block {info.block} (transformer {info.transformer_index}); "
                f"need q's shape {tuple(q.shape)}"
            )
        return out


def _check_same_shapes(patch: object, before: tuple[Tensor, ...], after: tuple[Tensor, ...],
                       info: AttentionInfo) -> None:
    for name, old, new in zip(("x", "context_k", "context_v"), before, after, strict=True):
        if new.shape != old.shape:
            raise ValueError(
                f"attention input patch {patch!r} changed {name} from {tuple(old.shape)} to "
                f"{tuple(new.shape)} ({info.kind} attention in block {info.block}); patches "
                "that change tokens implement AttentionTokenPatch")


def _bind(processor: AttentionProcessor, info: AttentionInfo, attend: Attend) -> Attend:
    def bound(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return processor(q, k, v, info, attend)

    return bound


def multihead_attention(
    q: Tensor, k: Tensor, v: Tensor, heads: int, *, upcast: bool = False
) -> Tensor:
    """Scaled-dot-product attention over ``heads`` heads: q (B, N, inner), k and v (B, M, inner)
    -> (B, N, inner). ``upcast`` computes half-precision inputs in fp32 (``diffusion.dtypes``)."""
    b, n, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(t.shape[0], -1, heads, d).transpose(1, 2) for t in (q, k, v))
    # q: (B, heads, N, d); k, v: (B, heads, M, d)
    if upcast and q.dtype != torch.float32:
        out = F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(q.dtype)
    else:
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
    return out.transpose(1, 2).reshape(b, n, inner)  # (B, N, heads*d)
