"""Frequency-domain scaling of feature maps (FreeU's skip filter, FreSca's guidance filter).

Both take the 2-D FFT over the last two axes in float32, shift the zero frequency to the centre,
scale a centred box of low frequencies and everything else by given factors, and transform
back (real part, input dtype).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _spectrum(x: Tensor) -> Tensor:
    freq = torch.fft.fftn(x.float(), dim=(-2, -1))
    return torch.fft.fftshift(freq, dim=(-2, -1))  # (..., H, W) complex, zero frequency centred


def _image(freq: Tensor, dtype: torch.dtype) -> Tensor:
    freq = torch.fft.ifftshift(freq, dim=(-2, -1))
    return torch.fft.ifftn(freq, dim=(-2, -1)).real.to(dtype)


def freeu_filter(x: Tensor, threshold: int, scale: float) -> Tensor:
    """FreeU's ``Fourier_filter``: x (B, C, H, W) with the frequencies in the centred box
    ``[H//2 - threshold, H//2 + threshold) x [W//2 - threshold, W//2 + threshold)`` of the
    shifted spectrum scaled by ``scale`` (index ranges as Python slices take them)."""
    freq = _spectrum(x)
    height, width = freq.shape[-2:]
    mask = torch.ones(freq.shape, device=x.device)
    crow, ccol = height // 2, width // 2
    mask[..., crow - threshold:crow + threshold, ccol - threshold:ccol + threshold] = scale
    return _image(freq * mask, x.dtype)


def band_scale(x: Tensor, scale_low: float, scale_high: float, cutoff: int) -> Tensor:
    """FreSca's ``Fourier_filter``: along each spatial axis of size n the ``2 * min(cutoff,
    n // 2)`` centred frequencies are low (scaled by ``scale_low``), the rest high (scaled by
    ``scale_high``)."""
    freq = _spectrum(x)
    mask = torch.full(freq.shape, float(scale_high), device=x.device)
    low = mask
    for dim in range(freq.ndim - 2, freq.ndim):
        centre = freq.shape[dim] // 2
        half = min(cutoff, centre)
        low = low.narrow(dim, centre - half, half * 2)
    low.fill_(scale_low)  # a view into mask: the centred box
    return _image(freq * mask, x.dtype)


__all__ = ["band_scale", "freeu_filter"]
