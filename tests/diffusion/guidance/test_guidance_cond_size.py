"""A Cond reports the bytes of its tensors (the output cache's byte budget reads it)."""

from __future__ import annotations

import torch

from diffusion.guidance.cond import Cond


def test_cond_nbytes_counts_every_tensor() -> None:
    cond = Cond(torch.zeros(1, 77, 8), pooled_output=torch.zeros(1, 4), mask=torch.zeros(2, 3))
    assert cond.nbytes == (77 * 8 + 4 + 6) * 4
    assert Cond(torch.zeros(1, 2, 2, dtype=torch.float16)).nbytes == 8
