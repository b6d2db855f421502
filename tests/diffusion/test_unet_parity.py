"""Our LDM UNet equals diffusers' UNet2DConditionModel on the same random weights.

Our state dict goes through diffusers' own ``convert_ldm_unet_checkpoint`` (the single-file
loader's converter), so the test also proves our parameter names are the real checkpoint layout.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion.unet import UNetConfig, UNetModel, UNetResiduals, sdxl_adm

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

PREFIX = "model.diffusion_model."
POOLED = 16


def _tiny(family: str) -> UNetConfig:
    """Tiny configs that keep each family's conventions (heads, projections, ADM, depth pattern)."""
    base = {
        "out_channels": 4,
        "model_channels": 32,
        "channel_mult": (1, 2, 2),
        "num_res_blocks": (2, 2, 2),
    }
    if family in ("sd1", "sd1_inpaint", "sd2"):
        depth = (1, 1, 1, 1, 0, 0)
        extra: dict[str, object] = {
            "transformer_depth": depth,
            "transformer_depth_output": (0, 0, 0, 1, 1, 1, 1, 1, 1),
            "transformer_depth_middle": 1,
        }
        if family == "sd2":
            extra |= {"context_dim": 32, "num_head_channels": 8, "use_linear_in_transformer": True}
        else:
            extra |= {"context_dim": 24, "num_heads": 8}
        in_ch = 9 if family == "sd1_inpaint" else 4
        return UNetConfig(in_channels=in_ch, **base, **extra)  # type: ignore[arg-type]
    if family in ("sdxl", "sdxl_inpaint"):
        return UNetConfig(
            in_channels=9 if family == "sdxl_inpaint" else 4,
            **base,  # type: ignore[arg-type]
            transformer_depth=(0, 0, 1, 1, 2, 2),
            transformer_depth_output=(2, 2, 2, 1, 1, 1, 0, 0, 0),
            transformer_depth_middle=2,
            context_dim=48,
            num_head_channels=8,
            use_linear_in_transformer=True,
            adm_in_channels=POOLED + 6 * 256,
        )
    assert family == "sdxl_refiner"
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=32,
        channel_mult=(1, 2, 2, 2),
        num_res_blocks=(2, 2, 2, 2),
        transformer_depth=(0, 0, 2, 2, 2, 2, 0, 0),
        transformer_depth_output=(0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0),
        transformer_depth_middle=2,
        context_dim=40,
        num_head_channels=8,
        use_linear_in_transformer=True,
        adm_in_channels=POOLED + 5 * 256,
    )


FAMILIES = ["sd1", "sd1_inpaint", "sd2", "sdxl", "sdxl_inpaint", "sdxl_refiner"]


