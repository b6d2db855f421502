"""Pre-CFG functions (ComfyUI's ``sampler_pre_cfg_function``): they see both sides' predictions
of a plain CFG step and replace them before the combination; none at all is bit-identical to a
model without hooks."""

from __future__ import annotations

import dataclasses

import torch
from _guidance_testlib import ToyUNet, text, toy_model
from torch import Tensor

from diffusion.guidance import CFGGuider, ModelHooks, PreCFGArgs, sample
from diffusion.sampling import SeededNoise, get_sampler, ksampler_sigmas

SHAPE = (1, 4, 8, 8)


def _run(model: object, cfg: float = 5.0) -> Tensor:
    guider = CFGGuider(model, (text(0.3),), (text(-1.0),), cfg)  # type: ignore[arg-type]
    sigmas = ksampler_sigmas(guider.model.model_sampling, "euler", "normal", 2)
    return sample(guider, get_sampler("euler"), sigmas, SeededNoise(3), torch.zeros(SHAPE))


def test_an_empty_pre_cfg_list_is_bit_identical() -> None:
    plain = toy_model(ToyUNet())
    empty = dataclasses.replace(toy_model(ToyUNet()), hooks=ModelHooks(pre_cfg=()))
    assert not ModelHooks(pre_cfg=())
    assert torch.equal(_run(plain), _run(empty))


def test_pre_cfg_functions_replace_the_predictions_before_cfg() -> None:
    seen: list[PreCFGArgs] = []

    def swap(args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        seen.append(args)
        return args.uncond_denoised, args.cond_denoised

    def negate_cfg(model: object) -> Tensor:  # cfg -4 == swapping the sides at cfg 5
        return _run(model, cfg=-4.0)

    hooks = ModelHooks().plus(pre_cfg=(swap,))
    swapped = _run(dataclasses.replace(toy_model(), hooks=hooks))
    assert len(seen) == 2 and seen[0].cond_scale == 5.0 and seen[0].x.shape == SHAPE
    # uncond + (cond - uncond) * 5 with the sides swapped is cond + (uncond - cond) * 5,
    # which is uncond + (cond - uncond) * -4
    assert torch.allclose(swapped, negate_cfg(toy_model()), atol=1e-5)
