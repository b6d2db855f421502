"""An IP-Adapter-patched UNet equals diffusers' UNet2DConditionModel with the same adapter
loaded through its own converters (``_load_ip_adapter_weights``: ``IPAdapterAttnProcessor2_0``
and ``ImageProjection`` / ``IPAdapterFullImageProjection`` / ``IPAdapterPlusImageProjection``),
on random weights: base, plus (Resampler) and full-face adapters, SD1.x and SDXL layouts, several
images per adapter and two adapters at once. diffusers patches every cross-attention layer, so
these runs patch the middle block too (``patch_middle``)."""

from __future__ import annotations

import pytest
import torch

from diffusion.unet import AttentionHooks, UNetConfig, UNetModel, sdxl_adm
from tests.diffusion.ipadapter.support import (
    SD1_TINY,
    SDXL_TINY,
    clip_inputs,
    make_adapter,
    original_state,
    processor,
)

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402


def _pair(cfg: UNetConfig, randomize, reference_config):
    ours = UNetModel(cfg).eval()
    randomize(ours, 21)
    ref_config = reference_config(cfg)
    ref = diffusers.UNet2DConditionModel(**ref_config).eval()
    state = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert_ldm_unet_checkpoint(state, ref_config), strict=True)
    return ours, ref


def _run(ours, ref, cfg: UNetConfig, adapters, scales) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch row 0 positive, row 1 negative (zero image inputs), as CFG batches them."""
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 4, 16, 16, generator=gen)
    t = torch.tensor([700.0, 700.0])
    context = torch.randn(2, 5, cfg.context_dim, generator=gen)
    ref._load_ip_adapter_weights([original_state(model) for model, _ in adapters],
                                 low_cpu_mem_usage=False)
    for proc in ref.attn_processors.values():
        if hasattr(proc, "scale"):
            proc.scale = list(scales)
    added: dict[str, object] = {"image_embeds": [torch.stack([c, torch.zeros_like(c)])
                                                 for _, c in adapters]}
    y = None
    if cfg.adm_in_channels is not None:
        pooled, micro = torch.randn(2, 16, generator=gen), torch.full((2, 6), 64.0)
        y = sdxl_adm(pooled, list(micro.unbind(1)))
        added |= {"text_embeds": pooled, "time_ids": micro}
    procs = tuple(processor(model, cfg, cond, torch.zeros_like(cond), weight=scale,
                            patch_middle=True)
                  for (model, cond), scale in zip(adapters, scales, strict=True))
    with torch.no_grad():
        got = ours(x, t, context, y, attention=AttentionHooks(procs, (0, 1)))
        plain = ours(x, t, context, y)
        want = ref(x, t, context, added_cond_kwargs=added).sample
    assert (got - plain).abs().max() > 1e-2  # the adapter changes the prediction
    return got, want


@pytest.mark.parametrize("kind", ["base", "plus", "full"])
@pytest.mark.parametrize("cfg", [SD1_TINY, SDXL_TINY], ids=["sd1", "sdxl"])
def test_patched_unet_matches_diffusers(kind, cfg, randomize, unet_reference_config,
                                        rel_err) -> None:
    ours, ref = _pair(cfg, randomize, unet_reference_config)
    adapter = make_adapter(kind, cfg, 5)
    got, want = _run(ours, ref, cfg, [(adapter, clip_inputs(kind, 2, 3))], [0.7])
    assert rel_err(got, want) <= 1e-5


def test_two_adapters_at_once_match_diffusers(randomize, unet_reference_config,
                                              rel_err) -> None:
    ours, ref = _pair(SD1_TINY, randomize, unet_reference_config)
    first, second = make_adapter("base", SD1_TINY, 6), make_adapter("plus", SD1_TINY, 7)
    adapters = [(first, clip_inputs("base", 1, 4)), (second, clip_inputs("plus", 1, 5))]
    got, want = _run(ours, ref, SD1_TINY, adapters, [0.8, 0.5])
    assert rel_err(got, want) <= 1e-5
