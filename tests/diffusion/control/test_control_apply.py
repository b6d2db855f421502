"""Control applications inside guidance: bound once per run, evaluated once per batched UNet
call with ComfyUI's hint preparation, timestep windows and family checks."""

from __future__ import annotations

import pytest
import torch

from diffusion.control import (
    UNION_CONTROLNET_TYPES,
    AdapterSpec,
    ControlApplication,
    ControlNetConfig,
    ControlNetModel,
    ControlNetSpec,
    ResidentModule,
)
from diffusion.control.hint import broadcast_hint, resize_hint
from diffusion.control.t2i_adapter import AdapterConfig, T2IAdapter
from diffusion.guidance import Cond, guided_denoiser
from diffusion.sampling.model_sampling import ModelSamplingDiscrete
from diffusion.unet import UNetModel
from tests.diffusion.control.control_support import tiny_unet


def _setup(family="sd1", union=None):
    cfg = tiny_unet(family)
    torch.manual_seed(0)
    unet = UNetModel(cfg).eval()
    net = ControlNetModel(ControlNetConfig(cfg, 3, union)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return cfg, unet, net


def _text(cfg, seed):
    return torch.randn(1, 5, cfg.context_dim, generator=torch.Generator().manual_seed(seed))


def test_controlnet_runs_once_per_batched_forward() -> None:
    cfg, unet, net = _setup()
    rows: list[int] = []
    net.register_forward_hook(lambda _m, args, _o: rows.append(args[0].shape[0]))
    app = ControlApplication(ControlNetSpec(ResidentModule(net), net.config, "cn"),
                             torch.rand(1, 3, 40, 56), 0.8)
    ms = ModelSamplingDiscrete()
    pos = (Cond(_text(cfg, 1), control=(app,)),)
    neg = (Cond(_text(cfg, 2), control=(app,)),)
    denoise = guided_denoiser(unet, ms, pos, neg, 4.0, latent_shape=(2, 4, 8, 8))
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        guided = denoise(x, torch.full((2,), 3.0))
        plain = guided_denoiser(unet, ms, (Cond(_text(cfg, 1)),), (Cond(_text(cfg, 2)),), 4.0,
                                latent_shape=(2, 4, 8, 8))(x, torch.full((2,), 3.0))
    assert rows == [4]  # one forward for cond + uncond of both samples
    assert (guided - plain).abs().max() > 1e-3


def test_window_outside_the_step_changes_nothing() -> None:
    cfg, unet, net = _setup()
    spec = ControlNetSpec(ResidentModule(net), net.config, "cn")
    ms = ModelSamplingDiscrete()
    sigma = torch.full((1,), 3.0)
    x = torch.randn(1, 4, 8, 8)

    def run(app):
        control = () if app is None else (app,)
        denoise = guided_denoiser(unet, ms, (Cond(_text(cfg, 1), control=control),),
                                  (Cond(_text(cfg, 2), control=control),), 3.0,
                                  latent_shape=(1, 4, 8, 8))
        with torch.no_grad():
            return denoise(x, sigma)

    late = ControlApplication(spec, torch.rand(1, 3, 64, 64), 1.0, 0.9, 1.0)  # sigma < 3 only
    assert torch.equal(run(late), run(None))
    early = ControlApplication(spec, torch.rand(1, 3, 64, 64), 1.0, 0.0, 0.9)
    assert not torch.equal(run(early), run(None))


def test_sdxl_controlnet_on_sd1_model_names_both() -> None:
    cfg, unet, _ = _setup("sd1")
    _, _, xl_net = _setup("sdxl")
    app = ControlApplication(ControlNetSpec(ResidentModule(xl_net), xl_net.config, "xl.pt"),
                             torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"ControlNet 'xl.pt' is for .*context width 48.*"
                                         r"model sampled is .*context width 24"):
        guided_denoiser(unet, ModelSamplingDiscrete(), (Cond(_text(cfg, 1), control=(app,)),),
                        (), 1.0, latent_shape=(1, 4, 8, 8))


def test_sdxl_adapter_on_sd1_model_is_refused() -> None:
    cfg, unet, _ = _setup("sd1")
    adapter = T2IAdapter(AdapterConfig("full_xl", 768, (32, 64, 128, 128))).eval()
    app = ControlApplication(AdapterSpec(ResidentModule(adapter), adapter.config, "xl-adapter"),
                             torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="T2I-Adapter 'xl-adapter' .*SDXL adapter"):
        guided_denoiser(unet, ModelSamplingDiscrete(), (Cond(_text(cfg, 1), control=(app,)),),
                        (), 1.0, latent_shape=(1, 4, 8, 8))


def test_hint_is_centre_cropped_then_resized_nearest_exact() -> None:
    hint = torch.arange(2 * 3 * 6 * 10, dtype=torch.float32).reshape(2, 3, 6, 10)
    out = resize_hint(hint, 12, 12)  # aspect 1: crop the centre 6x6 (columns 2..7)
    want = torch.nn.functional.interpolate(hint[:, :, :, 2:8], size=(12, 12),
                                           mode="nearest-exact")
    assert torch.equal(out, want)


def test_hint_batch_is_spread_over_cond_and_uncond_chunks() -> None:
    hint = torch.arange(2.0).reshape(2, 1, 1, 1)
    assert broadcast_hint(hint[:1], 6, 2).shape[0] == 1  # one hint serves every row
    spread = broadcast_hint(hint, 6, 2)  # 3 rows per chunk: hints 0, 1, 0 then again
    assert spread.flatten().tolist() == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_union_type_changes_the_residuals_and_unknown_types_are_refused() -> None:
    cfg, _, net = _setup("sdxl", union=len(UNION_CONTROLNET_TYPES))
    gen = torch.Generator().manual_seed(3)
    x, hint = torch.randn(1, 4, 8, 8, generator=gen), torch.rand(1, 3, 64, 64, generator=gen)
    t, ctx = torch.tensor([400.0]), _text(cfg, 4)
    y = torch.randn(1, cfg.adm_in_channels, generator=gen)
    with torch.no_grad():
        auto = net(x, hint, t, ctx, y)
        depth = net(x, hint, t, ctx, y, (UNION_CONTROLNET_TYPES["depth"],))
        canny_type = UNION_CONTROLNET_TYPES["canny/lineart/anime_lineart/mlsd"]
        canny = net(x, hint, t, ctx, y, (canny_type,))
        # the fuser by hand: hint features + proj(block(mean + task row))
        emb_fuse = net.input_hint_block(hint)
        token = emb_fuse.mean(dim=(2, 3)) + net.task_embedding[1]
        mixed = net.transformer_layes(token[:, None])[:, 0]
        fused = emb_fuse + net.spatial_ch_projs(mixed)[:, :, None, None]
    assert (auto.middle - depth.middle).abs().max() > 1e-4
    assert (depth.middle - canny.middle).abs().max() > 1e-4
    assert fused.shape == emb_fuse.shape
    with pytest.raises(ValueError, match="control type 9"):
        net(x, hint, t, ctx, y, (9,))
