"""A LoRA file's keys grouped into adapters (one per target layer), from keys and shapes only.

Every key is ``<module name>.<suffix>``; the suffix gives the tensor's role, whatever the tool:

* kohya / LyCORIS: ``lora_up.weight``, ``lora_down.weight``, ``lora_mid.weight``, ``alpha``,
  ``dora_scale``; ``hada_w1_a`` ... ``hada_t2`` (LoHa); ``lokr_w1`` ... ``lokr_t2`` (LoKr);
  ``weight`` + ``on_input`` (IA3); ``diff`` / ``diff_b`` (full weight / bias); ``w_norm`` /
  ``b_norm`` (norm layers).
* diffusers: ``lora.up.weight`` / ``lora.down.weight``, ``lora_linear_layer.up.weight`` ...,
  and the attention-processor form ``to_q_lora.up.weight``.
* PEFT: ``lora_B.weight`` (up), ``lora_A.weight`` (down), ``lora_magnitude_vector`` (DoRA);
  alphas from ``.alpha`` tensors or the file's ``lora_adapter_metadata`` (``peft_alpha``).

The longest matching suffix wins. Which model a module name belongs to is ``keys``' job.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from diffusion.patching.lora.deltas import (
    Delta,
    DiffDelta,
    DoraDelta,
    IA3Delta,
    LohaDelta,
    LokrDelta,
    LoraDelta,
)
from diffusion.patching.lora.errors import LoraFormatError
from diffusion.patching.lora.peft_alpha import PeftAlphas
from diffusion.patching.lora.tensors import LoraFile

logger = logging.getLogger(__name__)

_ROLES: dict[str, str] = {
    "lora_up.weight": "up",
    "lora_down.weight": "down",
    "lora_mid.weight": "mid",
    "lora.up.weight": "up",
    "lora.down.weight": "down",
    "lora_linear_layer.up.weight": "up",
    "lora_linear_layer.down.weight": "down",
    "up.weight": "up",  # diffusers' attention processors: ``attn1.processor.to_q_lora.up.weight``
    "down.weight": "down",
    "lora_B.weight": "up",
    "lora_A.weight": "down",
    "alpha": "alpha",
    "dora_scale": "dora_scale",
    "lora_magnitude_vector": "magnitude",
    "lora_magnitude_vector.weight": "magnitude",
    **{name: name for name in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")},
    **{name: name for name in ("hada_t1", "hada_t2", "lokr_w1", "lokr_w1_a", "lokr_w1_b")},
    **{name: name for name in ("lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")},
    "weight": "ia3",
    "on_input": "on_input",
    **{name: name for name in ("diff", "diff_b", "w_norm", "b_norm")},
}
_SUFFIXES = sorted(_ROLES, key=len, reverse=True)

Roles = dict[str, str]  # role -> file key


@dataclass(frozen=True, eq=False)
class Adapter:
    """One layer's change as the file describes it."""

    stem: str  # the module name as the file spells it
    target: Literal["weight", "bias"]
    delta: Delta
    keys: tuple[str, ...]  # the file keys it consumed


@dataclass(frozen=True)
class ParsedLora:
    adapters: tuple[Adapter, ...]
    stray: tuple[str, ...]  # keys that form no adapter (unknown suffixes, lone halves ...)


def split_key(key: str) -> tuple[str, str] | None:
    """``(module name, role)`` of a file key, or None when no known suffix ends it."""
    for suffix in _SUFFIXES:
        if key.endswith("." + suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix) - 1], _ROLES[suffix]
    return None


def group_keys(keys: list[str]) -> tuple[dict[str, Roles], list[str]]:
    """``{module name: {role: key}}`` and the keys with no known suffix or a repeated role."""
    groups: dict[str, Roles] = {}
    stray: list[str] = []
    for key in keys:
        split = split_key(key)
        if split is None:
            stray.append(key)
            continue
        stem, role = split
        roles = groups.setdefault(stem, {})
        if role in roles:
            logger.warning("two tensors for role %r of %r: %r, %r", role, stem, roles[role], key)
            stray.append(key)
            continue
        roles[role] = key
    return groups, stray


