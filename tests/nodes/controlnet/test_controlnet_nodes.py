"""The apply nodes chain control applications as ComfyUI does; strength 0 is a no-op; the
union type node only changes Union ControlNets; Canny returns an RGB edge image."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import torch

from diffusion.control import ControlNetConfig, ControlNetSpec, ResidentModule
from diffusion.guidance import Cond
from diffusion.unet import UNetConfig
from nodes.controlnet.apply import (
    ControlNetApply,
    ControlNetApplyAdvanced,
    SetUnionControlNetType,
)
from nodes.controlnet.canny import Canny

UNET = UNetConfig(in_channels=4, out_channels=4, model_channels=32, channel_mult=(1,),
                  num_res_blocks=(1,), transformer_depth=(0,), transformer_depth_output=(0, 0),
                  transformer_depth_middle=-1, context_dim=8, num_heads=1)


class Ctx(SimpleNamespace):
    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value


def _ctx() -> Ctx:
    return Ctx(log=logging.getLogger("test"), notes={})


def _spec(union: int | None = None) -> ControlNetSpec:
    return ControlNetSpec(ResidentModule(torch.nn.Linear(1, 1)),
                          ControlNetConfig(UNET, 3, union), "cn.safetensors")


def _conds(n: int) -> tuple[Cond, ...]:
    return tuple(Cond(torch.zeros(1, 2, 8)) for _ in range(n))


def test_advanced_shares_one_application_per_existing_chain() -> None:
    node, image = ControlNetApplyAdvanced(), torch.rand(1, 16, 16, 3)
    pos, neg = node.run(_ctx(), _conds(2), _conds(1), _spec(), image, 0.5, 0.1, 0.9)
    first = pos[0].control[0]
    assert all(c.control == (first,) for c in (*pos, *neg))
    assert first.hint.shape == (1, 3, 16, 16) and first.strength == 0.5
    assert (first.start_percent, first.end_percent) == (0.1, 0.9)
    pos2, neg2 = node.run(_ctx(), pos, neg, _spec(), image, 1.0, 0.0, 1.0)
    assert pos2[0].control[0] is first and len(pos2[0].control) == 2
    assert pos2[1].control[1] is neg2[0].control[1]  # same previous chain -> same new link
    assert pos[0].control == (first,)  # inputs untouched


def test_strength_zero_returns_the_inputs() -> None:
    pos, neg = _conds(1), _conds(1)
    out = ControlNetApplyAdvanced().run(_ctx(), pos, neg, _spec(), torch.rand(1, 8, 8, 3), 0.0,
                                        0.0, 1.0)
    assert out[0] is pos and out[1] is neg
    assert ControlNetApply().run(_ctx(), pos, _spec(), torch.rand(1, 8, 8, 3), 0.0)[0] is pos


def test_legacy_apply_gives_each_entry_its_own_application() -> None:
    (out,) = ControlNetApply().run(_ctx(), _conds(2), _spec(), torch.rand(1, 8, 8, 3), 1.0)
    assert out[0].control[0] is not out[1].control[0]


def test_union_type() -> None:
    ctx = _ctx()
    (typed,) = SetUnionControlNetType().run(ctx, _spec(8), "depth")
    assert typed.control_type == (1,)
    (auto,) = SetUnionControlNetType().run(ctx, typed, "auto")
    assert auto.control_type == ()
    plain = _spec()
    (same,) = SetUnionControlNetType().run(ctx, plain, "depth")
    assert same is plain and ctx.notes["union_type"]["applied"] is False


def test_canny_node_returns_rgb_edges() -> None:
    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 1.0
    (edges,) = Canny().run(_ctx(), image, 0.4, 0.8)
    assert edges.shape == (1, 32, 32, 3)
    assert torch.equal(edges[..., 0], edges[..., 2]) and edges.sum() > 0
