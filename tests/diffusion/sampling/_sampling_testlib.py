"""Analytic denoisers and reference loaders for the sampling tests (float64 throughout).

Data distributions with an exact denoiser E[x0 | x0 + sigma * eps = x]:
- ``GaussianData``: isotropic N(mu, s0^2 I). The probability-flow ODE is linear and solvable in
  closed form: x(sigma) = mu + (x(sigma_a) - mu) * sqrt(s0^2 + sigma^2) / sqrt(s0^2 + sigma_a^2).
- ``GaussianMixture``: sum_k w_k N(m_k, s_k^2 I); the denoiser is the posterior-weighted mix of
  the per-component denoisers, so the ODE is nonlinear (reference: scipy's DOP853 at tight tol).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

F64 = torch.float64


def _sigma_column(sigma: Tensor, x: Tensor) -> Tensor:
    return sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x)  # (B, 1, ...) or (1, 1, ...)


@dataclass(frozen=True)
class GaussianData:
    mu: float = 0.5
    s0: float = 0.8

    def denoise(self, x: Tensor, sigma: Tensor, **_: Any) -> Tensor:
        s2 = _sigma_column(sigma, x) ** 2
        return self.mu + (x - self.mu) * (self.s0**2 / (self.s0**2 + s2))

    def ode_solution(self, x_a: Tensor, sigma_a: float, sigma_b: float) -> Tensor:
        scale = math.sqrt(self.s0**2 + sigma_b**2) / math.sqrt(self.s0**2 + sigma_a**2)
        return self.mu + (x_a - self.mu) * scale

    def sample_noisy(self, shape: tuple[int, ...], sigma: float, seed: int) -> Tensor:
        """Exact samples of the data convolved with N(0, sigma^2)."""
        gen = torch.Generator().manual_seed(seed)
        std = math.sqrt(self.s0**2 + sigma**2)
        return self.mu + std * torch.randn(shape, generator=gen, dtype=F64)


@dataclass(frozen=True)
class GaussianMixture:
    weights: tuple[float, ...] = (0.3, 0.7)
    means: tuple[float, ...] = (-2.0, 1.5)
    stds: tuple[float, ...] = (0.4, 0.6)

    def denoise(self, x: Tensor, sigma: Tensor, **_: Any) -> Tensor:
        """Exact posterior mean for a 1-D-per-coordinate mixture (coordinates independent)."""
        s2 = _sigma_column(sigma, x) ** 2
        w = torch.tensor(self.weights, dtype=F64)
        m = torch.tensor(self.means, dtype=F64)
        v = torch.tensor(self.stds, dtype=F64) ** 2
        xe = x.unsqueeze(-1)  # (..., 1) against components (K,)
        s2e = s2.unsqueeze(-1)
        var = v + s2e  # (..., K)
        logp = torch.log(w) - 0.5 * torch.log(2 * math.pi * var) - 0.5 * (xe - m) ** 2 / var
        resp = torch.softmax(logp, dim=-1)  # (..., K)
        per_component = m + (xe - m) * (v / var)  # (..., K)
        return (resp * per_component).sum(-1)

    @property
    def mean(self) -> float:
        return sum(w * m for w, m in zip(self.weights, self.means, strict=True))

    @property
    def variance(self) -> float:
        second = sum(
            w * (s**2 + m**2) for w, m, s in zip(self.weights, self.means, self.stds, strict=True)
        )
        return second - self.mean**2

    def sample_noisy(self, shape: tuple[int, ...], sigma: float, seed: int) -> Tensor:
        gen = torch.Generator().manual_seed(seed)
        comp = torch.multinomial(torch.tensor(self.weights), math.prod(shape), True, generator=gen)
        m = torch.tensor(self.means, dtype=F64)[comp].reshape(shape)
        s = torch.tensor(self.stds, dtype=F64)[comp].reshape(shape)
        noise = torch.randn(shape, generator=gen, dtype=F64)
        return m + torch.sqrt(s**2 + sigma**2) * noise

    def ode_solution(self, x_a: Tensor, sigma_a: float, sigma_b: float) -> Tensor:
        """dx/dsigma = (x - D(x, sigma)) / sigma, integrated in u = log sigma by DOP853."""
        shape = x_a.shape

        def rhs(u: float, y: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(y).reshape(shape)
            d = self.denoise(xt, torch.tensor([math.exp(u)], dtype=F64))
            return (xt - d).reshape(-1).numpy()  # dx/du = sigma * dx/dsigma

        sol = solve_ivp(
            rhs,
            (math.log(sigma_a), math.log(sigma_b)),
            x_a.reshape(-1).numpy(),
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
        )
        assert sol.success, sol.message
        return torch.from_numpy(sol.y[:, -1]).reshape(shape)


def run_sampler(
    spec: Any,
    model: Callable[..., Tensor],
    x: Tensor,
    sigmas: Tensor,
    *,
    callback: Any = None,
    noise_sampler: Any = None,
    uncond_model: Callable[..., Tensor] | None = None,
    **options: Any,
) -> Tensor:
    """``spec.sample`` with its options and the channels it declares: for a CFG++ sampler an
    ``UncondTap`` fed, at every model call, by ``uncond_model`` (default: the model itself, i.e.
    cfg 1); for SA-Solver SD1's model sampling."""
    from diffusion.sampling import ModelSamplingDiscrete, UncondTap

    kwargs: dict[str, Any] = {**spec.options, **options}
    sample_model = model
    if spec.needs_uncond:
        tap = UncondTap()

        def sample_model(x: Tensor, sigma: Tensor, **kw: Any) -> Tensor:
            out = model(x, sigma, **kw)
            tap.record(out if uncond_model is None else uncond_model(x, sigma))
            return out

        kwargs["uncond"] = tap
    if spec.needs_model_sampling:
        kwargs["model_sampling"] = ModelSamplingDiscrete()
    return spec.sample(sample_model, x, sigmas, extra_args={}, callback=callback,
                       noise_sampler=noise_sampler, **kwargs)


