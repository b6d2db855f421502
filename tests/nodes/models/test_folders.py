"""Model folders: ComfyUI's layout and aliases, nested listings re-read on every request,
extra_model_paths.yaml (ComfyUI and A1111 sections), and names that would leave a folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diffusion.embedded import DEMO_CHECKPOINT as DEMO  # always listed (embedded model)
from diffusion.embedded import DEMO_LORA  # always listed (the demo model's LoRA)
from executor.errors import PromptError
from nodes.api import ModelFolderFiles, SchemaContext
from nodes.api.paths import PathRefusedError
from nodes.models.extra_paths import ExtraPathsError, add_extra_paths, parse_extra_paths
from nodes.models.folders import ModelFolders, ModelNotFoundError
from tests.nodes.models.support import ModelEnv, loader


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_listing_is_nested_filtered_sorted_and_reread(tmp_path: Path) -> None:
    folders = ModelFolders.under(tmp_path)
    touch(tmp_path / "checkpoints" / "b.safetensors")
    touch(tmp_path / "checkpoints" / "sd15" / "a.ckpt")
    touch(tmp_path / "checkpoints" / "sd15" / "deep" / "c.SFT")
    touch(tmp_path / "checkpoints" / "notes.txt")
    touch(tmp_path / "checkpoints" / ".git" / "x.pt")
    picker, schema = ModelFolderFiles("checkpoints"), SchemaContext(model_files=folders)
    assert picker(schema) == ["b.safetensors", DEMO, "sd15/a.ckpt", "sd15/deep/c.SFT"]
    touch(tmp_path / "checkpoints" / "z.pth")
    assert picker(schema)[-1] == "z.pth"  # a new file shows up on the next request
    assert ModelFolderFiles("checkpoints")(SchemaContext()) == []


def test_legacy_names_are_aliases_with_comfyui_search_order(tmp_path: Path) -> None:
    folders = ModelFolders.under(tmp_path)
    touch(tmp_path / "clip" / "old.safetensors")
    touch(tmp_path / "text_encoders" / "new.safetensors")
    touch(tmp_path / "unet" / "u.safetensors")
    touch(tmp_path / "diffusion_models" / "d.safetensors")
    assert ModelFolderFiles("clip")(SchemaContext(model_files=folders)) == [
        "new.safetensors", "old.safetensors"]
    assert folders.files("diffusion_models") == ["d.safetensors", "u.safetensors"]
    assert folders.search_paths("unet") == [tmp_path / "unet", tmp_path / "diffusion_models"]
    with pytest.raises(KeyError, match="unknown model folder 'nope'"):
        folders.files("nope")


def test_resolve_takes_the_first_search_path_holding_the_name(tmp_path: Path) -> None:
    folders = ModelFolders.under(tmp_path / "a")
    folders.add("checkpoints", tmp_path / "b")
    second = touch(tmp_path / "b" / "m.safetensors")
    assert folders.resolve("checkpoints", "m.safetensors") == second.resolve()
    first = touch(tmp_path / "a" / "checkpoints" / "m.safetensors")
    assert folders.resolve("checkpoints", "m.safetensors") == first.resolve()
    with pytest.raises(ModelNotFoundError, match="'gone.safetensors' not found"):
        folders.resolve("checkpoints", "gone.safetensors")


@pytest.mark.parametrize("name", ["../secret.safetensors", "/etc/passwd", "a/../../x.ckpt",
                                  "C:/x.ckpt", "a\\b.ckpt", ""])
def test_names_leaving_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    folders = ModelFolders.under(tmp_path / "models")
    touch(tmp_path / "secret.safetensors")
    with pytest.raises(PathRefusedError):
        folders.resolve("checkpoints", name)


def test_links_into_a_shared_store_are_listed_and_resolved(tmp_path: Path) -> None:
    """The folders are the owner's configuration: a file or folder linked in from a shared
    store elsewhere is an entry like any other (issue 18); requests still name only entries."""
    folders = ModelFolders.under(tmp_path / "models")
    outside = touch(tmp_path / "elsewhere" / "m.safetensors")
    touch(tmp_path / "elsewhere" / "sdxl" / "big.safetensors")
    touch(tmp_path / "elsewhere" / "notes.txt")
    inside = tmp_path / "models" / "checkpoints"
    inside.mkdir(parents=True)
    os.symlink(outside, inside / "link.safetensors")
    os.symlink(tmp_path / "elsewhere", inside / "store")
    os.symlink(inside, inside / "store" / "loop")  # a loop: the folder is not walked twice
    touch(inside / "ok.safetensors")
    assert folders.files("checkpoints") == [
        DEMO, "link.safetensors", "ok.safetensors", "store/m.safetensors",
        "store/sdxl/big.safetensors"]
    assert folders.resolve("checkpoints", "link.safetensors") == inside / "link.safetensors"
    assert folders.resolve("checkpoints", "store/sdxl/big.safetensors").is_file()
    with pytest.raises(PathRefusedError, match="'..' component"):
        folders.resolve("checkpoints", "store/../../secret.safetensors")
    with pytest.raises(ModelNotFoundError):
        folders.resolve("checkpoints", "store/notes.txt")  # not a model file: not an entry


def test_a_traversal_in_a_prompt_fails_validation(env: ModelEnv, tmp_path: Path) -> None:
    touch(tmp_path / "secret.safetensors")
    with pytest.raises(PromptError) as caught:
        env.run({"1": loader("../secret.safetensors"),
                 "2": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}})
    errors = caught.value.node_errors["1"]["errors"]
    assert errors[0]["type"] == "value_not_in_list"
    assert env.opens == []


COMFYUI_YAML = """
comfyui:
    base_path: {base}
    is_default: true
    checkpoints: models/checkpoints/
    clip: models/clip/
    unet: |
        models/unet
        models/diffusion_models
    configs: models/configs/
