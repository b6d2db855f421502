"""The torchvision stand-in: exact ``normalize``, LaMa-only functions that raise, and installed
only while spandrel is imported and only when torchvision is unusable (both paths, by
monkeypatching the import machinery)."""

from __future__ import annotations

import importlib.abc
import sys
import types
from collections.abc import Iterator

import pytest
import torch

from diffusion.upscale import torchvision_compat as compat

FUNCTIONAL = "torchvision.transforms.functional"


def test_normalize_is_exact_and_the_lama_functions_raise() -> None:
    image = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    mean, std = [0.5, 0.25, 0.0], [0.5, 2.0, 0.1]
    expected = (image - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.equal(compat.normalize(image, mean, std), expected)
    copy = image.clone()
    assert compat.normalize(copy, mean, std, inplace=True) is copy and torch.equal(copy, expected)
    with pytest.raises(ValueError, match="zero"):
        compat.normalize(image, mean, [1.0, 0.0, 1.0])
    with pytest.raises(compat.TorchvisionUnavailableError, match="rotate.*LaMa"):
        compat.rotate(image, 90.0)
    with pytest.raises(compat.TorchvisionUnavailableError, match="InterpolationMode.BILINEAR"):
        _ = compat.InterpolationMode.BILINEAR


def test_the_stand_in_lives_only_inside_its_block(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = types.ModuleType("torchvision")
    monkeypatch.setitem(sys.modules, "torchvision", previous)
    with compat.torchvision_stand_in() as added:
        assert sys.modules[FUNCTIONAL] is added[FUNCTIONAL]
        assert sys.modules[FUNCTIONAL].normalize is compat.normalize
    assert sys.modules["torchvision"] is previous
    assert FUNCTIONAL not in sys.modules and "torchvision.transforms" not in sys.modules


class _BrokenTorchvision(importlib.abc.MetaPathFinder):
    """Imports of torchvision fail as a torchvision built for another torch does."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "torchvision" or name.startswith("torchvision."):
            raise RuntimeError("operator torchvision::nms does not exist")
        return None


def test_a_broken_torchvision_counts_as_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchvision(), *sys.meta_path])
    assert compat.torchvision_usable() is False


@pytest.fixture
def fresh_spandrel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """spandrel forgotten for the test (so it is imported again), restored afterwards."""
    compat.import_spandrel()
    kept = {n: m for n, m in sys.modules.items() if n.split(".")[0] in ("spandrel", "torchvision")}
    for name in kept:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [n for n in sys.modules if n.split(".")[0] in ("spandrel", "torchvision")]:
        del sys.modules[name]
    sys.modules.update(kept)


@pytest.mark.usefixtures("fresh_spandrel")
def test_spandrel_gets_the_stand_in_when_torchvision_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # "import torchvision" fails
    spandrel = compat.import_spandrel()
    restoreformer = sys.modules["spandrel.architectures.RestoreFormer"]
    assert restoreformer.tv_normalize is compat.normalize
    assert spandrel.MAIN_REGISTRY.get("ESRGAN") is not None
    assert sys.modules["torchvision"] is None and FUNCTIONAL not in sys.modules


@pytest.mark.usefixtures("fresh_spandrel")
def test_a_working_torchvision_is_never_shadowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def real_normalize(*args: object) -> None: ...

    def real_rotate(*args: object) -> None: ...

    functional = types.ModuleType(FUNCTIONAL)
    functional.normalize = real_normalize  # type: ignore[attr-defined]
    functional.rotate = real_rotate  # type: ignore[attr-defined]
    functional.InterpolationMode = type("InterpolationMode", (), {})  # type: ignore[attr-defined]
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional  # type: ignore[attr-defined]
    root = types.ModuleType("torchvision")
    root.transforms = transforms  # type: ignore[attr-defined]
    for module in (root, transforms, functional):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    compat.import_spandrel()
    assert sys.modules["spandrel.architectures.RestoreFormer"].tv_normalize is real_normalize
    assert sys.modules["spandrel.architectures.LaMa.__arch.LaMa"].rotate is real_rotate
    assert sys.modules[FUNCTIONAL] is functional
