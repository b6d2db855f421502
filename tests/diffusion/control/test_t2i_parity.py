"""Our T2I-Adapters equal diffusers' ``T2IAdapter`` (full, light, full_adapter_xl) on the same
random weights, loaded through our diffusers-layout key map; and a UNet fed our placement of the
features equals diffusers' UNet fed them as ``down_intrablock_additional_residuals``."""

from __future__ import annotations

import pytest
import torch

from diffusion.control import T2IAdapter, adapter_residuals, detect_adapter
from diffusion.control.layout import t2i_from_diffusers
from diffusion.unet import UNetConfig, UNetModel, sdxl_adm
from tests.diffusion.control.control_support import POOLED, tiny_unet

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

ADAPTERS = {  # diffusers adapter_type -> (channels, res blocks, unshuffle)
    "full_adapter": ([32, 64, 128, 128], 2, 8),
    "light_adapter": ([32, 64, 128], 4, 8),
    "full_adapter_xl": ([32, 64, 64, 64], 2, 16),
}


def _pair(adapter_type, hint_channels, randomize):
    channels, blocks, unshuffle = ADAPTERS[adapter_type]
    ref = diffusers.T2IAdapter(in_channels=hint_channels, channels=channels,
                               num_res_blocks=blocks, downscale_factor=unshuffle,
                               adapter_type=adapter_type).eval()
    randomize(ref, 21)
    theirs = ref.state_dict()
    names = t2i_from_diffusers({k: tuple(v.shape) for k, v in theirs.items()})
    state = {names[k]: v for k, v in theirs.items()}
    ours = T2IAdapter(detect_adapter({k: tuple(v.shape) for k, v in state.items()})).eval()
    ours.load_state_dict(state, strict=True)
    return ours, ref


@pytest.mark.parametrize(("adapter_type", "hint_channels"),
                         [("full_adapter", 3), ("full_adapter", 1), ("light_adapter", 3),
                          ("full_adapter_xl", 3)])
def test_adapter_features_match_diffusers(adapter_type, hint_channels, randomize,
                                          rel_err) -> None:
    ours, ref = _pair(adapter_type, hint_channels, randomize)
    assert ours.config.hint_channels == hint_channels
    assert ours.config.kind == {"full_adapter": "full", "light_adapter": "light",
                                "full_adapter_xl": "full_xl"}[adapter_type]
    hint = torch.rand(2, hint_channels, 128, 128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got, want = ours(hint), ref(hint)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want, strict=True):
        assert b.abs().max() > 0.1
        assert rel_err(a, b) <= 1e-5


def _sd1_four_levels() -> UNetConfig:
    return UNetConfig(
        in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 4, 4),
        num_res_blocks=(2, 2, 2, 2), transformer_depth=(1, 1, 1, 1, 1, 1, 0, 0),
        transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        transformer_depth_middle=1, context_dim=24, num_heads=8)


@pytest.mark.parametrize("adapter_type", ["full_adapter", "full_adapter_xl"])
def test_adapter_placement_matches_diffusers_unet(adapter_type, randomize, unet_reference_config,
                                                  rel_err) -> None:
    cfg = _sd1_four_levels() if adapter_type == "full_adapter" else tiny_unet("sdxl")
    adapter, _ = _pair(adapter_type, 3, randomize)
    unet = UNetModel(cfg).eval()
    randomize(unet, 8)
    unet_config = unet_reference_config(cfg)
    ref_unet = diffusers.UNet2DConditionModel(**unet_config).eval()
    checkpoint = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    ref_unet.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, unet_config), strict=True)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 16, 16, generator=gen)
    t = torch.tensor([700.0, 50.0])
    context = torch.randn(2, 5, cfg.context_dim, generator=gen)
    y = added = None
    if cfg.adm_in_channels is not None:
        pooled = torch.randn(2, POOLED, generator=gen)
        micro = torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]] * 2)
        y = sdxl_adm(pooled, list(micro.unbind(1)))
        added = {"text_embeds": pooled, "time_ids": micro}
    hint = torch.rand(2, 3, 128, 128, generator=gen)  # batch 2: diffusers adds the mid feature
    # only when its shape equals the sample's
    with torch.no_grad():
        features = adapter(hint)
        residuals = adapter_residuals(features, adapter.config.kind, 0.8)
        got = unet(x, t, context, y, residuals=residuals)
        plain = unet(x, t, context, y)
        want = ref_unet(x, t, context, added_cond_kwargs=added,
                        down_intrablock_additional_residuals=[f * 0.8 for f in features]).sample
    assert rel_err(got, want) <= 1e-5
    assert (got - plain).abs().max() > 1e-2
