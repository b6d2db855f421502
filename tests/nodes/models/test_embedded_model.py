"""The embedded demo model: always on the checkpoint search path, loaded by the ordinary nodes,
and the editor's default workflow uses the model card's recommended settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffusion.embedded import DEMO_CHECKPOINT, EMBEDDED_DIR, EMBEDDED_PATHS, RECOMMENDED
from diffusion.loading import load_checkpoint
from latentgraph.app import default_model_folders, folders_under, model_roots
from nodes.models import ModelFolders
from server.settings import MODEL_FOLDERS
from tests.nodes.models.support import ModelEnv, loader

ROOT = Path(__file__).resolve().parents[3]
FILE = EMBEDDED_PATHS["checkpoints"] / DEMO_CHECKPOINT


def test_the_file_ships_in_the_package_fp16_under_30_mb() -> None:
    assert FILE.is_file(), f"{FILE} missing: the package must ship the demo model"
    assert FILE.stat().st_size <= 30_000_000
    ckpt = load_checkpoint(FILE)
    assert ckpt.layout.family == "sd1" and ckpt.prediction == "v"
    assert (EMBEDDED_DIR / "MODEL_CARD.md").is_file()


def test_listed_for_any_base_dir_and_a_users_file_of_that_name_wins(tmp_path: Path) -> None:
    folders = ModelFolders.under(tmp_path / "models")
    assert folders.files("checkpoints") == [DEMO_CHECKPOINT]
    folders.add("checkpoints", tmp_path / "extra")  # added later, still before the embedded one
    assert folders.search_paths("checkpoints")[-1] == EMBEDDED_PATHS["checkpoints"]
    assert folders.resolve("checkpoints", DEMO_CHECKPOINT) == FILE
    own = tmp_path / "models" / "checkpoints" / DEMO_CHECKPOINT
    own.parent.mkdir(parents=True)
    own.write_bytes(b"x")
    assert folders.resolve("checkpoints", DEMO_CHECKPOINT) == own
    assert ModelFolders().files("checkpoints") == [DEMO_CHECKPOINT]
    with pytest.raises(KeyError):
        ModelFolders().search_paths("vae")


def test_server_lists_it_through_the_composition_root(tmp_path: Path) -> None:
    roots = model_roots(default_model_folders(folders_under(tmp_path)), MODEL_FOLDERS)
    assert roots["checkpoints"] == (tmp_path / "models" / "checkpoints",
                                    EMBEDDED_PATHS["checkpoints"])
    assert roots["loras"] == (tmp_path / "models" / "loras", EMBEDDED_PATHS["loras"])
    assert roots["controlnet"][-1] == EMBEDDED_PATHS["controlnet"]
    assert roots["configs"] == (tmp_path / "models" / "configs",)  # CheckpointLoader's configs
    assert roots["clip"][0] == tmp_path / "models" / "text_encoders"


def test_checkpoint_loader_simple_loads_it(env: ModelEnv) -> None:
    model = env.probe({"1": loader(DEMO_CHECKPOINT)}, "1", 0)
    assert env.opens == [FILE]
    sampling = model.model_sampling  # as the file's v_pred and ztsnr marker keys declare
    assert sampling.prediction == "v_prediction" and sampling.zsnr
    assert env.probe({"1": loader(DEMO_CHECKPOINT)}, "1", 2) is not None  # the VAE


def test_editor_default_workflow_uses_the_recommended_settings() -> None:
    js = (ROOT / "web" / "js" / "default_graph.js").read_text()
    block = re.search(r"export const DEMO = \{(.*?)\};", js, re.S)
    assert block is not None
    values = dict(re.findall(r"(\w+): ([^,\n]+)", block.group(1)))
    assert values["ckpt"].strip('"') == DEMO_CHECKPOINT
    assert int(values["width"]) == RECOMMENDED["width"]
    assert int(values["height"]) == RECOMMENDED["height"]
    assert int(values["steps"]) == RECOMMENDED["steps"]
    assert float(values["cfg"]) == RECOMMENDED["cfg"]
    assert values["sampler"].strip('"') == RECOMMENDED["sampler_name"]
    assert values["scheduler"].strip('"') == RECOMMENDED["scheduler"]