class _Reader:
    """Tensor access and alpha resolution for one group."""

    def __init__(self, lora: LoraFile, stem: str, roles: Roles, alphas: PeftAlphas) -> None:
        self.lora, self.stem, self.roles, self.alphas = lora, stem, roles, alphas
        self.used: set[str] = set()

    def get(self, role: str) -> Tensor:
        self.used.add(role)
        return self.lora.tensors[self.roles[role]]

    def opt(self, role: str) -> Tensor | None:
        return self.get(role) if role in self.roles else None

    def scale(self, rank: int) -> float:
        """alpha / rank (alpha / sqrt(rank) for rsLoRA); alpha absent or 0 means alpha = rank."""
        alpha, rslora = None, False
        if "alpha" in self.roles:
            value = self.get("alpha")
            if value.numel() != 1:
                raise self.fail(f"alpha has shape {tuple(value.shape)}, need one value")
            alpha = float(value.float().reshape(-1)[0])
        elif (peft := self.alphas.alpha_for(self.stem)) is not None:
            alpha, rslora = peft.alpha, peft.rslora
        if not alpha:
            return 1.0
        return alpha / (math.sqrt(rank) if rslora else rank)

    def fail(self, why: str) -> LoraFormatError:
        return LoraFormatError(f"{self.lora.name}: adapter {self.stem!r}: {why}")


def _rank_check(reader: _Reader, inner: int, outer: int, what: str) -> None:
    if inner != outer:
        raise reader.fail(f"{what} ranks disagree ({inner} != {outer})")


def _lora(reader: _Reader) -> Delta:
    up, down, mid = reader.get("up"), reader.get("down"), reader.opt("mid")
    rank = down.shape[0]
    _rank_check(reader, up.shape[1] if up.ndim > 1 else -1, rank, "lora_up / lora_down")
    if mid is not None and tuple(mid.shape[:2]) != (rank, rank):
        raise reader.fail(f"lora_mid shape {tuple(mid.shape)} does not match rank {rank}")
    return LoraDelta(up, down, mid, reader.scale(rank))


def _loha(reader: _Reader) -> Delta:
    w1a, w1b, w2a, w2b = (reader.get(f"hada_w{n}_{s}") for n in "12" for s in "ab")
    t1, t2 = reader.opt("hada_t1"), reader.opt("hada_t2")
    for wa, wb, core, n in ((w1a, w1b, t1, 1), (w2a, w2b, t2, 2)):
        inner = wa.shape[0] if core is not None else wa.shape[1]
        _rank_check(reader, inner, wb.shape[0], f"hada_w{n}_a / hada_w{n}_b")
    delta = LohaDelta(w1a, w1b, w2a, w2b, t1, t2, reader.scale(w1b.shape[0]))
    first, second = delta.factor_shapes()
    if math.prod(first) != math.prod(second) or first[0] != second[0]:
        raise reader.fail(f"hada_w1 implies ΔW {first}, hada_w2 implies {second}")
    return delta


def _lokr(reader: _Reader) -> Delta:
    w1, w1a, w1b = reader.opt("lokr_w1"), reader.opt("lokr_w1_a"), reader.opt("lokr_w1_b")
    w2, w2a, w2b = reader.opt("lokr_w2"), reader.opt("lokr_w2_a"), reader.opt("lokr_w2_b")
    t2 = reader.opt("lokr_t2")
    if w1 is None and (w1a is None or w1b is None):
        raise reader.fail("needs lokr_w1 or both lokr_w1_a and lokr_w1_b")
    if w2 is None and (w2a is None or w2b is None):
        raise reader.fail("needs lokr_w2 or both lokr_w2_a and lokr_w2_b")
    rank = None  # alpha scales only when a side is factorised (LyCORIS: full sides use 1)
    if w1 is None and w1a is not None and w1b is not None:
        _rank_check(reader, w1a.shape[1], w1b.shape[0], "lokr_w1_a / lokr_w1_b")
        rank = w1b.shape[0]
    if w2 is None and w2a is not None and w2b is not None:
        _rank_check(reader, w2a.shape[0 if t2 is not None else 1], w2b.shape[0], "lokr_w2")
        rank = w2b.shape[0]
    scale = reader.scale(rank) if rank is not None else 1.0
    if rank is None:
        reader.opt("alpha")  # consumed, and ignored as LyCORIS ignores it
    return LokrDelta(w1, w1a, w1b, w2, w2a, w2b, t2, scale)