"""

A1111_YAML = """
a111:
    base_path: {base}

    checkpoints: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    embeddings: embeddings
"""


def test_comfyui_section_with_base_path_defaults_and_aliases(tmp_path: Path) -> None:
    other = tmp_path / "other-comfy"
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(COMFYUI_YAML.format(base=other))
    folders = ModelFolders.under(tmp_path / "models")
    entries = add_extra_paths(folders, yaml_file)
    assert [e.folder for e in entries] == ["checkpoints", "clip", "unet", "unet", "configs"]
    assert all(e.is_default for e in entries)
    assert folders.search_paths("checkpoints")[0] == other / "models" / "checkpoints"
    assert other / "models" / "clip" in folders.search_paths("text_encoders")
    # is_default puts each entry first, so the later line of a block comes first
    assert folders.search_paths("diffusion_models")[:2] == [
        other / "models" / "diffusion_models", other / "models" / "unet"]
    assert folders.search_paths("configs") == [other / "models" / "configs",
                                               tmp_path / "models" / "configs"]
    touch(other / "models" / "checkpoints" / "sub" / "reused.safetensors")
    touch(tmp_path / "models" / "checkpoints" / "local.safetensors")
    assert folders.files("checkpoints") == [DEMO, "local.safetensors",
                                            "sub/reused.safetensors"]


def test_a1111_section_reuses_its_folder_names(tmp_path: Path) -> None:
    webui = tmp_path / "stable-diffusion-webui"
    yaml_file = tmp_path / "extra.yaml"
    yaml_file.write_text(A1111_YAML.format(base=webui))
    folders = ModelFolders.under(tmp_path / "models")
    add_extra_paths(folders, yaml_file)
    touch(webui / "models" / "Stable-diffusion" / "v1-5.safetensors")
    touch(webui / "models" / "Lora" / "a.safetensors")
    touch(webui / "models" / "LyCORIS" / "b.safetensors")
    touch(webui / "models" / "VAE" / "vae.pt")
    assert folders.files("checkpoints") == [DEMO, "v1-5.safetensors"]
    assert folders.files("loras") == ["a.safetensors", "b.safetensors", DEMO_LORA]
    assert folders.files("vae") == ["vae.pt"]
    assert folders.search_paths("embeddings")[-1] == webui / "embeddings"
    assert folders.search_paths("checkpoints")[0] == tmp_path / "models" / "checkpoints"


def test_relative_paths_follow_the_yaml_folder_and_home_expands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELS_ROOT", str(tmp_path / "env-root"))
    yaml_file = tmp_path / "conf" / "extra.yaml"
    yaml_file.parent.mkdir()
    yaml_file.write_text("plain:\n  vae: rel/vae\n  loras: ~/loras\n"
                         "envy:\n  base_path: $MODELS_ROOT\n  checkpoints: ck\n"
                         "relbase:\n  base_path: ../shared\n  vae: v\nempty:\n")
    entries = parse_extra_paths(yaml_file)
    assert [(e.folder, e.path) for e in entries] == [
        ("vae", tmp_path / "conf" / "rel" / "vae"),
        ("loras", tmp_path / "home" / "loras"),
        ("checkpoints", tmp_path / "env-root" / "ck"),
        ("vae", tmp_path / "shared" / "v"),
    ]
    assert not any(e.is_default for e in entries)


@pytest.mark.parametrize("text", ["a: [1, 2]", "- just\n- a list", "a:\n  vae: 3", "a: {b: ["])
def test_malformed_yaml_is_refused_with_the_file_named(tmp_path: Path, text: str) -> None:
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text(text)
    with pytest.raises(ExtraPathsError, match="bad.yaml"):
        parse_extra_paths(yaml_file)


def test_object_info_lists_the_bound_folders_on_every_request(env: ModelEnv) -> None:
    touch(env.base / "models" / "checkpoints" / "sd15" / "x.safetensors")
    info = env.registry.node_info("CheckpointLoaderSimple")
    assert info["input"]["required"]["ckpt_name"][0] == [DEMO, "sd15/x.safetensors"]
    touch(env.base / "models" / "clip" / "l.safetensors")
    dual = env.registry.node_info("DualCLIPLoader")["input"]["required"]
    assert dual["clip_name1"][0] == dual["clip_name2"][0] == ["l.safetensors"]
