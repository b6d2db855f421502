"""Latent operations (sharpen, Reinhard tonemap) on hand-computable latents, applied directly
and as a pre-CFG model patch."""

from __future__ import annotations

import pytest
import torch

from diffusion.guidance import PreCFGArgs
from nodes.latents.operation_nodes import (
    LatentApplyOperation,
    LatentOperationSharpen,
    LatentOperationTonemapReinhard,
    OperationBeforeCFG,
)
from nodes.latents.operations import Sharpen, TonemapReinhard, gaussian_kernel
from nodes.payloads import Latent
from tests.nodes.latents.support import call


def _constant_length(length: float) -> torch.Tensor:
    """(1, 2, 3, 3) latents whose vectors all have ``length`` but point different ways."""
    angles = torch.linspace(0.0, 3.0, 9).reshape(1, 3, 3)
    return torch.cat([angles.cos(), angles.sin()])[None] * length


def test_tonemap_of_equal_lengths_halves_them_at_multiplier_one() -> None:
    # std 0, mean L: the white point is L, so L -> (1 / (1 + 1)) * L.
    latent = _constant_length(4.0)
    assert torch.allclose(TonemapReinhard(1.0)(latent=latent), latent / 2, atol=1e-5)
    # multiplier 3: L / (3L) = 1/3 -> (1/3) / (4/3) * 3L = 3L / 4
    assert torch.allclose(TonemapReinhard(3.0)(latent=latent), latent * 0.75, atol=1e-5)


def test_sharpen_leaves_flat_directions_and_identity_kernels_alone() -> None:
    latent = torch.ones((1, 2, 6, 6)) * torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)
    assert torch.allclose(Sharpen(2, 1.0, 0.5)(latent=latent), latent, atol=1e-5)
    bumpy = torch.randn((1, 4, 6, 6), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(Sharpen(2, 1.0, 0.0)(latent=bumpy), bumpy, atol=1e-5)
    kernel = gaussian_kernel(3, 1.0)
    assert torch.isclose(kernel.sum(), torch.tensor(1.0)) and kernel[1, 1] == kernel.max()


def test_sharpen_raises_a_peak_and_refuses_tiny_latents() -> None:
    latent = torch.ones((1, 2, 7, 7))
    latent[0, 0, 3, 3] = 3.0  # one position turned towards channel 0
    out = Sharpen(1, 1.0, 0.2)(latent=latent)
    direction_in = latent[0, 0, 3, 3] / latent[0, :, 3, 3].norm()
    direction_out = out[0, 0, 3, 3] / latent[0, :, 3, 3].norm()
    assert direction_out > direction_in  # pushed further from its neighbours
    with pytest.raises(ValueError, match="sharpen_radius 9 needs latents larger than 9"):
        call(LatentApplyOperation, Latent(torch.ones((1, 4, 8, 8))),
             call(LatentOperationSharpen, 9, 1.0, 0.1))


def test_apply_operation_node_keeps_fields() -> None:
    source = Latent(_constant_length(2.0), batch_index=(7,))
    out = call(LatentApplyOperation, source, call(LatentOperationTonemapReinhard, 1.0))
    assert torch.allclose(out.samples, source.samples / 2, atol=1e-5)
    assert out.batch_index == (7,)


def test_the_cfg_patch_operates_on_the_guidance_direction() -> None:
    def double(latent: torch.Tensor) -> torch.Tensor:
        return latent * 2

    cond, uncond = torch.full((1, 4, 2, 2), 3.0), torch.full((1, 4, 2, 2), 1.0)
    sigma = torch.ones(1)
    new_cond, new_uncond = OperationBeforeCFG(double)(PreCFGArgs(cond, uncond, 5.0, sigma, cond))
    assert torch.equal(new_cond, torch.full((1, 4, 2, 2), 5.0))  # 2 * (3 - 1) + 1
    assert new_uncond is uncond

