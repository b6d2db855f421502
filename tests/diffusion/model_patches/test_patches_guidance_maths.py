"""The maths of the guidance patches on small tensors, against hand-computed expectations or the
formula as ComfyUI documents it: RescaleCFG, Perp-Neg, CFGNorm, CFG-Zero*, Mahiro, Epsilon
Scaling, APG (with its per-run momentum), TCFG, FreSca and Differential Diffusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from diffusion.guidance import CFGArgs, MaskStep, PostCFGArgs, PreCFGArgs, RunState
from diffusion.guidance.perp_neg import perp_neg
from diffusion.model_patches import (
    APG,
    TCFG,
    CFGNorm,
    CFGZeroStar,
    DifferentialDiffusion,
    EpsilonScaling,
    FreSca,
    Mahiro,
    PerpNegCFG,
    RescaleCFG,
)
from diffusion.model_patches.pre_cfg_functions import project, tangential_damping
from diffusion.sampling import ModelSamplingDiscrete

GEN = torch.Generator().manual_seed(0)


def rand(*shape: int) -> Tensor:
    return torch.randn(*shape, generator=GEN)


def post(denoised: Tensor, cond: Tensor, uncond: Tensor, scale: float = 5.0,
         x: Tensor | None = None) -> PostCFGArgs:
    return PostCFGArgs(denoised, cond, uncond, scale, torch.tensor([2.0]),
                       torch.zeros_like(cond) if x is None else x)


def test_rescale_cfg_is_comfyuis_formula_on_eps_predictions() -> None:
    cond, uncond, x = rand(2, 4, 3, 3), rand(2, 4, 3, 3), rand(2, 4, 3, 3)
    sigma, scale, multiplier = torch.tensor([1.5, 0.5]), 6.0, 0.7
    # ComfyUI's rescale_cfg sees cond = x - cond_x0 (its "cond") and returns x minus the result
    s = sigma.view(2, 1, 1, 1)
    eps_c, eps_u = x - cond, x - uncond
    xs = x / (s * s + 1.0)
    v_c = ((xs - (x - eps_c)) * (s**2 + 1.0) ** 0.5) / s
    v_u = ((xs - (x - eps_u)) * (s**2 + 1.0) ** 0.5) / s
    v_cfg = v_u + scale * (v_c - v_u)
    v_final = (multiplier * v_cfg * (v_c.std(dim=(1, 2, 3), keepdim=True)
                                     / v_cfg.std(dim=(1, 2, 3), keepdim=True))
               + (1 - multiplier) * v_cfg)
    comfy = x - (x - (xs - v_final * s / (s * s + 1.0) ** 0.5))
    got = RescaleCFG(multiplier)(CFGArgs(cond, uncond, scale, sigma, x))
    assert torch.allclose(got, comfy, atol=1e-5)
    plain = RescaleCFG(0.0)(CFGArgs(cond, uncond, scale, sigma, x))
    assert torch.allclose(plain, uncond + scale * (cond - uncond), atol=1e-4)


class FixedModel:
    """A ModelAccess that answers every call with one tensor and records the calls."""

    def __init__(self, answer: Tensor) -> None:
        self.answer = answer
        self.calls: list[tuple[str, object]] = []

    def cond(self, x: Tensor, sigma: Tensor, attention: Sequence[object] = ()) -> Tensor:
        self.calls.append(("cond", tuple(attention)))
        return self.answer

    def uncond(self, x: Tensor, sigma: Tensor, attention: Sequence[object] = ()) -> Tensor:
        self.calls.append(("uncond", tuple(attention)))
        return self.answer

    def conditioning(self, conds: Sequence[object], side: str, x: Tensor, sigma: Tensor,
                     attention: Sequence[object] = ()) -> Tensor:
        self.calls.append((side, tuple(conds)))
        return self.answer


def test_perp_neg_pushes_only_along_the_perpendicular_negative() -> None:
    empty = torch.zeros(1, 2, 1, 1)
    pos = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    parallel_neg = torch.tensor([3.0, 0.0]).view(1, 2, 1, 1)
    assert torch.allclose(perp_neg(pos, parallel_neg, empty, 1.0, 4.0), 4.0 * pos)
    neg = torch.tensor([2.0, 1.0]).view(1, 2, 1, 1)  # perpendicular part (0, 1)
    expected = torch.tensor([4.0, -4.0 * 0.5]).view(1, 2, 1, 1)
    assert torch.allclose(perp_neg(pos, neg, empty, 0.5, 4.0), expected)
    model = FixedModel(empty)
    marker = object()
    got = PerpNegCFG((marker,), 0.5)(  # type: ignore[arg-type]
        CFGArgs(pos, neg, 4.0, torch.tensor([1.0]), torch.zeros_like(pos), model))
    assert torch.allclose(got, expected) and model.calls == [("negative", (marker,))]


def test_cfg_norm_scales_down_to_the_conditional_norm() -> None:
    # (B, C=2, 1, W=2): pixel 0 guided (2, 0), pixel 1 guided (.5, 0); both conds (1, 0)
    denoised = torch.tensor([2.0, 0.5, 0.0, 0.0]).view(1, 2, 1, 2)
    cond = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 2, 1, 2)
    # pixel 0: |guided| 2, |cond| 1 -> halved; pixel 1: |cond| 1 > |guided| .5 -> unchanged
    got = CFGNorm(0.5)(post(denoised, cond, cond))  # then x strength .5
    assert torch.allclose(got, torch.tensor([0.5, 0.25, 0.0, 0.0]).view(1, 2, 1, 2))


def test_cfg_zero_star_by_hand() -> None:
    uncond = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    cond = 2 * uncond  # with x = 0 the noise predictions are -cond, -uncond: alpha = 2
    denoised = torch.full((1, 2, 1, 1), 7.0)
    got = CFGZeroStar()(post(denoised, cond, uncond, scale=3.0))
    assert torch.allclose(got, denoised + uncond * (2 - 1) + 3.0 * uncond * (1 - 2), atol=1e-6)


def test_mahiro_blends_by_the_similarity_of_the_leaps() -> None:
    c = torch.full((1, 2, 2, 2), 0.5)
    same = post(torch.full_like(c, 3.0), c, c, scale=4.0)  # all positive: similarity 1
    assert torch.allclose(Mahiro()(same), same.denoised)
    opposite = post(torch.full_like(c, 9.0), c, -c, scale=4.0)  # merge > 0 > u_leap
    assert torch.allclose(Mahiro()(opposite), c * 4.0)


def test_epsilon_scaling_divides_the_noise_prediction() -> None:
    x, denoised = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5)
    assert float(EpsilonScaling(2.0)(post(denoised, x, x, x=x))) == 0.75


def pre(cond: Tensor, uncond: Tensor, sigma: float = 5.0, scale: float = 2.0,
        skipped: bool = False) -> PreCFGArgs:
    return PreCFGArgs(cond, uncond, scale, torch.tensor([sigma]), torch.zeros_like(cond),
                      skipped)


def test_apg_projects_and_caps_the_guidance() -> None:
    v0, v1 = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1), torch.tensor([2.0, 0.0]).view(1, 2, 1, 1)
    parallel, orthogonal = project(v0, v1)
    assert torch.allclose(parallel.flatten(), torch.tensor([1.0, 0.0]))
    assert torch.allclose(orthogonal.flatten(), torch.tensor([0.0, 1.0]))
    cond, uncond = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    # guidance (3, 4) has norm 5, capped to 1 -> (.6, .8), all parallel to cond; eta .5
    new_cond, new_uncond = APG(0.5, 1.0, 0.0)(pre(cond, uncond, scale=2.0))
    assert new_uncond is uncond
    assert torch.allclose(new_cond, 0.5 * torch.tensor([0.6, 0.8]).view(1, 2, 1, 1) + cond / 2)


def test_apg_momentum_accumulates_per_run_and_resets_when_sigma_rises() -> None:
    cond, uncond = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    apg = APG(1.0, 0.0, 0.5).bind_run(RunState())

    def guided(sigma: float) -> float:  # eta 1, no cap: new cond = avg + cond / scale
        return float(apg(pre(cond, uncond, sigma, scale=1.0))[0][0, 0, 0, 0]) - 1.0

    assert guided(5.0) == 1.0  # average = g
    assert guided(4.0) == 1.5  # .5 * 1 + 1
    assert guided(3.0) == 1.75
    assert guided(9.0) == 1.0  # sigma rose: a new run of the schedule
    other = APG(1.0, 0.0, 0.5).bind_run(RunState())  # another run starts fresh
    assert float(other(pre(cond, uncond, 2.0, scale=1.0))[0][0, 0, 0, 0]) - 1.0 == 1.0


def test_tcfg_keeps_the_aligned_part_of_the_negative() -> None:
    cond = torch.tensor([2.0, 0.0]).view(1, 2, 1, 1)
    assert torch.allclose(tangential_damping(cond, torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)),
                          torch.zeros(1, 2, 1, 1), atol=1e-6)  # orthogonal: dropped
    aligned = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    assert torch.allclose(tangential_damping(cond, aligned), aligned, atol=1e-6)
    args = pre(torch.ones(1, 2, 1, 1), torch.zeros(1, 2, 1, 1), skipped=True)
    assert TCFG()(args) == (args.cond_denoised, args.uncond_denoised)


def test_fresca_scales_the_guidance_by_band() -> None:
    cond, uncond = torch.full((1, 1, 4, 4), 3.0), torch.ones(1, 1, 4, 4)
    new_cond, _ = FreSca(scale_low=0.5, scale_high=2.0, freq_cutoff=1)(pre(cond, uncond))
    assert torch.allclose(new_cond, uncond + 0.5 * (cond - uncond), atol=1e-6)  # constant: low
    args = pre(cond, uncond, skipped=True)
    assert FreSca()(args) == (cond, uncond)


def test_differential_diffusion_thresholds_the_mask_by_the_step() -> None:
    ms = ModelSamplingDiscrete()
    sigmas = torch.tensor([float(ms.sigma_max), 1.0, 0.0])
    mask = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4)

    def at(sigma: float, strength: float = 1.0) -> list[float]:
        step = MaskStep(torch.tensor([sigma]), mask, sigmas, ms)
        return DifferentialDiffusion(strength)(step).flatten().tolist()

    assert at(float(ms.sigma_max)) == [0.0, 0.0, 0.0, 1.0]  # threshold 1 at the first step
    assert at(float(ms.sigma_min)) == [1.0, 1.0, 1.0, 1.0]  # 0 at the schedule's end
    t = float((ms.timestep(torch.tensor(1.0)) - ms.timestep(ms.sigma_min))
              / (ms.timestep(ms.sigma_max) - ms.timestep(ms.sigma_min)))
    assert at(1.0) == [float(v >= t) for v in (0.0, 0.25, 0.5, 1.0)]
    assert at(float(ms.sigma_max), 0.5) == [0.0, 0.125, 0.25, 1.0]  # blend with the soft mask
    assert at(float(ms.sigma_max), 0.0) == [0.0, 0.0, 0.0, 1.0]  # 0 counts as 1 (ComfyUI)
