"""The new latent nodes through the engine: a file-to-file latent workflow with a list output
(RebatchLatents), and a sampling workflow with a pre-CFG latent operation."""

from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from tests.nodes.images.helpers import Probe
from tests.nodes.latents.support import grid
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader


def node(class_type: str, **inputs: object) -> dict[str, object]:
    return {"class_type": class_type, "inputs": inputs}


def test_a_latent_workflow_from_file_to_files(env: ModelEnv) -> None:
    start = grid(1, 4, 8, 10)
    save_file({"latent_tensor": start, "latent_format_version_0": torch.tensor([])},
              str(env.folders.input / "start.latent"))
    prompt = {
        "1": node("LoadLatent", latent="start.latent"),
        "2": node("LatentFlip", samples=["1", 0], flip_method="y-axis: horizontally"),
        "3": node("LatentRotate", samples=["2", 0], rotation="90 degrees"),  # (1, 4, 10, 8)
        "4": node("LatentCrop", samples=["3", 0], width=64, height=64, x=0, y=16),
        "5": node("LatentBatch", samples1=["4", 0], samples2=["4", 0]),
        "6": node("RebatchLatents", latents=["5", 0], batch_size=1),
        "7": node("LatentMultiply", samples=["6", 0], multiplier=2.0),
        "8": node("SaveLatent", samples=["7", 0], filename_prefix="wf/out"),
        "probe": node("Probe", value=["7", 0]),
    }
    Probe.seen = []
    env.run(prompt)
    expected = torch.rot90(torch.flip(start, dims=[3]), k=1, dims=[3, 2])[:, :, 2:10, 0:8] * 2
    # ran once per list item; each half of the batch kept its own noise position (0)
    assert [p.batch_index for p in Probe.seen] == [(0,), (0,)]
    files = sorted((env.folders.output / "wf").iterdir())
    assert [f.name for f in files] == ["out_00001_.latent", "out_00002_.latent"]
    for path in files:
        assert torch.equal(load_file(str(path))["latent_tensor"], expected)


def test_a_latent_operation_patches_guidance(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")

    def prompt(model: list[object]) -> dict[str, object]:
        return {
            "1": loader("m.safetensors"),
            "2": encode("a red square", ["1", 1]),
            "3": encode("", ["1", 1]),
            "4": node("EmptyLatentImage", width=64, height=64, batch_size=1),
            "5": node("LatentOperationTonemapReinhard", multiplier=0.5),
            "6": node("LatentApplyOperationCFG", model=["1", 0], operation=["5", 0]),
            "7": node("KSampler", model=model, seed=1, steps=2, cfg=4.0, sampler_name="euler",
                      scheduler="normal", positive=["2", 0], negative=["3", 0],
                      latent_image=["4", 0], denoise=1.0),
        }

    plain = env.probe(prompt(["1", 0]), "7")
    patched = env.probe(prompt(["6", 0]), "7")
    assert plain.samples.shape == patched.samples.shape == (1, 4, 8, 8)
    assert torch.isfinite(patched.samples).all()
    assert not torch.allclose(plain.samples, patched.samples)
    model = env.probe(prompt(["6", 0]), "6")
    assert len(model.hooks.pre_cfg) == 1
