"""3x3 convolutions by Winograd's minimal filtering F(m x m, 3 x 3) (Lavin & Gray, 2015).

Each m x m block of output pixels comes from an (m+2) x (m+2) tile of the padded input: the tile
and the 3x3 kernel are each taken to the "Winograd domain" by fixed matrices (B^T d B, G g G^T),
the convolution there is (m+2)^2 independent channel products (one batched GEMM of (O, C) by
(C, tiles)), and A^T m A takes each product tile back to m x m outputs. F(2x2, 3x3) (``F2``)
multiplies 16 times per 4 outputs where the direct convolution does 36 (2.25x fewer), F(4x4,
3x3) (``F4``) 36 times per 16 (4x fewer), for transforms that only read and write memory. On
this 2-core CPU a 3x3 convolution over a UNet map of 16x16 to 64x64 pixels ran 1.3-2.0x faster
than oneDNN's direct one (``benchmarks/conv3x3.py``).

Every function is pure (its inputs are never written) and works without autograd: the
transforms write through ``out=`` views, so callers use it only where no gradient is needed.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
from torch import Tensor

Rows = tuple[tuple[float, ...], ...]
BLOCK_BYTES = 16 << 20  # the largest temporary winograd_conv3x3 makes (below glibc's 32 MiB
# mmap ceiling, so freed blocks are reused instead of mapped and faulted in again)


@dataclasses.dataclass(frozen=True)
class Scheme:
    """F(m x m, 3 x 3): ``m`` outputs per tile side from ``m + 2`` inputs; B^T (m+2, m+2),
    G (m+2, 3) and A^T (m, m+2) as Lavin & Gray give them."""

    m: int
    bt: Rows
    g: Rows
    at: Rows

    @property
    def tile(self) -> int:
        return self.m + 2

    @functools.cached_property
    def kernel_transform(self) -> Tensor:
        """kron(G, G) ((m+2)^2, 9): a flattened 3x3 kernel to its flattened tile (made once)."""
        g = torch.tensor(self.g, dtype=torch.float64)
        return torch.kron(g, g).float()


F2 = Scheme(
    m=2,
    bt=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
    g=((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
    at=((1, 1, 1, 0), (0, 1, -1, -1)),
)
F4 = Scheme(
    m=4,
    bt=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
        (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
    g=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
       (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
    at=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
)


def _combine(row: tuple[float, ...], sources: list[Tensor], out: Tensor) -> None:
    """out = sum of row[j] * sources[j] over the nonzero coefficients."""
    terms = [(c, src) for c, src in zip(row, sources, strict=True) if c != 0]
    terms.sort(key=lambda term: term[0] != 1)  # a coefficient-1 term first: one op fewer
    (c0, s0), rest = terms[0], terms[1:]
    if c0 == 1 and rest:
        (c1, s1), rest = rest[0], rest[1:]
        torch.add(s0, s1, alpha=c1, out=out)
    else:
        torch.mul(s0, c0, out=out)
    for c, src in rest:
        out.add_(src, alpha=c)


def transform_weight(weight: Tensor, scheme: Scheme = F2) -> Tensor:
    """G g G^T for every (out, in) kernel: weight (O, C, 3, 3) -> ((m+2)^2, O, C)."""
    o, c = weight.shape[:2]
    kernels = weight.reshape(o * c, 9).t()  # (9, O*C)
    return (scheme.kernel_transform.to(weight) @ kernels).reshape(-1, o, c)


def _input_1d(src: Tensor, dim: int, tiles: int, scheme: Scheme, out: Tensor) -> None:
    """B^T along ``dim`` of ``src`` (tiles of m+2, stride m) into out's slices along dim 0."""
    step = (slice(None),) * dim + (slice(None, None, scheme.m),)
    span = scheme.m * (tiles - 1) + 1
    sources = [src.narrow(dim, i, span)[step] for i in range(scheme.tile)]
    for i, row in enumerate(scheme.bt):
        _combine(row, sources, out[i])


def _padded(x: Tensor, first: int = 0, stop: int | None = None) -> Tensor:
    """Rows first..stop-1 of x (B, C, H, W) zero-padded by 1 (with the row above and below them,
    zeros outside x), channels first: (C, B, stop-first+2, W+2); all of x by default."""
    b, c, h, w = x.shape
    stop = h if stop is None else stop
    padded = x.new_empty(c, b, stop - first + 2, w + 2)
    padded[:, :, :, (0, -1)] = 0
    lo, hi = max(first - 1, 0), min(stop + 1, h)  # the rows of x inside the band
    top = lo - (first - 1)  # padded row of x's row lo
    padded[:, :, top:top + hi - lo, 1:-1] = x[:, :, lo:hi].transpose(0, 1)
    if first == 0:
        padded[:, :, 0] = 0
    if stop == h:
        padded[:, :, -1] = 0
    return padded


