"""LoraLoader / LoraLoaderModelOnly through the engine on a tiny SD1.5 checkpoint: the LoRA's
weights land where they should (hand formula), stacking composes, strength 0 is the base, a
strength change re-runs only the loader and what follows, patched copies are reused, unmapped
keys are reported and a file that maps to nothing fails with the family it looks like."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from diffusion.embedded import DEMO_LORA
from executor.engine import Engine
from executor.errors import PromptError
from executor.jobs import JobOutcome, JobRequest
from tests.workflows.support import Workspace, cached_output, tiny_checkpoints, workspace

__all__ = ["tiny_checkpoints", "workspace"]
CKPT = "sd15.safetensors"
RANK, ALPHA = 2, 1.0


def _linears(module: nn.Module, within: str) -> dict[str, nn.Linear]:
    return {n: m for n, m in module.named_modules() if isinstance(m, nn.Linear) and within in n}


def _pairs(names: dict[str, nn.Linear], prefix: str, seed: int) -> dict[str, Tensor]:
    """kohya tensors (lora_down, lora_up, alpha) for every named linear layer."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for name, layer in names.items():
        key = prefix + name.replace(".", "_")
        state[f"{key}.lora_down.weight"] = torch.randn(RANK, layer.in_features, generator=gen)
        state[f"{key}.lora_up.weight"] = torch.randn(layer.out_features, RANK, generator=gen)
        state[f"{key}.alpha"] = torch.tensor(ALPHA)
    return state


def write_lora(engine: Engine, folder: Path, name: str, seed: int, junk: int = 0) -> Path:
    """A kohya LoRA on the tiny UNet's attention and the text encoder's attention layers."""
    handles = engine.ports.models.open(folder.parent / "checkpoints" / CKPT)
    with engine.ports.models.use(handles["unet"]) as unet:
        state = _pairs(_linears(unet, "transformer_blocks"), "lora_unet_", seed)  # LDM names
    with engine.ports.models.use(handles["clip_l"]) as text:
        hf = {n.removeprefix("transformer."): m for n, m in _linears(text, "self_attn").items()}
        state.update(_pairs(hf, "lora_te_", seed + 1))
    for i in range(junk):
        state[f"lora_unet_nothing_here_{i}.lora_down.weight"] = torch.zeros(RANK, 4)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, folder / name)
    return folder / name


def prompt(model_lora: list[tuple[str, float, float]], text: str = "a fox") -> dict[str, Any]:
    nodes: dict[str, Any] = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}}}
    model, clip = ["ckpt", 0], ["ckpt", 1]
    for i, (name, sm, sc) in enumerate(model_lora):
        nodes[f"lora{i}"] = {"class_type": "LoraLoader", "inputs": {
            "model": model, "clip": clip, "lora_name": name, "strength_model": sm,
            "strength_clip": sc}}
        model, clip = [f"lora{i}", 0], [f"lora{i}", 1]
    nodes.update({
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": clip}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": clip}},
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "out": {"class_type": "KSampler", "inputs": {
            "model": model, "seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0], "denoise": 1.0}},
    })
    return nodes


def run(engine: Engine, nodes: dict[str, Any], job: str) -> tuple[JobOutcome, Tensor]:
    result = engine.execute(JobRequest(job, nodes, ("out",)))
    assert result.ok, result.failure
    return result, cached_output(engine, nodes, "out").samples


@pytest.fixture
def env(workspace: Workspace) -> tuple[Engine, Path]:
    engine = workspace.engine()
    loras = workspace.base / "models" / "loras"
    write_lora(engine, loras, "a.safetensors", 5)
    write_lora(engine, loras, "b.safetensors", 9, junk=3)
    return engine, loras


def test_lora_patches_land_by_the_kohya_formula(env: tuple[Engine, Path]) -> None:
    engine, loras = env
    nodes = prompt([("a.safetensors", 0.5, 1.0)])
    result, _ = run(engine, nodes, "a")
    assert result.notes["lora0"]["lora"]["unmapped_count"] == 0
    assert result.notes["lora0"]["lora"]["mapped"] == result.notes["lora0"]["lora"]["keys"] > 0
    model = cached_output(engine, nodes, "lora0", 0)
    lora = load_file(loras / "a.safetensors")
    key = "input_blocks.1.1.transformer_blocks.0.attn1.to_q"
    down = lora[f"lora_unet_{key.replace('.', '_')}.lora_down.weight"]
    up = lora[f"lora_unet_{key.replace('.', '_')}.lora_up.weight"]
    with engine.ports.models.use(model.unet) as base, \
            engine.ports.models.use(model.unet, model.patches) as patched:
        before = dict(base.named_parameters())[f"{key}.weight"]
        after = dict(patched.named_parameters())[f"{key}.weight"]
        expected = before + 0.5 * (ALPHA / RANK) * (up @ down)
        assert torch.allclose(after, expected, rtol=1e-5, atol=1e-6)
        untouched = "input_blocks.1.1.proj_in.weight"
        assert torch.equal(dict(base.named_parameters())[untouched],
                           dict(patched.named_parameters())[untouched])


