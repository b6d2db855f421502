"""The composition root wires model folders (with extra_model_paths.yaml) into the pickers and
a ModelManager, folders and tokenizer into the engine's ports."""

from __future__ import annotations

from pathlib import Path

from diffusion.embedded import DEMO_CHECKPOINT
from diffusion.memory import ModelManager
from latentgraph.app import build_engine, build_registry, folders_under
from nodes.api import Ports
from nodes.models import SharedText, TokenizerCache
from nodes.models.sources import open_model_file


def test_build_registry_and_engine_use_base_models_and_extra_paths(tmp_path: Path) -> None:
    folders = folders_under(tmp_path)
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "local.safetensors").write_bytes(b"x")
    webui = tmp_path / "webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "models" / "Stable-diffusion" / "a1111.ckpt").write_bytes(b"x")
    (tmp_path / "extra_model_paths.yaml").write_text(
        f"a111:\n  base_path: {webui}\n  checkpoints: models/Stable-diffusion\n")
    registry = build_registry(folders)
    choices = registry.node_info("CheckpointLoaderSimple")["input"]["required"]["ckpt_name"][0]
    assert choices == ["a1111.ckpt", DEMO_CHECKPOINT, "local.safetensors"]  # embedded: always
    engine = build_engine(registry, folders)
    assert isinstance(engine.ports.models, ModelManager)
    assert engine.ports.models._opener is open_model_file
    assert isinstance(engine.ports.text, SharedText)
    assert isinstance(engine.ports.text.clip_tokenizer(), TokenizerCache)
    assert engine.ports.model_files.files("checkpoints") == choices


def test_ports_can_be_given(tmp_path: Path) -> None:
    folders = folders_under(tmp_path)
    ports = Ports()
    engine = build_engine(build_registry(folders), folders, ports=ports)
    assert engine.ports is ports


def test_ports_describe_the_compute_device(tmp_path: Path) -> None:
    folders = folders_under(tmp_path)
    engine = build_engine(build_registry(folders), folders)
    (device,) = engine.devices()
    assert device["type"] == "cpu" and device["vram_total"] == 0
    assert callable(engine.ports.models.unload_all)
