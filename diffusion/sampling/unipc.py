"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework"), multistep,
data-prediction form with the B(h) variants bh1 (B(h) = h) and bh2 (B(h) = e^h - 1).

Configured as ComfyUI's ``uni_pc`` / ``uni_pc_bh2``: order min(3, steps - 1) with warm-up from
order 1 and lower orders on the final steps, a corrector after every step but the last, and a
final sigma of 0 replaced by 0.001 (the result is x at sigma = 0.001, not the denoised x0).
Deviation: with a single step ComfyUI returns the rescaled input unchanged (order 0); here that
step is taken at order 1.

The solver runs in variance-preserving coordinates x_vp = alpha * x with alpha = 1/sqrt(1+sigma^2)
and half-log-SNR lambda = -log sigma, on the x0 predictions of the k-diffusion denoiser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.sampler_steps import StepCallback, report

UNIPC_FINAL_SIGMA = 0.001
UNIPC_MAX_ORDER = 3
Variant = Literal["bh1", "bh2"]


def _b_vector(hh: Tensor, order: int, variant: Variant) -> tuple[Tensor, Tensor]:
    """(B(h), b) with b_n = n! * h*phi_{n+1}(h) / B(h); the recurrence cancels badly, so float64."""
    hh64 = hh.detach().double()
    b_h64 = hh64 if variant == "bh1" else torch.expm1(hh64)
    h_phi_k = torch.expm1(hh64) / hh64 - 1
    factorial = 1
    b = []
    for n in range(1, order + 1):
        b.append(h_phi_k * factorial / b_h64)
        factorial *= n + 1
        h_phi_k = h_phi_k / hh64 - 1 / factorial
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    return b_h, torch.stack(b).to(hh.dtype)


def _weighted(weights: Tensor, terms: list[Tensor]) -> Tensor | float:
    return sum((w * t for w, t in zip(weights, terms, strict=True)), start=0.0)


def _update(
    x_vp: Tensor,
    history: list[tuple[int, Tensor]],
    k: int,
    order: int,
    sigmas: Tensor,
    variant: Variant,
    x0_at: Callable[[Tensor, int], Tensor] | None,
) -> tuple[Tensor, Tensor | None]:
    """One UniP step from the last history entry to sigmas[k]; with ``x0_at``, also UniC.

    Returns the new x_vp and the model's x0 at the predicted point (reused as the next step's
    history entry), or None without corrector.
    """
    lambdas = -sigmas.log()
    alpha = (1.0 / (sigmas**2 + 1.0)).sqrt()
    i0, m0 = history[-1]
    h = lambdas[k] - lambdas[i0]
    rks: list[Tensor] = []
    d1s: list[Tensor] = []
    for j in range(1, order):
        ij, mj = history[-(j + 1)]
        rk = (lambdas[ij] - lambdas[i0]) / h
        rks.append(rk)
        d1s.append((mj - m0) / rk)
    rks_all = torch.stack([*rks, torch.ones_like(h)])  # (order,)
    r_matrix = torch.stack([rks_all ** (n - 1) for n in range(1, order + 1)])  # (order, order)
    hh = -h
    b_h, b = _b_vector(hh, order, variant)
    x_base = (sigmas[k] * alpha[k]) / (sigmas[i0] * alpha[i0]) * x_vp - alpha[k] * torch.expm1(
        hh
    ) * m0
    if d1s:
        rhos_p = (
            b.new_tensor([0.5]) if order == 2 else torch.linalg.solve(r_matrix[:-1, :-1], b[:-1])
        )
        x_t = x_base - alpha[k] * b_h * _weighted(rhos_p, d1s)
    else:
        x_t = x_base
    if x0_at is None:
        return x_t, None
    model_t = x0_at(x_t, k)
    rhos_c = b.new_tensor([0.5]) if order == 1 else torch.linalg.solve(r_matrix, b)
    correction = _weighted(rhos_c[:-1], d1s) + rhos_c[-1] * (model_t - m0)
    return x_base - alpha[k] * b_h * correction, model_t


def sample_uni_pc(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
    variant: Variant = "bh1",
) -> Tensor:
    """UniPC multistep (bh1 unless ``variant="bh2"``); one model call per step."""
    if variant not in ("bh1", "bh2"):
        raise ValueError(f"variant must be 'bh1' or 'bh2', got {variant!r}")
    if len(sigmas) <= 1:
        return x
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    sigmas = sigmas.clone()
    if sigmas[-1] == 0:
        sigmas[-1] = UNIPC_FINAL_SIGMA
    steps = len(sigmas) - 1
    order = max(1, min(UNIPC_MAX_ORDER, steps - 1))
    alpha = (1.0 / (sigmas**2 + 1.0)).sqrt()

    def x0_at(x_vp: Tensor, k: int) -> Tensor:
        return model(x_vp / alpha[k], sigmas[k] * s_in, **extra_args)

    x_vp = x * alpha[0]
    history = [(0, x0_at(x_vp, 0))]
    report(callback, 0, x, sigmas[0], sigmas[0], history[-1][1])
    for k in range(1, steps + 1):
        step_order = min(order, k, steps + 1 - k)
        x_vp, model_k = _update(
            x_vp, history, k, step_order, sigmas, variant, x0_at if k < steps else None
        )
        if model_k is not None:
            history = [*history, (k, model_k)][-order:]
            report(callback, k, x_vp / alpha[k], sigmas[k], sigmas[k], model_k)
    return x_vp / alpha[-1]


def sample_uni_pc_bh2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """UniPC with B(h) = e^h - 1 (ComfyUI's ``uni_pc_bh2``)."""
    return sample_uni_pc(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        noise_sampler=noise_sampler,
        variant="bh2",
    )