def counting(model: Callable[..., Tensor]) -> tuple[Callable[..., Tensor], list[int]]:
    """Wraps a denoiser to count its calls."""
    calls = [0]

    def wrapped(x: Tensor, sigma: Tensor, **kwargs: Any) -> Tensor:
        calls[0] += 1
        return model(x, sigma, **kwargs)

    return wrapped, calls


def replay_noise(x: Tensor, seed: int) -> Callable[[Tensor, Tensor], Tensor]:
    """A deterministic noise sampler: the n-th call returns the n-th draw of a seeded stream."""
    gen = torch.Generator().manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(x.shape, generator=gen, dtype=x.dtype)


class _SilentProgress(contextlib.nullcontext):  # type: ignore[type-arg]
    """tqdm stand-in for k-diffusion's DPM-Solver (``with tqdm(...) as pbar: pbar.update()``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(self)

    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def _stub_modules(stubs: dict[str, types.ModuleType]) -> Iterator[None]:
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@cache
def kdiffusion_sampling() -> types.ModuleType:
    """k-diffusion 0.1.1's ``sampling.py`` loaded by path; its package __init__ (which wants
    torchvision, skimage, ...) is never imported. tqdm and torchdiffeq are stubbed while loading.
    """
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("reference k-diffusion missing: pip install --no-deps k-diffusion==0.1.1.post1")
    path = Path(next(iter(spec.submodule_search_locations))) / "sampling.py"
    package = types.ModuleType("_kdiffusion_ref")
    package.__path__ = []
    utils = types.ModuleType("_kdiffusion_ref.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]  # type: ignore[attr-defined]
    tqdm_auto = types.ModuleType("tqdm.auto")
    tqdm_auto.trange = lambda n, disable=None: range(n)  # type: ignore[attr-defined]
    tqdm_auto.tqdm = _SilentProgress  # type: ignore[attr-defined]
    torchdiffeq = types.ModuleType("torchdiffeq")
    torchdiffeq.odeint = None  # type: ignore[attr-defined]
    stubs = {
        "_kdiffusion_ref": package,
        "_kdiffusion_ref.utils": utils,
        "tqdm.auto": tqdm_auto,
        "torchdiffeq": torchdiffeq,
    }
    module_spec = importlib.util.spec_from_file_location("_kdiffusion_ref.sampling", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    with _stub_modules(stubs):
        module_spec.loader.exec_module(module)
    return module
