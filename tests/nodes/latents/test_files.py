"""SaveLatent / LoadLatent: ComfyUI's .latent format both ways (files written by hand in both
versions of the format), file naming, metadata, listing and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nodes.api import FingerprintContext, Folders, SchemaContext
from nodes.latents.files import InputLatentFiles, LoadLatent, SaveLatent
from nodes.payloads import Latent
from tests.nodes.latents.support import call
from tests.nodes.models.support import Ctx


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    made = Folders(input=tmp_path / "in", output=tmp_path / "out", temp=tmp_path / "tmp")
    for path in (made.input, made.output, made.temp):
        path.mkdir()
    return made


def _ctx(folders: Folders) -> Ctx:
    return Ctx(folders=folders, prompt={"3": {"class_type": "SaveLatent"}},
               extra_pnginfo={"workflow": {"nodes": []}})


def test_save_writes_comfyuis_format_with_metadata_and_counters(folders: Folders) -> None:
    samples = torch.randn((2, 4, 3, 5), generator=torch.Generator().manual_seed(1))
    result = call(SaveLatent, Latent(samples, torch.ones((1, 1, 8, 8)), (3, 4)), "latents/run",
                  ctx=_ctx(folders))
    assert result.ui == {"latents": [{"filename": "run_00001_.latent", "subfolder": "latents",
                                      "type": "output"}]}
    path = folders.output / "latents" / "run_00001_.latent"
    with safe_open(str(path), "pt") as handle:
        assert sorted(handle.keys()) == ["latent_format_version_0", "latent_tensor"]
        assert torch.equal(handle.get_tensor("latent_tensor"), samples)
        assert handle.get_tensor("latent_format_version_0").shape == (0,)
        meta = handle.metadata()
    assert json.loads(meta["prompt"]) == {"3": {"class_type": "SaveLatent"}}
    assert json.loads(meta["workflow"]) == {"nodes": []}
    again = call(SaveLatent, Latent(samples), "latents/run", ctx=_ctx(folders))
    assert again.ui["latents"][0]["filename"] == "run_00002_.latent"


def test_load_of_save_is_bit_identical(folders: Folders) -> None:
    samples = torch.randn((1, 4, 6, 7), generator=torch.Generator().manual_seed(2))
    call(SaveLatent, Latent(samples), "x", ctx=_ctx(folders))
    loaded = call(LoadLatent, "x_00001_.latent [output]", ctx=_ctx(folders))
    assert torch.equal(loaded.samples, samples) and loaded.noise_mask is None


def test_load_reads_both_versions_of_files_written_by_hand(folders: Folders) -> None:
    raw = torch.tensor([[[[1.0, -2.0]]]])
    save_file({"latent_tensor": raw, "latent_format_version_0": torch.tensor([])},
              str(folders.input / "new.latent"))
    save_file({"latent_tensor": raw.half()}, str(folders.input / "old.latent"))
    ctx = _ctx(folders)
    assert torch.equal(call(LoadLatent, "new.latent", ctx=ctx).samples, raw)
    old = call(LoadLatent, "old.latent", ctx=ctx).samples
    assert old.dtype == torch.float32
    assert torch.allclose(old, raw / 0.18215)  # stored scaled: unscaled on load


def test_listing_validation_and_fingerprint(folders: Folders) -> None:
    for name in ("b.latent", "a.latent", "c.png"):
        (folders.input / name).write_bytes(name.encode())
    (folders.input / "sub").mkdir()
    assert InputLatentFiles()(SchemaContext(folders=folders)) == ["a.latent", "b.latent"]
    check = FingerprintContext(node_id="1", folders=folders)
    assert LoadLatent.validate(check, latent="a.latent") is None
    assert LoadLatent.validate(check, latent="nope.latent") == "Invalid latent file: nope.latent"
    assert "'..' component" in str(LoadLatent.validate(check, latent="../x.latent"))
    first = LoadLatent.fingerprint(check, latent="a.latent")
    assert first == LoadLatent.fingerprint(check, latent="a.latent")
    assert first != LoadLatent.fingerprint(check, latent="b.latent")
    with pytest.raises(ValueError, match="holds no 'latent_tensor'"):
        save_file({"other": torch.zeros(1)}, str(folders.input / "bad.latent"))
        call(LoadLatent, "bad.latent", ctx=_ctx(folders))
