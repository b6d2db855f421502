"""The streaming safetensors writer: files safetensors reads back identically, headers that
never lie, one tensor held at a time, and no second copy of the weights in memory."""

from __future__ import annotations

import gc
import io
import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from diffusion.saving import (
    TensorEntry,
    constant_part,
    prefixed,
    save_parts,
    view_part,
    write_safetensors,
)
from tests.diffusion.conftest import _CLEAR_REFS, _status_mib


def _tensors() -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "a.weight": torch.randn(3, 5, generator=gen),
        "b.half": torch.randn(7, generator=gen).half(),
        "c.bf16": torch.randn(2, 2, 2, generator=gen).bfloat16(),
        "d.ids": torch.arange(6).reshape(2, 3),
        "v_pred": torch.tensor([]),
        "e.flag": torch.tensor([True, False, True]),
    }


def _entries(tensors: dict[str, Tensor]) -> list[TensorEntry]:
    return [TensorEntry(k, tuple(t.shape), t.dtype) for k, t in tensors.items()]


def test_written_file_reads_back_identically(tmp_path: Path) -> None:
    tensors = _tensors()
    path = tmp_path / "out.safetensors"
    with path.open("wb") as out:
        written = write_safetensors(out, _entries(tensors), iter(tensors.items()),
                                    {"prompt": "{}", "format": "pt"})
    assert written == path.stat().st_size
    back = load_file(path)
    assert back.keys() == tensors.keys()
    for key, tensor in tensors.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    with safe_open(str(path), "pt") as fh:
        assert fh.metadata() == {"prompt": "{}", "format": "pt"}


@pytest.mark.parametrize(("key", "tensor", "message"), [
    ("zzz", torch.zeros(3, 5), "arrived where the header declares 'a.weight'"),
    ("a.weight", torch.zeros(5, 3), "header declares torch.float32 (3, 5)"),
    ("a.weight", torch.zeros(3, 5).half(), "is torch.float16 (3, 5)"),
])
def test_a_tensor_unlike_its_declaration_is_refused(key: str, tensor: Tensor,
                                                    message: str) -> None:
    entries = [TensorEntry("a.weight", (3, 5), torch.float32)]
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_safetensors(io.BytesIO(), entries, iter([(key, tensor)]))


def test_missing_and_undeclared_tensors_are_refused() -> None:
    entries = [TensorEntry("a", (2,), torch.float32), TensorEntry("b", (2,), torch.float32)]
    with pytest.raises(ValueError, match="1 declared tensors were never produced .first 'b'"):
        write_safetensors(io.BytesIO(), entries, iter([("a", torch.zeros(2))]))
    with pytest.raises(ValueError, match="'c' is not declared"):
        write_safetensors(io.BytesIO(), entries[:1], iter([("a", torch.zeros(2)),
                                                            ("c", torch.zeros(2))]))
    with pytest.raises(ValueError, match="declared twice"):
        write_safetensors(io.BytesIO(), entries + entries[:1], iter([]))
    with pytest.raises(TypeError, match="metadata must map str to str"):
        write_safetensors(io.BytesIO(), [], iter([]), {"n": 1})  # type: ignore[dict-item]


def test_the_writer_holds_one_tensor_at_a_time() -> None:
    alive: set[int] = set()
    peak = 0

    def produce() -> Iterator[tuple[str, Tensor]]:
        nonlocal peak
        for index in range(6):
            gc.collect()
            tensor = torch.full((1024, 256), float(index))  # 1 MiB each
            alive.add(index)
            weakref.finalize(tensor, alive.discard, index)
            peak = max(peak, len(alive))
            yield f"t{index}", tensor
            del tensor

    entries = [TensorEntry(f"t{i}", (1024, 256), torch.float32) for i in range(6)]
    out = io.BytesIO()
    write_safetensors(out, entries, produce())
    assert peak == 1
    assert len(out.getvalue()) > 6 * 1024 * 256 * 4


class Counted:
    """Opens a module like ``ModelManager.use`` would; counts the opens."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.opens = module, 0

    @contextmanager
    def __call__(self) -> Iterator[nn.Module]:
        self.opens += 1
        yield self.module


def test_parts_are_prefixed_aligned_and_opened_twice(tmp_path: Path) -> None:
    unet = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(4, 2, 3)).half()
    vae = nn.Linear(2, 2)
    parts_open = [Counted(unet), Counted(vae)]
    parts = [view_part(parts_open[0], prefixed("model.diffusion_model.")),
             view_part(parts_open[1], prefixed("first_stage_model.")),
             constant_part({"v_pred": torch.tensor([])})]
    path = tmp_path / "ckpt.safetensors"
    with path.open("wb") as out:
        save_parts(out, parts)
    assert [c.opens for c in parts_open] == [2, 2]  # declared, then streamed
    back = load_file(path)
    expected = {**{f"model.diffusion_model.{k}": v for k, v in unet.state_dict().items()},
                **{f"first_stage_model.{k}": v for k, v in vae.state_dict().items()},
                "v_pred": torch.tensor([])}
    assert back.keys() == expected.keys()
    assert all(torch.equal(back[k], v) and back[k].dtype == v.dtype for k, v in expected.items())
    raw = path.read_bytes()  # fp32 tensors come first: every offset is aligned
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    sizes = {"F32": 4, "F16": 2}
    for key, info in header.items():
        if key != "__metadata__":
            assert info["data_offsets"][0] % sizes[info["dtype"]] == 0, key


def test_saving_builds_no_second_copy_of_the_weights(tmp_path: Path) -> None:
    """Peak RSS while saving a 96 MiB module grows by far less than the module (the kernel's
    high-water mark, reset just before; a copy of the weights is shown to register)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        pytest.skip("/proc/self/clear_refs is not writable here")
    module = nn.Sequential(*(nn.Linear(1024, 1024, bias=False) for _ in range(24)))
    size_mib = 24 * 4.0
    path = tmp_path / "big.safetensors"

    def peak_growth(action: object) -> float:
        gc.collect()
        _CLEAR_REFS.write_text("5")
        start = _status_mib("VmRSS")
        action()  # type: ignore[operator]
        return _status_mib("VmHWM") - start

    def save() -> None:
        with path.open("wb") as out:
            save_parts(out, [view_part(Counted(module), prefixed("m."))])

    def copy() -> None:
        copies = {k: v.clone() for k, v in module.state_dict().items()}
        assert len(copies) == 24

    assert peak_growth(copy) > 0.8 * size_mib  # the measurement sees a copy
    growth = peak_growth(save)
    print(f"saving {size_mib} MiB: peak RSS +{growth:.1f} MiB")
    assert growth < 0.2 * size_mib, f"peak RSS grew {growth:.1f} MiB saving {size_mib} MiB"
    assert path.stat().st_size > size_mib * 2**20