def _tiles(padded: Tensor, scheme: Scheme, first: int, stop: int) -> Tensor:
    """B^T d B for the tiles of tile rows first..stop-1 of padded (C, B, H+2, W+2):
    ((m+2)^2, C, B*(stop-first)*W/m), tiles ordered (B, tile row, tile column)."""
    c, b, _, wp = padded.shape
    a, n = scheme.tile, scheme.m
    th, tw = stop - first, (wp - 2) // n
    band = padded.narrow(2, first * n, th * n + 2)  # (C, B, th*m+2, W+2)
    rows = padded.new_empty(a, c, b, th, wp)  # transformed along H
    _input_1d(band, 2, th, scheme, rows)
    tiles = padded.new_empty(a, a, c, b, th, tw)  # (row index, column index, C, B, th, tw)
    _input_1d(rows, 4, tw, scheme, tiles.transpose(0, 1))
    return tiles.view(a * a, c, b * th * tw)


def transform_input(x: Tensor, scheme: Scheme = F2) -> Tensor:
    """B^T d B for every (m+2)^2 tile (stride m) of x zero-padded by 1: x (B, C, H, W) with H
    and W multiples of m -> ((m+2)^2, C, B*H/m*W/m)."""
    return _tiles(_padded(x), scheme, 0, x.shape[2] // scheme.m)


def _output_1d(src: Tensor, scheme: Scheme, out: Tensor) -> None:
    """A^T over dim 0 of src (m+2, ...) into out (m, ...)."""
    sources = list(src.unbind(0))
    for i, row in enumerate(scheme.at):
        _combine(row, sources, out[i])


def _store(m: Tensor, scheme: Scheme, out: Tensor) -> None:
    """A^T m A for every tile of m ((m+2)^2, O, B*th*tw), written as m x m blocks into out
    (B, O, th*m, tw*m), a view whose last dimension is contiguous."""
    b, o, h, w = out.shape
    a, n = scheme.tile, scheme.m
    th, tw = h // n, w // n
    tiles = m.view(a, a, o, b, th, tw)
    half = m.new_empty(n, a, o, b, th, tw)  # reduced over the row index
    _output_1d(tiles, scheme, half)
    blocks = out.unflatten(3, (tw, n)).unflatten(2, (th, n)).permute(3, 5, 1, 0, 2, 4)
    # blocks: (row in block, column in block, O, B, th, tw) view of out
    for row in range(n):
        _output_1d(half[row], scheme, blocks[row])


def transform_output(m: Tensor, shape: tuple[int, int, int], bias: Tensor | None,
                     scheme: Scheme = F2) -> Tensor:
    """A^T m A for every tile, placed as m x m output blocks, plus bias: m ((m+2)^2, O, tiles)
    and shape (B, H, W) -> (B, O, H, W)."""
    b, h, w = shape
    out = m.new_empty(b, m.shape[1], h, w)
    _store(m, scheme, out)
    if bias is not None:
        out.add_(bias.to(out.dtype)[:, None, None])
    return out


def winograd_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None,
                     scheme: Scheme = F2) -> Tensor:
    """A stride-1, padding-1 3x3 convolution of x (B, C, H, W), H and W multiples of the
    scheme's m, by weight (O, C, 3, 3): ``F.conv2d(x, weight, bias, padding=1)`` up to rounding.

    The transformed weight and input are made block by block, each at most ``BLOCK_BYTES``
    (blocks of output channels where the weight is the larger, bands of tile rows where the
    map is: then each band pads its own rows of x), so the allocator reuses its free memory
    instead of mapping fresh pages per call.
    """
    if x.shape[-2] % scheme.m or x.shape[-1] % scheme.m:
        raise ValueError(f"winograd_conv3x3 F({scheme.m}x{scheme.m}, 3x3) needs a map whose "
                         f"sides are multiples of {scheme.m}; got x of shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    o, a2, n = weight.shape[0], scheme.tile**2, scheme.m
    out = x.new_empty(b, o, h, w)  # (B, O, H, W)
    if o >= b * (h // n) * (w // n):  # the weight outweighs the map: output-channel blocks
        tiles = _tiles(_padded(x), scheme, 0, h // n)  # ((m+2)^2, C, tiles)
        step = max(1, BLOCK_BYTES // (a2 * c * x.element_size()))
        for first in range(0, o, step):
            products = torch.bmm(transform_weight(weight[first:first + step], scheme), tiles)
            _store(products, scheme, out[:, first:first + step])
    else:  # bands of tile rows
        kernels = transform_weight(weight, scheme)  # ((m+2)^2, O, C)
        step = max(1, BLOCK_BYTES // (a2 * max(c, o) * b * (w // n) * x.element_size()))
        for first in range(0, h // n, step):
            stop = min(h // n, first + step)
            band = _padded(x, first * n, stop * n)  # (C, B, (stop-first)*m+2, W+2)
            products = torch.bmm(kernels, _tiles(band, scheme, 0, stop - first))
            _store(products, scheme, out[:, :, first * n:stop * n])
    if bias is not None:
        out.add_(bias.to(out.dtype)[:, None, None])
    return out
