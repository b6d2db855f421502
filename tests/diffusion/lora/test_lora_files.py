"""Reading LoRA files: safetensors and weights-only torch pickles, identities, refusals."""

from __future__ import annotations

import os
import pickle

import pytest
import safetensors.torch
import torch

from diffusion.patching import PatchSet
from diffusion.patching.lora import (
    LoraFileError,
    TargetModel,
    load_lora_file,
    lora_from_state_dict,
    lora_patches,
)


class NotATensor:
    """A class a weights-only unpickler must refuse to rebuild."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.getcwd, ())  # would run code if unpickled unsafely


def _state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "lora_unet_a.lora_down.weight": torch.randn(2, 4, generator=gen).half(),
        "lora_unet_a.lora_up.weight": torch.randn(3, 2, generator=gen).to(torch.bfloat16),
        "lora_unet_a.alpha": torch.tensor(1.0),
    }


def _equal(loaded: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> bool:
    return loaded.keys() == state.keys() and all(
        loaded[k].dtype == v.dtype and torch.equal(loaded[k], v) for k, v in state.items()
    )


def test_safetensors_round_trip_keeps_dtypes_metadata_and_identity(tmp_path) -> None:
    path = tmp_path / "style.safetensors"
    safetensors.torch.save_file(_state(), str(path), metadata={"ss_network_dim": "2"})
    lora = load_lora_file(path)
    assert _equal(dict(lora.tensors), _state())
    assert all(t.device.type == "cpu" for t in lora.tensors.values())
    assert lora.metadata["ss_network_dim"] == "2"
    stat = path.stat()
    assert lora.identity == ("file", str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    assert lora.shapes()["lora_unet_a.lora_up.weight"] == (3, 2)


@pytest.mark.parametrize("suffix", [".pt", ".ckpt", ".bin"])
@pytest.mark.parametrize("nested", [False, True])
def test_torch_pickle_round_trip(tmp_path, suffix, nested) -> None:
    path = tmp_path / f"old{suffix}"
    torch.save({"state_dict": _state(), "epoch": 3} if nested else _state(), path)
    lora = load_lora_file(path)
    assert _equal(dict(lora.tensors), _state()) and lora.metadata == {}


def test_pickle_needing_unsafe_unpickling_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1), "obj": NotATensor()}, path)
    with pytest.raises(LoraFileError, match=r"evil\.pt: refused.*safetensors"):
        load_lora_file(path)
    legacy = tmp_path / "legacy.ckpt"
    with legacy.open("wb") as fh:
        pickle.dump({"obj": NotATensor()}, fh, protocol=2)
    with pytest.raises(LoraFileError, match=r"legacy\.ckpt: refused"):
        load_lora_file(legacy)


def test_bad_paths_and_containers_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_lora_file(tmp_path / "missing.safetensors")
    odd = tmp_path / "lora.txt"
    odd.write_text("hi")
    with pytest.raises(LoraFileError, match=r"unknown extension '\.txt'"):
        load_lora_file(odd)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(LoraFileError, match="broken.safetensors"):
        load_lora_file(broken)


def test_in_memory_identity_is_a_content_digest() -> None:
    first, second = lora_from_state_dict(_state()), lora_from_state_dict(_state())
    assert first.identity == second.identity and first.identity[0] == "memory"
    changed = _state() | {"lora_unet_a.alpha": torch.tensor(2.0)}
    assert lora_from_state_dict(changed).identity != first.identity
    assert lora_from_state_dict(_state(), {"k": "v"}).identity != first.identity
    with pytest.raises(TypeError, match="epoch"):
        lora_from_state_dict({"epoch": 3})  # type: ignore[dict-item]


def test_file_patch_identity_names_the_file_not_its_bytes(tmp_path) -> None:
    path = tmp_path / "a.safetensors"
    state = {"a.lora_down.weight": torch.ones(2, 4), "a.lora_up.weight": torch.ones(3, 2)}
    safetensors.torch.save_file(state, str(path))
    target = {"net": TargetModel("net", {"a.weight": (3, 4)})}

    def digest() -> str:
        mapping = lora_patches(load_lora_file(path), target, {"net": 0.5})
        (patch,) = mapping.patches["net"]
        assert patch.identity()[:2] == ("file", str(path.resolve()))
        assert patch.identity()[4:] == ("a", "a.weight", 0.5, None, False, "lora")
        return PatchSet(mapping.patches["net"]).digest

    before = digest()
    assert digest() == before
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "edited": new mtime
    assert digest() != before
