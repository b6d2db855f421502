"""SaveImage and PreviewImage: files, names, counters under concurrency, PNG metadata, caching."""

from __future__ import annotations

import errno
import json
import os
import re
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import nodes.images.filenames as filenames
import nodes.images.io as image_io
from executor.engine import Engine
from executor.errors import PromptError
from executor.jobs import JobRequest
from executor.plan import Reason
from nodes.api import Folders
from nodes.images.filenames import substitute
from tests.nodes.images.helpers import execute

WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 1, "type": "EmptyImage", "title": "Élan ✓"}],
            "version": 0.4}


def save_prompt(prefix: str = "ComfyUI", width: int = 4, height: int = 2, batch: int = 1,
                color: int = 0xFF8000, node: str = "SaveImage") -> dict[str, Any]:
    inputs: dict[str, Any] = {"images": ["1", 0]}
    if node == "SaveImage":
        inputs["filename_prefix"] = prefix
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height,
                                                      "batch_size": batch, "color": color}},
        "2": {"class_type": node, "inputs": inputs},
    }


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, read by hand (not through Pillow)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        chunks.append((data[at + 4:at + 8], data[at + 8:at + 8 + length]))
        at += 12 + length
    return chunks


def zlib_level_class(path: Path) -> int:
    """FLEVEL of the IDAT zlib header: 0 for levels 0–1, 1 for 2–5, 2 for 6, 3 for 7–9."""
    idat = b"".join(d for t, d in png_chunks(path) if t == b"IDAT")
    return idat[1] >> 6