def test_strengths_stacking_and_caching(env: tuple[Engine, Path]) -> None:
    engine, _ = env
    _, base = run(engine, prompt([]), "base")
    _, zero = run(engine, prompt([("a.safetensors", 0.0, 0.0)]), "zero")
    assert torch.equal(zero, base)
    _, one = run(engine, prompt([("a.safetensors", 1.0, 1.0)]), "one")
    _, model_only = run(engine, prompt([("a.safetensors", 1.0, 0.0)]), "model-only")
    _, stacked = run(engine, prompt([("a.safetensors", 1.0, 1.0), ("b.safetensors", 1.0, 1.0)]),
                     "stacked")
    assert len({bytes(t.numpy().tobytes()) for t in (base, one, model_only, stacked)}) == 4
    manager = engine.ports.models
    copies, loads = manager.patched_copies, manager.loads  # type: ignore[attr-defined]
    changed, again = run(engine, prompt([("a.safetensors", 0.8, 1.0)]), "strength")
    assert set(changed.executed) == {"lora0", "pos", "neg", "out"}  # the checkpoint is reused
    _, back = run(engine, prompt([("a.safetensors", 1.0, 0.0)]), "back")
    assert torch.equal(back, model_only)
    assert manager.loads == loads  # type: ignore[attr-defined]  # no checkpoint reload
    assert manager.patched_copies == copies + 1  # type: ignore[attr-defined]  # only 0.8 is new
    assert not torch.equal(again, one)


def test_unmapped_keys_are_reported_and_foreign_files_refused(env: tuple[Engine, Path]) -> None:
    engine, loras = env
    result, _ = run(engine, prompt([("b.safetensors", 1.0, 1.0)]), "junk")
    note = result.notes["lora0"]["lora"]
    assert note["unmapped_count"] == 3 and len(note["unmapped"]) == 3
    assert all(k.startswith("lora_unet_nothing_here_") for k in note["unmapped"])
    gen = torch.Generator().manual_seed(0)
    sdxl_like = {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight":
                 torch.randn(RANK, 2048, generator=gen),
                 "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight":
                 torch.randn(640, RANK, generator=gen)}
    save_file(sdxl_like, loras / "xl.safetensors")
    failed = engine.execute(JobRequest("xl", prompt([("xl.safetensors", 1.0, 1.0)]), ("out",)))
    assert failed.failure is not None and failed.failure.node_id == "lora0"
    assert "maps to nothing" in failed.failure.message and "SDXL" in failed.failure.message


def test_base_and_lora_jobs_alternate_like_each_alone(workspace: Workspace) -> None:
    engines = [workspace.engine() for _ in range(3)]
    for engine in engines:
        write_lora(engine, workspace.base / "models" / "loras", "a.safetensors", 5)
    base_nodes, lora_nodes = prompt([]), prompt([("a.safetensors", 0.7, 0.7)])
    _, base_alone = run(engines[0], base_nodes, "base")
    _, lora_alone = run(engines[1], lora_nodes, "lora")
    shared = engines[2]
    for round_ in range(2):  # the output cache is cleared per round: every node runs again
        for nodes, alone in ((base_nodes, base_alone), (lora_nodes, lora_alone)):
            _, sampled = run(shared, nodes, f"{round_}-{id(nodes)}")
            assert torch.equal(sampled, alone)
        shared.cache.clear()
    assert shared.ports.models.patched_copies == 2  # type: ignore[attr-defined]  # UNet + CLIP


def test_a_shared_store_linked_into_the_models_folder_works(workspace: Workspace,
                                                            tmp_path: Path) -> None:
    """Checkpoint in a linked sub-folder, LoRA as a linked file: listed, loaded; a traversal
    through the link is still refused at validation."""
    store = tmp_path / "store"
    (store / "sd").mkdir(parents=True)
    checkpoints = workspace.base / "models" / "checkpoints"
    (checkpoints / CKPT).rename(store / "sd" / CKPT)
    (checkpoints / "shared").symlink_to(store / "sd", target_is_directory=True)
    engine = workspace.engine()
    loras = workspace.base / "models" / "loras"
    loras.mkdir(parents=True)
    handles = engine.ports.models.open(checkpoints / "shared" / CKPT)
    with engine.ports.models.use(handles["unet"]) as unet:
        state = _pairs(_linears(unet, "transformer_blocks"), "lora_unet_", 3)
    save_file(state, store / "mine.safetensors")
    (loras / "linked.safetensors").symlink_to(store / "mine.safetensors")
    listing = engine.registry.node_info("LoraLoader")["input"]["required"]["lora_name"][0]
    assert listing == sorted(["linked.safetensors", DEMO_LORA])  # the demo LoRA always listed
    nodes = prompt([("linked.safetensors", 1.0, 0.0)])
    nodes["ckpt"]["inputs"]["ckpt_name"] = f"shared/{CKPT}"
    result, sampled = run(engine, nodes, "shared")
    assert result.notes["lora0"]["lora"]["mapped"] > 0 and torch.isfinite(sampled).all()
    nodes["ckpt"]["inputs"]["ckpt_name"] = f"shared/../../{CKPT}"
    with pytest.raises(PromptError) as refused:
        engine.validate(nodes, targets=["out"])
    assert refused.value.node_errors["ckpt"]["errors"][0]["type"] == "value_not_in_list"
