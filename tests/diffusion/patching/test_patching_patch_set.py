"""PatchSet identity (digest, equality, hash) and the WeightDiff patch."""

from __future__ import annotations

import pytest
import torch

from diffusion.patching import PatchSet, WeightDiff, tensor_digest

KEY = "layer.weight"


def _diff(seed: int, shape: tuple[int, ...] = (3, 2)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_equal_content_gives_equal_digest_hash_and_equality() -> None:
    first = PatchSet((WeightDiff(KEY, _diff(1), 0.5),))
    second = PatchSet((WeightDiff(KEY, _diff(1), 0.5),))  # separately built, same content
    assert first.digest == second.digest and len(first.digest) == 64
    assert first == second and hash(first) == hash(second)
    assert {first: "model"}[second] == "model"
    assert PatchSet((WeightDiff(KEY, _diff(1), 1),)) == PatchSet((WeightDiff(KEY, _diff(1)),))


def test_strength_diff_key_and_order_change_the_digest() -> None:
    a, b = WeightDiff(KEY, _diff(1)), WeightDiff("other.weight", _diff(2))
    variants = [
        PatchSet((a, b)),
        PatchSet((b, a)),
        PatchSet((WeightDiff(KEY, _diff(1), 0.9), b)),
        PatchSet((WeightDiff(KEY, _diff(3)), b)),
        PatchSet((WeightDiff("x.weight", _diff(1)), b)),
        PatchSet((WeightDiff(KEY, _diff(1).double()), b)),  # same values, other dtype
        PatchSet((a,)),
    ]
    assert len({v.digest for v in variants}) == len(variants)


def test_empty_set_and_plus_never_mutates() -> None:
    assert PatchSet.EMPTY.digest == "" and not PatchSet.EMPTY and len(PatchSet.EMPTY) == 0
    assert PatchSet() == PatchSet.EMPTY and PatchSet.nbytes == 0
    patch = WeightDiff(KEY, _diff(1))
    one = PatchSet.EMPTY.plus(patch)
    two = one.plus(WeightDiff("b.weight", _diff(2)), WeightDiff(KEY, _diff(3)))
    assert PatchSet.EMPTY.patches == () and one.patches == (patch,)
    assert bool(one) and len(two) == 3 and two.keys() == (KEY, "b.weight")
    assert [p.key for p in two.by_key()[KEY]] == [KEY, KEY]
    assert two == PatchSet(list(two.patches))  # a list is frozen into a tuple


def test_weight_diff_maths_is_float32_and_never_in_place() -> None:
    weight = _diff(4).half()
    before = weight.clone()
    out = WeightDiff(KEY, _diff(5), strength=0.25).apply(weight)
    assert out.dtype == torch.float32 and torch.equal(weight, before)
    torch.testing.assert_close(out, weight.float() + 0.25 * _diff(5), rtol=0, atol=0)


def test_weight_diff_errors_name_the_key_and_values() -> None:
    with pytest.raises(ValueError, match=r"'layer.weight'.*\(3, 2\).*\(2, 3\)"):
        WeightDiff(KEY, _diff(1)).apply(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="float tensor, got torch.int64"):
        WeightDiff(KEY, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="strength=nan"):
        WeightDiff(KEY, _diff(1), float("nan"))
    with pytest.raises(TypeError, match=r"patches\[1\] is str"):
        PatchSet((WeightDiff(KEY, _diff(1)), "lora"))  # type: ignore[arg-type]


def test_identity_must_be_plain_values() -> None:
    class Opaque(WeightDiff):
        def identity(self) -> tuple[object, ...]:
            return (object(),)

    with pytest.raises(TypeError, match=r"patches\[0\].*'layer.weight'.*identity"):
        PatchSet((Opaque(KEY, _diff(1)),))


def test_tensor_digest_covers_dtype_shape_and_bytes() -> None:
    base = _diff(1, (2, 3))
    assert tensor_digest(base) == tensor_digest(base.clone())
    assert tensor_digest(base) != tensor_digest(base.reshape(3, 2))
    assert tensor_digest(base.bfloat16()) != tensor_digest(base.half())
    assert tensor_digest(base.t()) == tensor_digest(base.t().contiguous())
