"""Real ComfyUI client libraries complete a job against ``latentgraph serve`` and get the saved
PNGs, not preview JPEGs (the server sends previews only to prompts that ask, as ComfyUI).

- ``comfy-api-simplified==1.6.0`` (test extra): ``queue_and_wait_images`` takes any binary
  websocket frame for an output image, so it is the check that no preview reaches it.
- ``comfy-catapult==3.0.0`` in its own venv (``.venv-clients/catapult``, made by ``.ci/run``
  from ``catapult-requirements.txt``): schedules with its job API, polls ``/queue`` and
  ``/history`` through its pydantic schemas, downloads with ``/view``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import REQUIRE_ENV, Server, make_checkpoint, start_server

ROOT = Path(__file__).resolve().parents[2]
CATAPULT_PYTHON = Path(os.environ.get("LATENTGRAPH_CATAPULT_VENV",
                                      ROOT / ".venv-clients" / "catapult")) / "bin" / "python"
PNG = b"\x89PNG\r\n\x1a\n"


def _missing(message: str) -> None:
    if os.environ.get(REQUIRE_ENV) or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def txt2img(prefix: str, seed: int) -> dict[str, Any]:
    """An SD1.5-layout API prompt over the tiny checkpoint: two 64×64 images, 3 steps."""
    def node(kind: str, title: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": kind, "inputs": inputs, "_meta": {"title": title}}

    return {
        "4": node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="tiny.safetensors"),
        "5": node("EmptyLatentImage", "Empty Latent Image", width=64, height=64, batch_size=2),
        "6": node("CLIPTextEncode", "Positive", text="a red fox", clip=["4", 1]),
        "7": node("CLIPTextEncode", "Negative", text="blurry", clip=["4", 1]),
        "3": node("KSampler", "KSampler", seed=seed, steps=3, cfg=7.0, sampler_name="euler",
                  scheduler="normal", denoise=1.0, model=["4", 0], positive=["6", 0],
                  negative=["7", 0], latent_image=["5", 0]),
        "8": node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", "Save Image", filename_prefix=prefix, images=["8", 0]),
    }


@pytest.fixture(scope="module")
def client_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("clients")
    make_checkpoint(base / "models" / "checkpoints" / "tiny.safetensors")
    running = start_server(base, packs=())
    yield running
    running.stop()


def test_comfy_api_simplified_gets_the_saved_pngs(client_server: Server) -> None:
    try:
        from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper
    except ImportError:
        _missing("comfy-api-simplified is not installed (pip install -e '.[test]')")
    api = ComfyApiWrapper(client_server.url)
    images = api.queue_and_wait_images(ComfyWorkflowWrapper(txt2img("simplified", 1)),
                                       "Save Image")
    # file names from the history, not "0", "1" … (what it calls binary frames)
    assert sorted(images) == ["simplified_00001_.png", "simplified_00002_.png"]
    for name, data in images.items():
        assert data[:8] == PNG, name
        assert data == (client_server.base / "output" / name).read_bytes()


def test_comfy_catapult_gets_the_saved_pngs(client_server: Server, tmp_path: Path) -> None:
    if not CATAPULT_PYTHON.exists():
        _missing(f"no comfy-catapult venv at {CATAPULT_PYTHON.parent.parent} (python -m venv "
                 f"it, then pip install -r tests/clients/catapult-requirements.txt)")
    prompt = tmp_path / "prompt.json"
    prompt.write_text(json.dumps(txt2img("catapult", 2)))
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [str(CATAPULT_PYTHON), str(Path(__file__).with_name("catapult_job.py")),
         client_server.url, str(prompt), str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    images = json.loads(done.stdout.strip().splitlines()[-1])["images"]
    assert [i["filename"] for i in images] == ["catapult_00001_.png", "catapult_00002_.png"]
    for image in images:
        assert image["type"] == "output"
        data = Path(image["bytes_path"]).read_bytes()
        assert data[:8] == PNG
        assert data == (client_server.base / "output" / image["filename"]).read_bytes()
