"""Our CLIP text encoders equal transformers' CLIPTextModel / CLIPTextModelWithProjection.

Our state dicts are given the real single-file prefixes and converted with diffusers' own
single-file converters (``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``, which
splits OpenCLIP's fused ``in_proj``), then loaded strictly into the transformers model.
"""

from __future__ import annotations

import pytest
import torch

from diffusion.text import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig, sdxl_context

transformers = pytest.importorskip("transformers")
pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_clip_checkpoint,
    convert_open_clip_checkpoint,
)

VOCAB = 100
EOS = VOCAB - 1
BOS = VOCAB - 2


def _tiny(activation: str, projection: int | None) -> TextEncoderConfig:
    return TextEncoderConfig(
        vocab_size=VOCAB,
        width=32,
        layers=3,
        heads=4,
        max_positions=16,
        activation=activation,
        projection_dim=projection,
        eos_token_id=EOS,  # type: ignore[arg-type]
    )


def _hf_config(cfg: TextEncoderConfig):
    return transformers.CLIPTextConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.width,
        intermediate_size=cfg.width * cfg.mlp_ratio,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        hidden_act=cfg.activation,
        layer_norm_eps=cfg.eps,
        projection_dim=cfg.projection_dim or cfg.width,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=0,
    )


def _ids(pad: int) -> torch.Tensor:
    """Two prompts: BOS, random tokens, EOS, then padding (EOS for SD1, 0 for OpenCLIP-G)."""
    gen = torch.Generator().manual_seed(3)
    ids = torch.full((2, 16), pad, dtype=torch.long)
    for row, length in enumerate((6, 11)):
        ids[row, 0] = BOS
        ids[row, 1:length] = torch.randint(1, VOCAB - 2, (length - 1,), generator=gen)
        ids[row, length] = EOS
    return ids


def _clip_l_pair(randomize, prefix: str):
    cfg = _tiny("quick_gelu", None)
    ours = CLIPTextModel(cfg).eval()
    randomize(ours, 21)
    ref = transformers.CLIPTextModel(_hf_config(cfg)).eval()
    checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_clip_checkpoint(checkpoint)
    if not hasattr(ref, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    ref.load_state_dict(converted, strict=True)
    return ours, ref


def _open_clip_pair(randomize, prefix: str, projection: int):
    cfg = _tiny("gelu", projection)
    ours = OpenCLIPTextModel(cfg).eval()
    randomize(ours, 22)
    ref = transformers.CLIPTextModelWithProjection(_hf_config(cfg)).eval()
    checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
    converted = convert_open_clip_checkpoint(ref, checkpoint, prefix=prefix)
    if prefix == "cond_stage_model.model.":
        # diffusers' SD2 text encoder has no projection, so its converter drops it; we keep it.
        assert "text_projection.weight" not in converted
        converted["text_projection.weight"] = checkpoint[prefix + "text_projection"].T
    assert sorted(converted) == sorted(ref.state_dict())  # logit_scale is the only key dropped
    ref.load_state_dict(converted, strict=True)
    return ours, ref


@pytest.mark.parametrize(
    "prefix", ["cond_stage_model.transformer.", "conditioner.embedders.0.transformer."]
)
def test_clip_l_matches_transformers(prefix, randomize, rel_err) -> None:
    ours, ref = _clip_l_pair(randomize, prefix)
    ids = _ids(pad=EOS)
    with torch.no_grad():
        want = ref(ids, output_hidden_states=True)
        last = ours(ids)
        skip2 = ours(ids, layer=-2)  # SD1 "clip skip 2": penultimate layer, final norm applied
        skip2_raw = ours(ids, layer=-2, final_norm=False)  # SDXL's CLIP-L context
        skip2_ref = ref.final_layer_norm(want.hidden_states[-2])
    assert rel_err(last.hidden, want.last_hidden_state) <= 1e-5
    assert rel_err(last.pooled, want.pooler_output) <= 1e-5
    assert rel_err(skip2.hidden, skip2_ref) <= 1e-5
    assert rel_err(skip2_raw.hidden, want.hidden_states[-2]) <= 1e-5
    assert rel_err(skip2.pooled, want.pooler_output) <= 1e-5  # pooled always from the last layer
    assert (skip2.hidden - last.hidden).abs().max() > 1e-2


@pytest.mark.parametrize(
    ("prefix", "pad", "final_norm"),
    [
        ("cond_stage_model.model.", EOS, True),  # SD2.x ViT-H: penultimate layer, then ln_final
        ("conditioner.embedders.1.model.", 0, False),  # SDXL ViT-bigG: raw penultimate layer
    ],
)
def test_open_clip_matches_transformers_with_projection(
    prefix, pad, final_norm, randomize, rel_err
) -> None:
    ours, ref = _open_clip_pair(randomize, prefix, projection=24)
    ids = _ids(pad=pad)
    with torch.no_grad():
        want = ref(ids, output_hidden_states=True)
        got = ours(ids, layer=-2, final_norm=final_norm)
        penultimate = want.hidden_states[-2]
        if final_norm:
            penultimate = ref.text_model.final_layer_norm(penultimate)
        last = ours(ids)
    assert rel_err(got.hidden, penultimate) <= 1e-5
    assert rel_err(got.pooled, want.text_embeds) <= 1e-5
    assert got.pooled.shape == (2, 24)
    assert rel_err(last.hidden, want.last_hidden_state) <= 1e-5


def test_activations_and_eps_match_reference_configs(randomize) -> None:
    ours_l, ref_l = _clip_l_pair(randomize, "cond_stage_model.transformer.")
    ours_g, ref_g = _open_clip_pair(randomize, "cond_stage_model.model.", projection=24)
    assert ref_l.config.hidden_act == ours_l.config.activation == "quick_gelu"
    assert ref_g.config.hidden_act == ours_g.config.activation == "gelu"
    assert ours_l.text_model.final_layer_norm.eps == ref_l.config.layer_norm_eps
    assert ours_g.ln_final.eps == ref_g.text_model.final_layer_norm.eps


def test_layer_out_of_range_is_named() -> None:
    model = CLIPTextModel(_tiny("quick_gelu", None))
    with pytest.raises(ValueError, match="layer=-4"):
        model(_ids(pad=EOS), layer=-4)
    with pytest.raises(ValueError, match="layer=0"):
        model(_ids(pad=EOS), layer=0)


def test_sdxl_context_concatenates_clip_l_then_g() -> None:
    a, b = torch.zeros(2, 77, 768), torch.ones(2, 77, 1280)
    ctx = sdxl_context(a, b)
    assert ctx.shape == (2, 77, 2048)
    assert ctx[..., :768].sum() == 0 and ctx[..., 768:].min() == 1
    with pytest.raises(ValueError, match="clip_g_hidden"):
        sdxl_context(a, torch.ones(2, 76, 1280))
