"""``lora_patches``: a LoRA file's adapters mapped onto target models as weight patches.

Each adapter's module name is looked up among every target's names (``keys``); among the
candidates, those whose parameter shape the adapter fits are kept. A name that fits nothing, or
fits parameters of two targets (a bare transformers name in an SDXL file whose two text encoders
have equal widths), stays unmapped and is reported with the keys that formed no adapter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from diffusion.patching.lora.errors import LoraMappingError
from diffusion.patching.lora.family import FAMILY_NAMES, guess_family
from diffusion.patching.lora.formats import Adapter, parse_adapters
from diffusion.patching.lora.keys import ModuleRef, ParamRef, target_aliases
from diffusion.patching.lora.patches import AdapterPatch
from diffusion.patching.lora.targets import TargetModel
from diffusion.patching.lora.tensors import LoraFile
from diffusion.patching.patch_set import PatchSet
from diffusion.unet.config import Family

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraMapping:
    """What ``lora_patches`` found: per-target patches, and what did not map."""

    name: str  # the LoRA's path or label
    patches: Mapping[str, tuple[AdapterPatch, ...]]  # every target; () at strength 0
    mapped: int  # file keys mapped onto some target (strength 0 included)
    unmapped: tuple[str, ...]  # file keys that map onto nothing, sorted
    family: Family | None  # guessed from the file's names and shapes

    @property
    def total(self) -> int:
        return self.mapped + len(self.unmapped)

    def patch_set(self, target: str, base: PatchSet = PatchSet.EMPTY) -> PatchSet:
        """``base`` followed by this LoRA's patches for ``target`` (stacking keeps order)."""
        if target not in self.patches:
            raise KeyError(f"target {target!r} was not mapped; mapped {sorted(self.patches)}")
        return base.plus(*self.patches[target])

    def guess_family(self) -> Family | None:
        return self.family

    def ensure_mapped(self) -> None:
        """Raises ``LoraMappingError`` when no key of the file maps onto the given models."""
        if self.mapped:
            return
        hint = ""
        if self.family is not None:
            hint = f"; it looks like an {FAMILY_NAMES[self.family]} LoRA"
        raise LoraMappingError(
            f"{self.name}: this LoRA maps to nothing in this model "
            f"({len(self.unmapped)} keys, e.g. {list(self.unmapped[:3])}){hint}"
        )


def _alias_index(targets: Mapping[str, TargetModel]) -> dict[str, list[ModuleRef]]:
    index: dict[str, list[ModuleRef]] = {}
    for name, target in targets.items():
        if target.name != name:
            raise ValueError(f"targets[{name!r}] is named {target.name!r}; keys must be names")
        for alias, ref in target_aliases(target).items():
            index.setdefault(alias, []).append(ref)
    return index


def _resolve(adapter: Adapter, index: Mapping[str, list[ModuleRef]]) -> ParamRef | None:
    found = (getattr(ref, adapter.target) for ref in index.get(adapter.stem, ()))
    params: list[ParamRef] = [p for p in found if p is not None]
    fitting = list(dict.fromkeys(p for p in params if adapter.delta.fits(p.shape)))
    if len(fitting) == 1:
        return fitting[0]
    if not params:
        logger.debug("%s: no module of the targets is named so", adapter.stem)
    elif not fitting:
        shapes = [p.shape for p in params]
        logger.warning(
            "%s (%s, ΔW %s) fits no target shape %s",
            adapter.stem,
            adapter.delta.kind,
            adapter.delta.shape,
            shapes,
        )
    else:
        logger.warning(
            "%s is ambiguous: fits %s", adapter.stem, [(p.target, p.key) for p in fitting]
        )
    return None


def _check_strengths(targets: Mapping[str, TargetModel], strengths: Mapping[str, float]) -> None:
    missing = sorted(set(targets) - set(strengths))
    extra = sorted(set(strengths) - set(targets))
    if missing or extra:
        raise KeyError(
            f"strengths must name exactly the targets {sorted(targets)}; "
            f"missing {missing}, unknown {extra}"
        )
    for name, strength in strengths.items():
        if not math.isfinite(float(strength)):
            raise ValueError(f"strengths[{name!r}]={strength} is not finite")


def _patch(lora: LoraFile, adapter: Adapter, ref: ParamRef, strength: float) -> AdapterPatch:
    file_key = adapter.stem if adapter.target == "weight" else adapter.stem + ":bias"
    return AdapterPatch(
        ref.key, adapter.delta, strength, lora.identity, file_key, ref.rows, ref.transpose
    )


def lora_patches(
    lora: LoraFile, targets: Mapping[str, TargetModel], strengths: Mapping[str, float]
) -> LoraMapping:
    """Maps every adapter of ``lora`` onto ``targets``; a target at strength 0 gets no patches."""
    _check_strengths(targets, strengths)
    parsed = parse_adapters(lora)
    index = _alias_index(targets)
    patches: dict[str, list[AdapterPatch]] = {name: [] for name in targets}
    mapped, unmapped = 0, list(parsed.stray)
    claimed: dict[ParamRef, str] = {}
    for adapter in parsed.adapters:
        ref = _resolve(adapter, index)
        if ref is not None and ref in claimed:  # one module spelled twice in one file
            logger.warning(
                "%s and %s both patch %s; keeping the first", claimed[ref], adapter.stem, ref.key
            )
            ref = None
        if ref is None:
            unmapped.extend(adapter.keys)
            continue
        claimed[ref] = adapter.stem
        mapped += len(adapter.keys)
        if strengths[ref.target] != 0:
            patches[ref.target].append(_patch(lora, adapter, ref, strengths[ref.target]))
    counts = {name: len(found) for name, found in patches.items()}
    logger.info(
        "%s: %d keys mapped (patches %s), %d unmapped", lora.name, mapped, counts, len(unmapped)
    )
    return LoraMapping(
        lora.name,
        {name: tuple(found) for name, found in patches.items()},
        mapped,
        tuple(sorted(unmapped)),
        guess_family(parsed.adapters),
    )


__all__ = ["LoraMapping", "lora_patches"]
