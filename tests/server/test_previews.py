"""Previews as ComfyUI sends them: none unless the server's ``--preview-method`` or the
prompt's ``extra_data.preview_method`` asks; a small latent projection is shown at 512 px."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from executor.events import NodeProgress
from nodes.api import Registry
from server.previews import PreviewSettings, encode_preview, job_method
from tests.server.conftest import (
    ClientFactory,
    connect,
    is_end_of,
    make_app,
    make_settings,
    messages_until,
    queue_prompt,
)

RUNS = iter(range(1, 10**6))


def _prompt() -> dict[str, Any]:
    """A prompt no earlier run cached (the Previewer runs each time)."""
    return {"1": {"class_type": "Constant", "inputs": {"value": next(RUNS)}},
            "2": {"class_type": "Previewer", "inputs": {"a": ["1", 0], "steps": 3}},
            "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}


async def _run(client: TestClient, **extra: Any) -> tuple[list[dict[str, Any]], list[bytes]]:
    ws, sid = await connect(client)
    pid = (await queue_prompt(client, _prompt(), sid, **extra))["prompt_id"]
    frames: list[bytes] = []
    seen = await messages_until(ws, is_end_of(pid), frames)
    await ws.close()
    return seen, frames


@pytest.mark.asyncio
async def test_no_preview_frames_unless_asked(client: TestClient) -> None:
    seen, frames = await _run(client)
    assert [m["data"]["value"] for m in seen if m["type"] == "progress"] == [1, 2, 3]
    assert frames == []
    seen, frames = await _run(client, extra_data={"preview_method": "default"})
    assert frames == []


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["auto", "latent2rgb", "taesd"])
async def test_a_prompt_asks_for_previews(client: TestClient, method: str) -> None:
    _, frames = await _run(client, extra_data={"preview_method": method})
    assert len(frames) == 3
    assert struct.unpack(">II", frames[0][:8])[0] == 1  # legacy frame: no client flags sent


@pytest.mark.asyncio
async def test_server_method_and_a_prompt_that_says_none(
        aiohttp_client: ClientFactory, registry: Registry, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, preview_method="latent2rgb")
    client = await aiohttp_client(make_app(registry, settings))
    assert len((await _run(client))[1]) == 3
    assert (await _run(client, extra_data={"preview_method": "none"}))[1] == []
    assert len((await _run(client, extra_data={"preview_method": "bogus"}))[1]) == 3


def test_job_method_follows_comfyui() -> None:
    assert job_method("none", {}) == "none"
    assert job_method("none", {"preview_method": "taesd"}) == "latent2rgb"  # no TAESD here
    assert job_method("auto", {"preview_method": "none"}) == "none"
    assert job_method("auto", {"preview_method": "default"}) == "latent2rgb"
    assert job_method("taesd", {"preview_method": 3}) == "latent2rgb"
    with pytest.raises(ValueError, match="unknown preview method 'fast'"):
        PreviewSettings("fast")


def _decoded(preview: Any) -> Image.Image:
    encoded = encode_preview("7", preview)
    assert encoded is not None and encoded.image_type == "image/jpeg"
    return Image.open(io.BytesIO(encoded.data))


def test_small_projections_are_shown_at_comfyuis_size() -> None:
    assert _decoded(("JPEG", Image.new("RGB", (16, 16)), 512)).size == (512, 512)
    assert _decoded(("JPEG", Image.new("RGB", (24, 16)), 512)).size == (512, 341)
    assert _decoded(Image.new("RGB", (1024, 768))).size == (512, 384)
    assert _decoded(("JPEG", Image.new("RGB", (16, 16)), 64)).size == (64, 64)


def test_a_disabled_limiter_drops_previews_before_encoding() -> None:
    event = NodeProgress("job", "2", 1, 3, ("JPEG", Image.new("RGB", (8, 8)), 512))
    assert PreviewSettings("none", 0.0).limiter({})(event).preview is None
    kept = PreviewSettings("none", 0.0).limiter({"preview_method": "auto"})(event).preview
    assert kept is not None and kept.image_type == "image/jpeg"
