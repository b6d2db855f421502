"""TorchCompileModel's opt-in compiled network on a tiny UNet: a sampling run through
``torch.compile`` (inductor, on this CPU) matches the eager run within 1e-4 (relative to the
latent's scale), and the module is compiled once while it lives.

Marked slow: inductor's first compile of even a tiny UNet takes tens of seconds to minutes on
a loaded 2-core machine (C++ code generation), which the fast suite cannot afford."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffusion.guidance import CFGGuider, sample
from diffusion.model_patches import TorchCompile
from diffusion.sampling import SeededNoise, get_sampler, ksampler_sigmas
from tests.diffusion.guidance._guidance_testlib import text, tiny_model


@pytest.mark.slow
def test_compiled_sampling_matches_eager() -> None:
    model = tiny_model("sd1")
    positive, negative = (text(0.5, channels=24),), (text(-0.3, channels=24),)
    sigmas = ksampler_sigmas(model.model_sampling, "euler", "normal", 3)
    compile_patch = TorchCompile("inductor")
    compiled = dataclasses.replace(model, hooks=compile_patch.add_to(model.hooks))

    def run(m: object) -> torch.Tensor:
        guider = CFGGuider(m, positive, negative, 5.0)  # type: ignore[arg-type]
        return sample(guider, get_sampler("euler"), sigmas, SeededNoise(3),
                      torch.zeros(1, 4, 16, 16))

    eager, fast = run(model), run(compiled)
    scale = float(eager.abs().max())
    assert float((fast - eager).abs().max()) <= 1e-4 * scale
    assert len(compile_patch._compiled) == 1  # one compiled module, reused by every call
    assert torch.equal(run(compiled), fast)