def _ia3(reader: _Reader) -> Delta:
    flag = reader.get("on_input")
    return IA3Delta(reader.get("ia3"), bool(flag.reshape(-1)[0].item()))


def _complete_lokr(roles: Roles) -> bool:
    first = "lokr_w1" in roles or {"lokr_w1_a", "lokr_w1_b"} <= roles.keys()
    return first and ("lokr_w2" in roles or {"lokr_w2_a", "lokr_w2_b"} <= roles.keys())


def _has_all(*names: str) -> Callable[[Roles], bool]:
    return lambda roles: all(name in roles for name in names)


_Kind = tuple[tuple[str, ...], Callable[[Roles], bool], Callable[[_Reader], Delta]]
_WEIGHT_KINDS: tuple[_Kind, ...] = (
    (("up", "down"), _has_all("up", "down"), _lora),
    (("hada_w1_a", "hada_w2_a"), _has_all(*(f"hada_w{n}_{s}" for n in "12" for s in "ab")), _loha),
    (("lokr_w1", "lokr_w1_a", "lokr_w2", "lokr_w2_a"), _complete_lokr, _lokr),
    (("ia3", "on_input"), _has_all("ia3", "on_input"), _ia3),
    (("diff",), _has_all("diff"), lambda r: DiffDelta(r.get("diff"))),
    (("w_norm",), _has_all("w_norm"), lambda r: DiffDelta(r.get("w_norm"))),
)


def _weight_delta(reader: _Reader) -> Delta | None:
    """The group's weight adapter; None for none or half a one (its keys stay unmapped)."""
    for markers, complete, build in _WEIGHT_KINDS:
        if not any(role in reader.roles for role in markers):
            continue
        if not complete(reader.roles):
            return None
        delta = build(reader)
        if isinstance(delta, (LoraDelta, LohaDelta, LokrDelta)):
            delta = _with_dora(reader, delta)
        return delta
    return None


def _with_dora(reader: _Reader, delta: LoraDelta | LohaDelta | LokrDelta) -> Delta:
    if "dora_scale" in reader.roles:
        return DoraDelta(delta, reader.get("dora_scale"), "auto")
    if "magnitude" in reader.roles:
        return DoraDelta(delta, reader.get("magnitude"), "out")
    return delta


def _adapters(reader: _Reader) -> list[Adapter]:
    out: list[Adapter] = []
    weight = _weight_delta(reader)
    if weight is not None:
        keys = tuple(reader.roles[r] for r in sorted(reader.used))
        out.append(Adapter(reader.stem, "weight", weight, keys))
    for role in ("diff_b", "b_norm"):
        if role in reader.roles:
            bias = DiffDelta(reader.get(role))
            out.append(Adapter(reader.stem, "bias", bias, (reader.roles[role],)))
            break
    return out


def parse_adapters(lora: LoraFile) -> ParsedLora:
    """Every adapter in ``lora`` (sorted by module name) and the keys that form none."""
    groups, stray = group_keys(list(lora.tensors))
    alphas = PeftAlphas(lora.metadata, lora.name)
    adapters: list[Adapter] = []
    for stem in sorted(groups):
        reader = _Reader(lora, stem, groups[stem], alphas)
        adapters.extend(_adapters(reader))
        stray.extend(key for role, key in groups[stem].items() if role not in reader.used)
    return ParsedLora(tuple(adapters), tuple(sorted(stray)))


__all__ = ["Adapter", "ParsedLora", "group_keys", "parse_adapters", "split_key"]
