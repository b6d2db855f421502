"""Our ControlNet equals diffusers' ``ControlNetModel`` on the same random weights (zero
convolutions included), and the controlled UNet equals diffusers' UNet fed the ControlNet's
residuals (``down_block_additional_residuals`` / ``mid_block_additional_residual``).

Our state dict goes through diffusers' own ``convert_controlnet_checkpoint`` (its single-file
converter), so the test also proves our parameter names are the original ``control_model.``
layout.
"""

from __future__ import annotations

import pytest
import torch

from diffusion.control import ControlNetConfig, ControlNetModel
from diffusion.unet import UNetModel, UNetResiduals, sdxl_adm
from tests.diffusion.control.control_support import POOLED, tiny_unet

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_controlnet_checkpoint,
    convert_ldm_unet_checkpoint,
)

CONTROLNET_KEYS = ("in_channels", "down_block_types", "block_out_channels", "layers_per_block",
                   "cross_attention_dim", "attention_head_dim", "use_linear_projection",
                   "addition_embed_type", "addition_time_embed_dim",
                   "projection_class_embeddings_input_dim", "transformer_layers_per_block",
                   "norm_num_groups", "norm_eps", "act_fn")


def _controlnet_pair(family, randomize, unet_reference_config, hint_channels=3):
    cfg = tiny_unet(family)
    ours = ControlNetModel(ControlNetConfig(cfg, hint_channels)).eval()
    randomize(ours, 99)
    unet_config = unet_reference_config(cfg)
    ref_config = {k: unet_config[k] for k in CONTROLNET_KEYS if k in unet_config}
    ref = diffusers.ControlNetModel(conditioning_channels=hint_channels, **ref_config).eval()
    checkpoint = {"control_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_controlnet_checkpoint(checkpoint, ref_config)
    for i, j in ((1, 0), (2, 2)):  # the converter leaves SDXL's label embedding out
        for kind in ("weight", "bias"):
            key = f"control_model.label_emb.0.{j}.{kind}"
            if key in checkpoint:
                converted[f"add_embedding.linear_{i}.{kind}"] = checkpoint[key]
    ref.load_state_dict(converted, strict=True)
    return ours, ref


def _inputs(cfg, batch=2, size=16):
    gen = torch.Generator().manual_seed(5)
    out = {
        "x": torch.randn(batch, 4, size, size, generator=gen),
        "t": torch.tensor([901.0, 13.0][:batch]),
        "context": torch.randn(batch, 7, cfg.context_dim, generator=gen),
        "hint": torch.rand(batch, 3, size * 8, size * 8, generator=gen),
    }
    if cfg.adm_in_channels is not None:
        out["pooled"] = torch.randn(batch, POOLED, generator=gen)
        out["micro"] = torch.tensor([[1024.0, 768.0, 0.0, 16.0, 1024.0, 1024.0],
                                     [512.0] * 6])[:batch]
    return out


def _adm(inp):
    if "pooled" not in inp:
        return None, None
    y = sdxl_adm(inp["pooled"], list(inp["micro"].unbind(1)))
    return y, {"text_embeds": inp["pooled"], "time_ids": inp["micro"]}


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_controlnet_residuals_match_diffusers(family, randomize, unet_reference_config,
                                              rel_err) -> None:
    ours, ref = _controlnet_pair(family, randomize, unet_reference_config)
    inp = _inputs(ours.config.unet)
    y, added = _adm(inp)
    with torch.no_grad():
        got = ours(inp["x"], inp["hint"], inp["t"], inp["context"], y)
        want = ref(inp["x"], inp["t"], inp["context"], controlnet_cond=inp["hint"],
                   added_cond_kwargs=added, return_dict=False)
    down, mid = want
    assert len(got.skips) == len(down)
    for ours_skip, ref_skip in zip(got.skips, down, strict=True):
        assert ref_skip.abs().max() > 0.1
        assert rel_err(ours_skip, ref_skip) <= 1e-5
    assert rel_err(got.middle, mid) <= 1e-5


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_controlled_unet_matches_diffusers(family, randomize, unet_reference_config,
                                           rel_err) -> None:
    cfg = tiny_unet(family)
    net, ref_net = _controlnet_pair(family, randomize, unet_reference_config)
    unet = UNetModel(cfg).eval()
    randomize(unet, 1234)
    unet_config = unet_reference_config(cfg)
    ref_unet = diffusers.UNet2DConditionModel(**unet_config).eval()
    checkpoint = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    ref_unet.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, unet_config), strict=True)
    inp = _inputs(cfg)
    y, added = _adm(inp)
    strength = 0.7
    with torch.no_grad():
        out = net(inp["x"], inp["hint"], inp["t"], inp["context"], y)
        residuals = UNetResiduals(skips=[s * strength for s in out.skips],
                                  middle=out.middle * strength)
        got = unet(inp["x"], inp["t"], inp["context"], y, residuals=residuals)
        plain = unet(inp["x"], inp["t"], inp["context"], y)
        down, mid = ref_net(inp["x"], inp["t"], inp["context"], controlnet_cond=inp["hint"],
                            conditioning_scale=strength, added_cond_kwargs=added,
                            return_dict=False)
        want = ref_unet(inp["x"], inp["t"], inp["context"], added_cond_kwargs=added,
                        down_block_additional_residuals=down,
                        mid_block_additional_residual=mid).sample
    assert rel_err(got, want) <= 1e-5
    assert (got - plain).abs().max() > 1e-2  # the control changed the output


def test_grey_hint_controlnet_matches_diffusers(randomize, unet_reference_config,
                                                rel_err) -> None:
    ours, ref = _controlnet_pair("sd1", randomize, unet_reference_config, hint_channels=1)
    inp = _inputs(ours.config.unet)
    hint = inp["hint"][:, :1]
    with torch.no_grad():
        got = ours(inp["x"], hint, inp["t"], inp["context"])
        down, mid = ref(inp["x"], inp["t"], inp["context"], controlnet_cond=hint,
                        return_dict=False)
    assert rel_err(got.middle, mid) <= 1e-5
    assert max(rel_err(a, b) for a, b in zip(got.skips, down, strict=True)) <= 1e-5
