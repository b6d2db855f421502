"""The catalogue nodes (latent, mask, conditioning, primitive/string and legacy loader nodes
added to complete ComfyUI's SD-era set) are in the built-in pack, describe themselves and every
input, and the latent ones never modify their inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from nodes.builtin import BUILTIN_NODES
from nodes.conditioning.area_strength import ConditioningSetAreaStrength
from nodes.conditioning.inpaint import INPAINT_NODES
from nodes.latents import LATENT_CATALOGUE
from nodes.latents.operations import Sharpen
from nodes.masks import MASK_CATALOGUE
from nodes.models.legacy_loaders import LEGACY_LOADER_NODES
from nodes.payloads import Latent
from nodes.primitives import PRIMITIVE_NODES
from tests.nodes.images.helpers import FakeContext

CATALOGUE = [*LATENT_CATALOGUE, *MASK_CATALOGUE, ConditioningSetAreaStrength, *INPAINT_NODES,
             *PRIMITIVE_NODES, *LEGACY_LOADER_NODES]


def test_catalogue_nodes_are_builtin_and_self_describing() -> None:
    assert len({n.type_name for n in CATALOGUE}) == len(CATALOGUE) == 43
    for node in CATALOGUE:
        assert node in BUILTIN_NODES, node.type_name
        assert node.description(), node.type_name
        assert all(i.tooltip for i in node.inputs), node.type_name


def _snapshot(value: Any) -> Any:
    if isinstance(value, Latent):
        return {f.name: _snapshot(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    return value


def _same(before: Any, value: Any) -> bool:
    now = _snapshot(value)
    if isinstance(before, torch.Tensor):
        return torch.equal(before, now)
    if isinstance(before, dict):
        return all(_same(before[k], getattr(value, k)) for k in before)
    if isinstance(before, list):
        return all(_same(b, v) for b, v in zip(before, value, strict=True))
    return bool(before == now)


def test_latent_nodes_never_modify_their_inputs() -> None:
    gen = torch.Generator().manual_seed(3)
    lat = Latent(torch.randn((1, 4, 12, 12), generator=gen), torch.rand((1, 1, 96, 96)), (2,))
    other = Latent(torch.randn((1, 4, 6, 6), generator=gen))
    mask = torch.rand((6, 6), generator=gen)
    cases: dict[str, tuple[Any, ...]] = {
        "LatentCompositeMasked": (lat, other, 8, 8, False, mask),
        "LatentCrop": (lat, 64, 64, 8, 8), "LatentFlip": (lat, "x-axis: vertically"),
        "LatentRotate": (lat, "90 degrees"), "LatentConcat": (lat, lat, "-y"),
        "LatentCut": (lat, "x", 2, 3), "LatentAdd": (lat, other), "LatentSubtract": (lat, other),
        "LatentMultiply": (lat, 3.0), "LatentInterpolate": (lat, other, 0.3),
        "LatentBlend": (lat, other, 0.3), "LatentBatch": (lat, other),
        "LatentBatchSeedBehavior": (lat, "fixed"), "RebatchLatents": ([lat, lat], [1]),
        "LatentApplyOperation": (lat, Sharpen(2, 1.0, 0.5)),
    }
    by_name = {n.type_name: n for n in LATENT_CATALOGUE}
    for name, args in cases.items():
        before = [_snapshot(a) for a in args]
        by_name[name]().run(FakeContext(), *args)
        assert all(_same(b, a) for b, a in zip(before, args, strict=True)), name
