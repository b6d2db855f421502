"""patched_copy: new tensors for patched weights only, the base untouched and shared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from diffusion.patching import PatchSet, WeightDiff, patched_copy, patched_nbytes
from diffusion.unet import UNetConfig, UNetModel


@dataclass(frozen=True)
class Scale:
    """A second patch kind for the tests: ``W * factor``."""

    key: str
    factor: float

    def identity(self) -> tuple[object, ...]:
        return ("scale", self.key, self.factor)

    def apply(self, weight: Tensor) -> Tensor:
        return weight.float() * self.factor


def _net(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)).eval().to(dtype)


def _diff(shape: torch.Size, seed: int = 1) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_unpatched_tensors_are_shared_and_the_base_is_untouched() -> None:
    base = _net()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    patch = WeightDiff("0.weight", _diff(base[0].weight.shape), strength=0.5)
    patched, nbytes = patched_copy(base, PatchSet((patch,)))
    assert nbytes == 8 * 4 * 4 == patched_nbytes(base, PatchSet((patch,)))
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    torch.testing.assert_close(patched[0].weight, before["0.weight"] + 0.5 * patch.diff)
    assert patched[0].weight.data_ptr() != base[0].weight.data_ptr()
    assert not patched[0].weight.requires_grad
    shared = [k for k in before if k != "0.weight"]  # biases, norm affine and running stats
    assert all(
        patched.state_dict()[k].data_ptr() == base.state_dict()[k].data_ptr() for k in shared
    )
    assert patched[2].weight is base[2].weight and patched[1].running_mean is base[1].running_mean


def test_half_precision_base_keeps_one_half_precision_patched_weight() -> None:
    base = _net(torch.float16)
    diff = _diff(base[2].weight.shape)
    patched, nbytes = patched_copy(base, PatchSet((WeightDiff("2.weight", diff),)))
    assert patched[2].weight.dtype == torch.float16 and nbytes == 3 * 8 * 2
    want = (base[2].weight.float() + diff).half()
    assert torch.equal(patched[2].weight, want)  # computed in float32, rounded once


def test_patches_of_one_key_apply_in_order() -> None:
    base = _net()
    diff = _diff(base[0].weight.shape)
    key = "0.weight"
    then_scale, _ = patched_copy(base, PatchSet((WeightDiff(key, diff), Scale(key, 0.5))))
    scale_then, _ = patched_copy(base, PatchSet((Scale(key, 0.5), WeightDiff(key, diff))))
    torch.testing.assert_close(then_scale[0].weight, (base[0].weight + diff) * 0.5)
    torch.testing.assert_close(scale_then[0].weight, base[0].weight * 0.5 + diff)


def test_unknown_keys_and_bad_shapes_build_nothing() -> None:
    base = _net()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    unknown = [Scale(f"missing.{i}.weight", 2.0) for i in range(7)]
    with pytest.raises(KeyError, match=r"missing.0.weight.*missing.4.weight'\] \(\+2 more\)"):
        patched_copy(base, PatchSet((Scale("0.weight", 2.0), *unknown)))
    bad = PatchSet((Scale("0.weight", 2.0), WeightDiff("2.weight", torch.zeros(3, 9))))
    with pytest.raises(ValueError, match=r"'2.weight'.*\(3, 9\).*\(3, 8\)"):
        patched_copy(base, bad)

    @dataclass(frozen=True)
    class Truncate(Scale):
        def apply(self, weight: Tensor) -> Tensor:
            return weight[:1].clone()

    with pytest.raises(ValueError, match=r"'0.weight' returned shape \(1, 4\), need \(8, 4\)"):
        patched_copy(base, PatchSet((Truncate("0.weight", 1.0),)))
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_unet_patched_copy_changes_its_output_only(
    randomize: Callable[[nn.Module, int], None],
) -> None:
    cfg = UNetConfig(
        in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2),
        num_res_blocks=(1, 1), transformer_depth=(1, 0), transformer_depth_output=(0, 0, 1, 1),
        transformer_depth_middle=None, context_dim=24, num_heads=8,
    )
    model = UNetModel(cfg).eval()
    randomize(model, 5)
    gen = torch.Generator().manual_seed(7)
    x, context = torch.randn(1, 4, 8, 8, generator=gen), torch.randn(1, 5, 24, generator=gen)
    t = torch.tensor([500.0])
    key = "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
    with torch.no_grad():
        before = model(x, t, context)
        patched, _ = patched_copy(model, PatchSet((WeightDiff(key, _diff((32, 32))),)))
        after = patched(x, t, context)
        assert (after - before).abs().max() > 1e-3
        assert torch.equal(model(x, t, context), before)