def test_save_writes_comfyui_names_chunks_and_ui(engine: Engine, folders: Folders) -> None:
    prompt = save_prompt()
    result = engine.execute(JobRequest("j1", prompt, extra_pnginfo={"workflow": WORKFLOW}))
    assert result.ok, result.failure
    assert result.outputs["2"] == {"images": [
        {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}
    path = folders.output / "ComfyUI_00001_.png"
    texts = [(t, d) for t, d in png_chunks(path) if t in (b"tEXt", b"iTXt", b"zTXt")]
    assert texts == [(b"tEXt", b"prompt\x00" + json.dumps(prompt).encode("latin-1")),
                     (b"tEXt", b"workflow\x00" + json.dumps(WORKFLOW).encode("latin-1"))]
    with Image.open(path) as png:
        assert png.text == {"prompt": json.dumps(prompt), "workflow": json.dumps(WORKFLOW)}
        assert json.loads(png.text["workflow"]) == WORKFLOW
        assert np.asarray(png).tolist() == [[[255, 128, 0]] * 4] * 2
    assert zlib_level_class(path) == 1  # compress level 4


def test_counter_continues_after_the_highest_existing(engine: Engine, folders: Folders) -> None:
    for name in ("ComfyUI_00007_.png", "ComfyUI_00002_.png", "ComfyUI_00900.png",
                 "Other_00050_.png", "ComfyUIx_00070_.png"):
        (folders.output / name).write_bytes(b"")
    result = execute(engine, save_prompt(batch=3))
    names = [i["filename"] for i in result.outputs["2"]["images"]]
    assert names == ["ComfyUI_00008_.png", "ComfyUI_00009_.png", "ComfyUI_00010_.png"]
    assert execute(engine, save_prompt(batch=1, color=1)).outputs["2"]["images"][0][
        "filename"] == "ComfyUI_00011_.png"


def test_concurrent_jobs_never_share_a_file(
    engine: Engine, folders: Folders, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs, per_job = 6, 3
    barrier = threading.Barrier(jobs)
    original = image_io.next_counter

    def stale_counter(folder: Path, name: str) -> int:
        counter = original(folder, name)
        barrier.wait(timeout=10)  # every job computed the same counter before anyone writes
        return counter

    monkeypatch.setattr(image_io, "next_counter", stale_counter)
    results: list[Any] = []

    def job(index: int) -> None:  # a distinct colour per job, so nothing is cached
        prompt = save_prompt("race", width=2, height=2, batch=per_job, color=index * 20 << 16)
        results.append(engine.execute(JobRequest(f"race-{index}", prompt)))

    threads = [threading.Thread(target=job, args=(i,)) for i in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["success"] * jobs
    files = sorted(p.name for p in folders.output.iterdir())
    assert files == [f"race_{n:05}_.png" for n in range(1, jobs * per_job + 1)]
    reported = sorted(i["filename"] for r in results for i in r.outputs["2"]["images"])
    assert reported == files
    reds = sorted(int(np.asarray(Image.open(folders.output / f))[0, 0, 0]) for f in files)
    assert reds == [i * 20 for i in range(jobs) for _ in range(per_job)]


def test_substitutions_with_a_fixed_clock() -> None:
    now = time.struct_time((2024, 3, 7, 9, 5, 2, 0, 0, -1))
    text = "%width%x%height%/%year%-%month%-%day%_%hour%%minute%%second%_%batch_num%"
    assert substitute(text, 640, 480, now) == "640x480/2024-03-07_090502_%batch_num%"
    assert substitute("plain", 1, 1, now) == "plain"


def test_substitutions_in_a_job(engine: Engine, folders: Folders) -> None:
    result = execute(engine, save_prompt("%width%x%height%/img_%year%_b%batch_num%", width=5,
                                         height=3, batch=2))
    images = result.outputs["2"]["images"]
    year = time.localtime().tm_year
    assert [i["subfolder"] for i in images] == ["5x3", "5x3"]
    assert [i["filename"] for i in images] == [f"img_{year}_b0_00001_.png",
                                               f"img_{year}_b1_00002_.png"]
    assert all((folders.output / "5x3" / i["filename"]).is_file() for i in images)
    again = execute(engine, save_prompt("%width%x%height%/img_%year%_b%batch_num%", width=5,
                                        height=3, batch=2, color=7))
    assert [i["filename"] for i in again.outputs["2"]["images"]] == [
        f"img_{year}_b0_00003_.png", f"img_{year}_b1_00004_.png"]


@pytest.mark.parametrize("prefix", ["../escape", "sub/../../escape", "/tmp/escape",
                                    "a\\b", "x\x00y", "C:evil", "", "dir/", "a\nb",
                                    "x" * 241, "\ud800"])
def test_bad_prefixes_are_refused_at_validation(engine: Engine, prefix: str) -> None:
    with pytest.raises(PromptError) as caught:
        engine.validate(save_prompt(prefix))
    error = caught.value.node_errors["2"]["errors"][0]
    assert error["type"] in ("invalid_filename_prefix", "invalid_input_type")
    assert "filename_prefix" in error["details"]


def test_a_prefix_through_a_link_out_of_the_folder_fails_when_saving(
    engine: Engine, folders: Folders, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", folders.output / "linked")
    prefix = "linked/escape"
    result = engine.execute(JobRequest("bad-link", save_prompt(prefix)))
    assert result.status == "failed"
    assert result.failure is not None and result.failure.node_id == "2"
    assert "filename_prefix" in result.failure.message
    assert repr(prefix) in result.failure.message
    assert str(tmp_path) not in result.failure.message  # no server paths in errors
    assert list((tmp_path / "elsewhere").iterdir()) == []


class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, out: Any, room: int) -> None:
        self.out, self.room = out, room

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.close()

    def write(self, data: bytes) -> int:
        taken = self.out.write(data[:self.room])
        self.out.flush()  # on disk: a partial file is there when the write fails
        self.room -= taken
        if taken < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return taken


def test_a_full_disk_fails_the_job_and_leaves_no_partial_file(
    engine: Engine, folders: Folders, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial: list[int] = []
    real_fdopen = os.fdopen

    def full_disk(fd: int, mode: str = "r") -> FullDisk:
        partial.append(fd)
        return FullDisk(real_fdopen(fd, mode), room=40)

    monkeypatch.setattr(filenames.os, "fdopen", full_disk)
    result = engine.execute(JobRequest("full", save_prompt(width=64, height=64)))
    assert partial  # the save did start writing
    assert result.status == "failed" and result.failure is not None
    assert result.failure.node_id == "2" and "No space left on device" in result.failure.message
    assert list(folders.output.rglob("*")) == []  # the 40 bytes written were removed
    monkeypatch.undo()
    assert execute(engine, save_prompt(width=64, height=64)).ok  # room again: saved
    assert [p.name for p in folders.output.iterdir()] == ["ComfyUI_00001_.png"]


def test_identical_resubmit_writes_nothing_and_replays_the_ui(
    engine: Engine, folders: Folders
) -> None:
    first = execute(engine, save_prompt())
    second = execute(engine, save_prompt())
    assert second.reasons["2"] is Reason.CACHED
    assert second.outputs["2"] == first.outputs["2"]
    assert [p.name for p in folders.output.iterdir()] == ["ComfyUI_00001_.png"]
    changed = execute(engine, save_prompt(color=0x123456))
    assert changed.outputs["2"]["images"][0]["filename"] == "ComfyUI_00002_.png"


def test_preview_goes_to_temp_and_stays_cacheable(engine: Engine, folders: Folders) -> None:
    first = execute(engine, save_prompt(node="PreviewImage", batch=2))
    images = first.outputs["2"]["images"]
    assert [i["type"] for i in images] == ["temp", "temp"]
    assert [i["subfolder"] for i in images] == ["", ""]
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", images[0]["filename"])
    assert images[1]["filename"] == images[0]["filename"].replace("00001", "00002")
    path = folders.temp / images[0]["filename"]
    assert zlib_level_class(path) == 0  # compress level 1
    with Image.open(path) as png:
        assert json.loads(png.text["prompt"]) == save_prompt(node="PreviewImage", batch=2)
    second = execute(engine, save_prompt(node="PreviewImage", batch=2))
    assert second.reasons["2"] is Reason.CACHED
    assert second.outputs["2"] == first.outputs["2"]
    assert len(list(folders.temp.iterdir())) == 2
    assert list(folders.output.iterdir()) == []


def test_load_scale_save_pipeline(engine: Engine, folders: Folders) -> None:
    source = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [0, 0, 255]]], np.uint8)
    Image.fromarray(source).save(folders.input / "tiny.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "tiny.png"}},
        "2": {"class_type": "ImageScale", "inputs": {
            "image": ["1", 0], "upscale_method": "nearest-exact", "width": 4, "height": 0,
            "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                    "filename_prefix": "run/tiny"}},
    }
    result = execute(engine, prompt)
    assert result.outputs["3"] == {"images": [
        {"filename": "tiny_00001_.png", "subfolder": "run", "type": "output"}]}
    with Image.open(folders.output / "run" / "tiny_00001_.png") as png:
        saved = np.asarray(png)
    assert np.array_equal(saved, source.repeat(2, axis=0).repeat(2, axis=1))
