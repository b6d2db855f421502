"""Initial latent noise and per-step noise samplers, reproducing ComfyUI's random streams.

Every random number comes from a private ``torch.Generator`` seeded from the job's seed, never
from torch's global RNG, so concurrent jobs cannot disturb each other's streams. The streams are
the ones ComfyUI draws (it seeds the global CPU generator with the same value), so a seed gives
the same image in both tools.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torchsde
from torch import Tensor

SEED_MAX = 2**64 - 1
"""Largest seed; ``torch.Generator.manual_seed`` accepts the full unsigned 64-bit range."""

_TREE_TOL = 1e-6  # torchsde.BrownianTree's default, which ComfyUI uses
_TREE_DIGITS = 6  # = -log10(_TREE_TOL): torchsde rounds times to this many digits

NoiseSampler = Callable[[Tensor, Tensor], Tensor]
"""Called per noise draw with ``(sigma, sigma_next)``; returns unit-variance noise shaped like x."""


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private generator seeded with ``seed`` (0 ≤ seed ≤ 2**64 - 1).

    A fresh ``Generator().manual_seed(s)`` yields the same stream as ``torch.manual_seed(s)``
    (which ComfyUI calls) for every ``s`` in that range, seeds ≥ 2**63 included.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, 2**64 - 1], got {seed!r}")
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def prepare_noise(latent: Tensor, seed: int, batch_index: Sequence[int] | None = None) -> Tensor:
    """ComfyUI's ``prepare_noise``: the initial noise for ``latent``, on the CPU.

    Without ``batch_index``: one ``randn`` of the whole latent shape. With it: one single-sample
    ``randn`` per index from 0 to ``max(batch_index)``, keeping the samples whose index is listed
    (in the listed order, repeats allowed), so sample k of a batch gets the same noise whether it
    is generated alone or inside the batch.
    """
    generator = seeded_generator(seed)
    if batch_index is None:
        return torch.randn(
            latent.shape,
            dtype=latent.dtype,
            layout=latent.layout,
            generator=generator,
            device="cpu",
        )
    indices = [int(i) for i in batch_index]
    if len(indices) != latent.shape[0]:
        raise ValueError(
            f"batch_index has {len(indices)} entries but the latent batch is "
            f"{latent.shape[0]}: {indices!r}"
        )
    if min(indices) < 0:
        raise ValueError(f"batch_index entries must be >= 0, got {indices!r}")
    wanted = set(indices)
    sample_shape = (1, *latent.shape[1:])  # (1, C, H, W)
    kept: dict[int, Tensor] = {}
    for index in range(max(indices) + 1):
        noise = torch.randn(
            sample_shape,
            dtype=latent.dtype,
            layout=latent.layout,
            generator=generator,
            device="cpu",
        )
        if index in wanted:
            kept[index] = noise
    return torch.cat([kept[i] for i in indices], dim=0)  # (B, C, H, W)


class Noise(Protocol):
    """The initial noise of a sampling run (ComfyUI's NOISE): ``seed`` also seeds the per-step
    noise of stochastic samplers."""

    @property
    def seed(self) -> int: ...

    def generate(self, latent: Tensor, batch_index: Sequence[int] | None = None) -> Tensor:
        """Noise shaped like ``latent`` (B, C, H, W), on the CPU."""
        ...


@dataclass(frozen=True)
class SeededNoise:
    """ComfyUI's ``Noise_RandomNoise`` (``enabled``), or zeros that keep the seed for the
    per-step noise (KSamplerAdvanced with add_noise disabled)."""

    seed: int
    enabled: bool = True

    nbytes = 0  # a NOISE payload holds no tensors

    def generate(self, latent: Tensor, batch_index: Sequence[int] | None = None) -> Tensor:
        if not self.enabled:
            return torch.zeros(latent.shape, dtype=latent.dtype)
        return prepare_noise(latent.cpu(), self.seed, batch_index)  # (B, C, H, W)

    def summary(self) -> str:
        return f"Noise(seed {self.seed})" if self.enabled else "Noise(disabled)"


def gaussian_noise_sampler(x: Tensor, seed: int, *, cpu_offset: int = 1) -> NoiseSampler:
    """ComfyUI's default per-step noise (ancestral samplers, ddpm, lcm).

    A generator on ``x``'s device seeded with ``seed + cpu_offset`` on the CPU and ``seed``
    elsewhere; each call draws one ``randn`` shaped like ``x``. Current ComfyUI offsets the CPU
    seed by 1 so step noise differs from the initial noise; v0.3.64 and older used ``seed``
    itself (``cpu_offset=0``). ComfyUI overflows for ``seed = 2**64 - 1`` with the offset; here it
    wraps to 0 instead.
    """
    device = x.device
    step_seed = (seed + cpu_offset) % (SEED_MAX + 1) if device.type == "cpu" else seed
    generator = seeded_generator(step_seed, device)

    def sample(sigma: Tensor, sigma_next: Tensor) -> Tensor:
        return torch.randn(
            x.shape, dtype=x.dtype, layout=x.layout, device=device, generator=generator
        )

    return sample


def brownian_tree_noise_sampler(
    x: Tensor, sigma_min: Tensor | float, sigma_max: Tensor | float, seed: int, *, cpu: bool = True
) -> NoiseSampler:
    """ComfyUI's Brownian-tree noise for the SDE samplers (dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde).

    A ``torchsde.BrownianTree`` over [sigma_min, sigma_max] with entropy ``seed``; a call with
    ``(sigma, sigma_next)`` returns the Brownian increment between them divided by
    ``sqrt(|sigma_next - sigma|)``, so the noise of an interval does not depend on how the other
    intervals were stepped. With ``cpu=True`` (ComfyUI's default) the tree lives on the CPU and is
    queried at float32 times, as ComfyUI does.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an int in [0, 2**64 - 1], got {seed!r}")
    t_a, t_b = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
    t0, t1, sign = (t_a, t_b, 1) if t_a < t_b else (t_b, t_a, -1)
    w0 = torch.zeros_like(x)
    if cpu:  # built and queried at float32 times, as ComfyUI's float32 sigmas are
        t0, w0, t1 = t0.detach().cpu().float(), w0.detach().cpu(), t1.detach().cpu().float()
    tree = torchsde.BrownianTree(t0, w0, t1, entropy=seed, tol=_TREE_TOL)

    def sample(sigma: Tensor, sigma_next: Tensor) -> Tensor:
        s0, s1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        lo, hi, order = (s0, s1, 1) if s0 < s1 else (s1, s0, -1)
        if cpu:
            lo, hi = lo.detach().cpu().float(), hi.detach().cpu().float()
        # torchsde rounds times to its tolerance but range-checks before rounding; rounding
        # here gives the same increment without its spurious "Should have tb<=t1" warning.
        lo_t, hi_t = round(float(lo), _TREE_DIGITS), round(float(hi), _TREE_DIGITS)
        w = tree(lo_t, hi_t).to(device=x.device, dtype=x.dtype) * (sign * order)
        return w / (s1 - s0).abs().sqrt()

    return sample
