"""LoraSave on tiny checkpoints: the LoRA of (patched - base), the ModelMergeSubtract output.

The LoRA loader is being written in parallel, so the weight a loader rebuilds is computed here
from the saved file with the in-test formula ``up @ down`` (conv factors flattened), and a
``.diff`` / ``.diff_b`` is the difference itself.

ComfyUI's LoraSave (matched here) clamps both factors at the 0.99 quantile of their values and
stores fp16, so its standard LoRA does NOT reproduce a difference even at full rank; the
full-rank reproduction within 1e-4 is therefore asserted for ``full_diff`` files here, and for
the unclamped factorisation in tests/diffusion/patching/test_lora_extract.py.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor

from diffusion.patching import PatchSet, WeightDiff
from diffusion.patching.extract import extract_lora
from nodes.models.lora_save import LoraSave
from nodes.models.merging import CLIPMergeSubtract, ModelMergeSubtract
from tests.nodes.models.merge_helpers import Loaded, ctx, load, model_weights
from tests.nodes.models.support import ModelEnv, TinyStore

PATCHED = {  # a linear, a 1x1 conv, a 3x3 conv (out <= in), a norm scale, a bias
    "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight": (32, 32),
    "input_blocks.1.1.proj_in.weight": (32, 32, 1, 1),
    "out.2.weight": (4, 32, 3, 3),
    "out.0.weight": (32,),
    "out.0.bias": (32,),
}
M = "diffusion_model."


def rebuilt(file: dict[str, Tensor], base: str) -> Tensor:
    """The weight difference a LoRA loader applies: up @ down (in float32)."""
    up, down = file[f"{base}.lora_up.weight"].float(), file[f"{base}.lora_down.weight"].float()
    shape = (up.shape[0], *down.shape[1:])
    return (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)).reshape(shape)


def _diffs() -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(4)
    return {key: 0.05 * torch.randn(shape, generator=gen) for key, shape in PATCHED.items()}


def _difference_model(env: ModelEnv, base: Loaded) -> tuple[object, dict[str, Tensor]]:
    diffs = _diffs()
    patches = PatchSet(tuple(WeightDiff(k, d) for k, d in diffs.items()))
    patched = dataclasses.replace(base.model, patches=patches)
    return ModelMergeSubtract().run(ctx(env), patched, base.model, 1.0)[0], diffs


def _save(env: ModelEnv, **inputs: object) -> tuple[dict[str, Tensor], dict[str, str] | None]:
    context = ctx(env)
    LoraSave().run(context, "loras/extracted", **inputs)
    path = env.folders.output / context.notes["saved"][0]
    assert path.name == "extracted_00001_.safetensors"
    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata()
    return load_file(path), metadata


def test_full_diff_reproduces_the_patch_within_1e4(env: ModelEnv, tiny: TinyStore) -> None:
    base = load(env, tiny, "sd15")
    model_diff, diffs = _difference_model(env, base)
    file, metadata = _save(env, rank=8, lora_type="full_diff", bias_diff=True,
                           model_diff=model_diff)
    assert metadata is None  # ComfyUI writes the LoRA without metadata
    assert all(t.dtype == torch.float16 for t in file.values())
    for key, diff in diffs.items():
        suffix = ".diff_b" if key.endswith(".bias") else ".diff"
        saved = file[M + key.rsplit(".", 1)[0] + suffix].float()
        assert (saved - diff).abs().max() < 1e-4, key
    unpatched = file[f"{M}input_blocks.0.0.diff"]
    assert not unpatched.any()  # every weight of the difference model is saved, zeros too
    assert len([k for k in file if k.endswith(".diff")]) == len(
        [k for k in model_weights(env, base.model) if k.endswith(".weight")])


def test_standard_lora_is_comfyuis_clamped_svd_of_each_difference(env: ModelEnv,
                                                                  tiny: TinyStore) -> None:
    base = load(env, tiny, "sd15")
    model_diff, diffs = _difference_model(env, base)
    file, _ = _save(env, rank=4096, lora_type="standard", bias_diff=True,
                    model_diff=model_diff)
    differences = model_weights(env, model_diff)  # type: ignore[arg-type]
    for key in ("input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
                "input_blocks.1.1.proj_in.weight", "out.2.weight"):
        base_key = M + key[: -len(".weight")]
        up, down = extract_lora(differences[key], 4096)
        assert torch.equal(file[f"{base_key}.lora_up.weight"], up.half())
        assert torch.equal(file[f"{base_key}.lora_down.weight"], down.half())
        assert file[f"{base_key}.lora_up.weight"].shape[1] == min(PATCHED[key][:2])
        error = (rebuilt(file, base_key) - diffs[key]).abs().max()
        assert error < diffs[key].abs().max()  # the clamp makes it an approximation
    assert torch.equal(file[f"{M}out.0.diff"].float(), diffs["out.0.weight"].half().float())
    assert f"{M}out.0.diff_b" in file
    zero = rebuilt(file, f"{M}input_blocks.0.0")  # an unpatched weight: a zero difference
    assert not zero.any()


def test_bias_diff_off_and_rank_caps(env: ModelEnv, tiny: TinyStore) -> None:
    base = load(env, tiny, "sd15")
    model_diff, _ = _difference_model(env, base)
    file, _ = _save(env, rank=3, lora_type="standard", bias_diff=False, model_diff=model_diff)
    assert not any(k.endswith((".diff", ".diff_b")) for k in file)
    assert file[f"{M}out.2.lora_up.weight"].shape == (4, 3, 1, 1)
    assert file[f"{M}out.2.lora_down.weight"].shape == (3, 32, 3, 3)


def test_text_encoder_keys_are_comfyuis(env: ModelEnv, tiny: TinyStore) -> None:
    one, two = load(env, tiny, "sdxl").clip, load(env, tiny, "sdxl", seed=8).clip
    clip_diff = CLIPMergeSubtract().run(ctx(env), one, two, 1.0)[0]
    file, _ = _save(env, rank=4, lora_type="standard", bias_diff=True,
                    text_encoder_diff=clip_diff)
    te = "text_encoders."
    for key in (f"{te}clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj",
                f"{te}clip_g.transformer.text_model.encoder.layers.1.self_attn.v_proj",
                f"{te}clip_g.transformer.text_model.encoder.layers.0.mlp.fc1",
                f"{te}clip_g.transformer.text_model.embeddings.position_embedding",
                f"{te}clip_g.transformer.text_projection"):
        assert f"{key}.lora_up.weight" in file and f"{key}.lora_down.weight" in file, key
    assert f"{te}clip_g.transformer.text_model.final_layer_norm.diff" in file
    assert f"{te}clip_g.transformer.text_model.encoder.layers.0.self_attn.k_proj.diff_b" in file
    assert not any("logit_scale" in k or "in_proj" in k or "resblocks" in k for k in file)
    assert not any(k.startswith(M) for k in file)


def test_nothing_to_extract_writes_nothing(env: ModelEnv) -> None:
    context = ctx(env)
    LoraSave().run(context, "loras/none", 8, "standard", True)
    assert "saved" not in context.notes and not (env.folders.output / "loras").exists()
    with pytest.raises(ValueError, match="'lora_type': 'half'"):
        LoraSave().run(context, "loras/none", 8, "half", True)