def _pair(family: str, randomize, unet_reference_config) -> tuple[UNetModel, nn.Module]:
    cfg = _tiny(family)
    torch.manual_seed(0)
    ours = UNetModel(cfg).eval()
    randomize(ours, 1234)
    ref_config = unet_reference_config(cfg)
    ref = diffusers.UNet2DConditionModel(**ref_config).eval()
    checkpoint = {PREFIX + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(checkpoint, ref_config)
    ref.load_state_dict(converted, strict=True)
    return ours, ref


def _inputs(cfg: UNetConfig, height: int, width: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    batch = 2
    out = {
        "x": torch.randn(batch, cfg.in_channels, height, width, generator=gen),
        "t": torch.tensor([981.0, 37.5]),
        "context": torch.randn(batch, 5, cfg.context_dim, generator=gen),
    }
    if cfg.adm_in_channels is not None:
        n_micro = (cfg.adm_in_channels - POOLED) // 256
        out["pooled"] = torch.randn(batch, POOLED, generator=gen)
        out["micro"] = torch.tensor(
            [[1024.0, 768.0, 0.0, 16.0, 1024.0, 1024.0][:n_micro], [512.0] * n_micro]
        )
        if n_micro == 5:
            out["micro"][:, 4] = torch.tensor([6.0, 2.5])  # aesthetic score
    return out


def _run_both(ours: UNetModel, ref: nn.Module, inp: dict[str, torch.Tensor], **hooks):
    y = None
    added = None
    if "pooled" in inp:
        y = sdxl_adm(inp["pooled"], list(inp["micro"].unbind(1)))
        added = {"text_embeds": inp["pooled"], "time_ids": inp["micro"]}
    residuals = hooks.get("residuals")
    with torch.no_grad():
        got = ours(inp["x"], inp["t"], inp["context"], y, residuals=residuals)
        kwargs = {}
        if residuals is not None:
            kwargs = {
                "down_block_additional_residuals": tuple(residuals.skips),
                "mid_block_additional_residual": residuals.middle,
            }
        want = ref(inp["x"], inp["t"], inp["context"], added_cond_kwargs=added, **kwargs).sample
    return got, want


@pytest.mark.parametrize("family", FAMILIES)
def test_unet_matches_diffusers(family, randomize, unet_reference_config, rel_err) -> None:
    ours, ref = _pair(family, randomize, unet_reference_config)
    inp = _inputs(ours.config, 16, 16)
    got, want = _run_both(ours, ref, inp)
    assert want.abs().max() > 0.1
    assert rel_err(got, want) <= 1e-5


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_unet_matches_diffusers_on_odd_latent_size(
    family, randomize, unet_reference_config, rel_err
) -> None:
    ours, ref = _pair(family, randomize, unet_reference_config)
    inp = _inputs(ours.config, 18, 14)
    got, want = _run_both(ours, ref, inp)
    assert got.shape == (2, 4, 18, 14)
    assert rel_err(got, want) <= 1e-5


def test_control_residuals_match_diffusers_controlnet_inputs(
    randomize, unet_reference_config, rel_err
) -> None:
    ours, ref = _pair("sd1", randomize, unet_reference_config)
    inp = _inputs(ours.config, 16, 16)
    gen = torch.Generator().manual_seed(3)
    skips: list[torch.Tensor] = []
    h = inp["x"]
    with torch.no_grad():
        emb = torch.zeros(2, ours.config.time_embed_dim)
        for block in ours.input_blocks:
            h = block(h, emb, inp["context"])
            skips.append(torch.randn(h.shape, generator=gen))
    middle = torch.randn(h.shape, generator=gen)
    residuals = UNetResiduals(skips=skips, middle=middle)
    got, want = _run_both(ours, ref, inp, residuals=residuals)
    plain, _ = _run_both(ours, ref, inp)
    assert rel_err(got, want) <= 1e-5
    assert (got - plain).abs().max() > 1e-2


def test_norm_eps_and_activations_match_reference_config(randomize, unet_reference_config) -> None:
    ours, ref = _pair("sdxl", randomize, unet_reference_config)
    cfg = ref.config
    assert cfg.act_fn == "silu" and cfg.norm_eps == ours.config.resnet_eps
    assert ours.input_blocks[1][0].in_layers[0].eps == ref.down_blocks[0].resnets[0].norm1.eps
    assert ours.input_blocks[1][0].in_layers[1].__class__ is nn.SiLU
    ours_attn, ref_attn = ours.input_blocks[4][1], ref.down_blocks[1].attentions[0]
    assert ours_attn.norm.eps == ref_attn.norm.eps == 1e-6
    ours_block, ref_block = ours_attn.transformer_blocks[0], ref_attn.transformer_blocks[0]
    assert ours_block.norm1.eps == ref_block.norm1.eps
    assert ref_block.ff.net[0].__class__.__name__ == "GEGLU"
    assert ours.out[0].eps == ref.conv_norm_out.eps


def test_unet_forward_rejects_missing_adm() -> None:
    cfg = _tiny("sdxl")
    model = UNetModel(cfg)
    with pytest.raises(ValueError, match="adm_in_channels=1552"):
        model(torch.zeros(1, 4, 8, 8), torch.zeros(1), torch.zeros(1, 2, 48))


def test_narrowed_unet_without_middle_block_matches_diffusers(
    randomize, unet_reference_config, rel_err
) -> None:
    """BK-SDM-small shape: one res block per level and no middle block (mid_block_type=None)."""
    cfg = _tiny("sd1").replace(
        num_res_blocks=(1, 1, 1),
        transformer_depth=(1, 1, 0),
        transformer_depth_output=(0, 0, 1, 1, 1, 1),
        transformer_depth_middle=None,
    )
    ours = UNetModel(cfg).eval()
    randomize(ours, 77)
    ref_config = unet_reference_config(cfg)
    ref = diffusers.UNet2DConditionModel(**ref_config).eval()
    checkpoint = {PREFIX + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, ref_config), strict=True)
    assert ours.middle_block is None and ref.mid_block is None
    got, want = _run_both(ours, ref, _inputs(cfg, 16, 16))
    assert rel_err(got, want) <= 1e-5
