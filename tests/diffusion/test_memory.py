"""ModelManager: budget, LRU order, pinning, one open/load per file, light handles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from diffusion.checkpoint_maker import make_checkpoint
from diffusion.loading import load_checkpoint
from diffusion.memory import ModelManager, module_nbytes

LINEAR_BYTES = (10 * 100 + 100) * 4  # nn.Linear(10, 100) in fp32


class FakeOpened:
    """Three 4400-byte components; records the device bytes in use whenever one is read."""

    def __init__(self, log: list[tuple[str, int]], manager_ref: list[ModelManager]) -> None:
        self.log = log
        self.manager_ref = manager_ref

    def prefixes(self) -> dict[str, str]:
        return {"a": "a.", "b": "b.", "c": "c."}

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int:
        return LINEAR_BYTES

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module:
        self.log.append((name, self.manager_ref[0].device_bytes))
        torch.manual_seed(ord(name))
        return nn.Linear(10, 100)


@pytest.fixture
def fake(tmp_path: Path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    opens: list[Path] = []
    loads: list[tuple[str, int]] = []
    ref: list[ModelManager] = []

    def opener(p: Path) -> FakeOpened:
        opens.append(p)
        return FakeOpened(loads, ref)

    manager = ModelManager(budget_bytes=2 * LINEAR_BYTES, opener=opener)
    ref.append(manager)
    return manager, path, opens, loads, opener


def _use(manager: ModelManager, handle) -> None:
    with manager.use(handle):
        assert manager.device_bytes <= manager.budget_bytes


def test_budget_is_respected_and_lru_goes_first(fake) -> None:
    manager, path, _, loads, _ = fake
    h = manager.open(path)
    for name in ("a", "b", "a", "c"):
        _use(manager, h[name])
    assert [c for _, c, _ in manager.resident()] == ["a", "c"]  # b was least recently used
    assert manager.device_bytes == 2 * LINEAR_BYTES
    assert all(in_use + LINEAR_BYTES <= manager.budget_bytes for _, in_use in loads)


def test_one_open_and_one_read_per_unchanged_file(fake) -> None:
    manager, path, opens, loads, _ = fake
    first = manager.open(path)
    assert manager.open(path) is first and len(opens) == 1
    _use(manager, first["a"])
    _use(manager, first["a"])
    assert len(loads) == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = manager.open(path)
    assert second is not first and len(opens) == 2
    assert manager.resident() == []  # the old version's weights are gone


def test_models_in_use_are_never_evicted(fake) -> None:
    manager, path, _, _, _ = fake
    h = manager.open(path)
    with manager.use(h["a"]) as a:
        _use(manager, h["b"])
        _use(manager, h["c"])
        assert [c for _, c, _ in manager.resident()] == ["a", "c"]
        assert isinstance(a, nn.Linear)


def test_dropped_model_is_read_again_equal(fake) -> None:
    manager, path, _, loads, _ = fake
    h = manager.open(path)
    with manager.use(h["a"]) as module:
        before = module.weight.clone()
    _use(manager, h["b"])
    _use(manager, h["c"])
    with manager.use(h["a"]) as module:
        assert torch.equal(module.weight, before)
    assert [name for name, _ in loads] == ["a", "b", "c", "a"]


def test_handles_are_light_for_the_output_cache(fake) -> None:
    manager, path, _, _, _ = fake
    handle = manager.open(path)["a"]
    _use(manager, handle)
    assert handle.nbytes == 0
    other = ModelManager(budget_bytes=1)
    with pytest.raises(ValueError, match="another ModelManager"), other.use(handle):
        pass


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="budget_bytes=0"):
        ModelManager(budget_bytes=0)
    with pytest.raises(ValueError, match="offload='host'"):
        ModelManager(budget_bytes=1, offload="host")


def test_real_checkpoint_components_load_on_demand(tmp_path: Path) -> None:
    path = make_checkpoint("sd15", tmp_path / "m.safetensors", tiny=True, seed=2)
    reference = load_checkpoint(path)
    manager = ModelManager(budget_bytes=1 << 30)
    handles = manager.open(path)
    assert sorted(handles) == ["clip_l", "unet", "vae"]
    with handles["vae"].use() as vae:
        assert manager.loads == 1 and manager.device_bytes == module_nbytes(vae)
        assert torch.equal(vae.decoder.conv_out.weight, reference.vae.decoder.conv_out.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host offload needs an accelerator")
def test_offload_to_host_on_cuda(fake) -> None:
    _, path, _, _, opener = fake
    manager = ModelManager(budget_bytes=2 * LINEAR_BYTES, device="cuda", opener=opener)
    h = manager.open(path)
    for name in ("a", "b", "c"):
        with manager.use(h[name]) as module:
            assert module.weight.device.type == "cuda"
            assert manager.device_bytes <= manager.budget_bytes
    on_device = {c: d for _, c, d in manager.resident()}
    assert on_device == {"a": False, "b": True, "c": True}  # a offloaded to host, not dropped
    with manager.use(h["a"]) as module:
        assert module.weight.device.type == "cuda" and manager.loads == 3
    assert {c: d for _, c, d in manager.resident()}["b"] is False


def test_unload_all_drops_idle_weights_but_keeps_handles(fake) -> None:
    manager, path, opens, loads, _ = fake
    handles = manager.open(path)
    _use(manager, handles["a"])
    with manager.use(handles["b"]):
        assert manager.unload_all() == 1  # "a" is idle, "b" is in use
        assert [c for _, c, _ in manager.resident()] == ["b"]
    _use(manager, handles["a"])  # the same handle reads its file again
    assert [name for name, _ in loads] == ["a", "b", "a"] and len(opens) == 1
