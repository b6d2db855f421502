"""The SD x4 upscaler against diffusers' ``StableDiffusionUpscalePipeline`` parts, on tiny random
weights: its UNet (``UNet2DConditionModel`` with ``num_class_embeds`` and
``only_cross_attention``), the low-res image noising (the pipeline's ``low_res_scheduler``, a
``DDPMScheduler``) and one whole model call through our guidance (concat, class label, v)."""

from __future__ import annotations

import pytest
import torch

from diffusion.guidance import Cond, GuidedModel
from diffusion.guidance.batching import ApplyModel
from diffusion.guidance.denoiser import make_apply_model
from diffusion.guidance.resolve import ModelInputs, resolve_cond
from diffusion.guidance.x4_upscale import (
    X4_SEED_OFFSET,
    augment,
    low_res_schedule,
    noise_level,
    x4_upscale_inputs,
)
from diffusion.latent_format import SD_X4
from diffusion.sampling.model_sampling import ModelSamplingDiscrete
from diffusion.unet import UNetConfig, UNetModel

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

# The x4 upscaler's conventions (8 heads, linear projections, self-attention off below the
# deepest level, 1000 noise-level classes, 3 extra input channels), narrowed.
X4_TINY = UNetConfig(
    in_channels=7,
    out_channels=4,
    model_channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=(2, 2, 2),
    transformer_depth=(0, 0, 1, 1, 1, 1),
    transformer_depth_output=(1, 1, 1, 1, 1, 1, 0, 0, 0),
    transformer_depth_middle=1,
    context_dim=32,
    num_heads=8,
    use_linear_in_transformer=True,
    num_classes=1000,
    disable_self_attentions=(True, True, False),
)
X4_SAMPLING = ModelSamplingDiscrete("v_prediction", linear_start=0.0001, linear_end=0.02)


def _pair(randomize, unet_reference_config) -> tuple[UNetModel, torch.nn.Module]:
    torch.manual_seed(0)
    ours = UNetModel(X4_TINY).eval()
    randomize(ours, 404)
    ref_config = unet_reference_config(X4_TINY)
    assert ref_config["num_class_embeds"] == 1000
    assert ref_config["only_cross_attention"] == [True, True, False]
    ref = diffusers.UNet2DConditionModel(**ref_config).eval()
    checkpoint = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, ref_config), strict=True)
    return ours, ref


def test_unet_with_noise_level_labels_matches_diffusers(
        randomize, unet_reference_config, rel_err) -> None:
    ours, ref = _pair(randomize, unet_reference_config)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 7, 12, 10, generator=gen)
    t, context = torch.tensor([901.0, 20.0]), torch.randn(2, 5, 32, generator=gen)
    labels = torch.tensor([0, 350])
    with torch.no_grad():
        got = ours(x, t, context, labels)
        want = ref(x, t, context, class_labels=labels).sample
        other = ours(x, t, context, torch.tensor([1, 350]))
    assert want.abs().max() > 0.1
    assert rel_err(got, want) <= 1e-5
    assert not torch.allclose(got[0], other[0])  # the label reaches the output
    assert torch.equal(got[1], other[1])


def test_float_labels_are_refused(randomize) -> None:
    model = UNetModel(X4_TINY)
    with pytest.raises(ValueError, match="integer labels"):
        model(torch.zeros(1, 7, 8, 8), torch.zeros(1), torch.zeros(1, 2, 32), torch.zeros(1))


def test_low_res_noising_matches_the_pipelines_ddpm_scheduler(rel_err) -> None:
    scheduler = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001,
                                        beta_end=0.02, num_train_timesteps=1000)
    image = torch.rand(2, 3, 9, 7) * 2 - 1
    seed = 77
    for level in (1, 120, 350):
        got = augment(image, level, seed)
        noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
        want = scheduler.add_noise(image, noise, torch.tensor([level]))
        assert rel_err(got, want) <= 1e-5
    assert low_res_schedule()[0].dtype == torch.float32


def test_noise_level_is_comfyuis_rounding() -> None:
    assert [noise_level(a) for a in (0.0, 0.1, 0.5, 1.0)] == [0, 35, 175, 350]
    with pytest.raises(ValueError, match="noise_augmentation"):
        noise_level(1.5)


def test_inputs_without_augmentation_are_the_image_itself() -> None:
    image = torch.rand(1, 3, 6, 8) * 2 - 1
    y, concat = x4_upscale_inputs(Cond(torch.zeros(1, 2, 32), concat_image=image),
                                  (2, 4, 6, 8), seed=None)
    assert y.tolist() == [0] and y.dtype == torch.int64
    assert concat.shape == (2, 3, 6, 8) and torch.equal(concat[0], image[0])
    assert torch.equal(concat[1], image[0])
    _, blank = x4_upscale_inputs(Cond(torch.zeros(1, 2, 32)), (1, 4, 6, 8), seed=None)
    assert torch.equal(blank, torch.zeros(1, 3, 6, 8))


def test_augmentation_needs_the_runs_seed() -> None:
    cond = Cond(torch.zeros(1, 2, 32), concat_image=torch.zeros(1, 3, 4, 4),
                noise_augmentation=0.2)
    with pytest.raises(ValueError, match="noise_seed"):
        x4_upscale_inputs(cond, (1, 4, 4, 4), seed=None)
    y, a = x4_upscale_inputs(cond, (1, 4, 4, 4), seed=3)
    _, b = x4_upscale_inputs(cond, (1, 4, 4, 4), seed=3)
    assert y.tolist() == [70] and torch.equal(a, b)  # seed 3 - 10 wraps like torch.manual_seed
    want = augment(torch.zeros(1, 3, 4, 4), 70, 3 - X4_SEED_OFFSET)
    assert torch.equal(a, want)


def _model_call(apply: ApplyModel, cond: Cond, x: torch.Tensor, sigma: torch.Tensor,
                seed: int) -> torch.Tensor:
    inputs = ModelInputs(tuple(x.shape), x4_upscale=True, noise_seed=seed,  # type: ignore[arg-type]
                         latent_image=x)
    rc = resolve_cond(cond, "positive", X4_SAMPLING, inputs)
    assert rc.y is not None and rc.concat is not None
    return apply(x, sigma, rc.context, rc.y.repeat(x.shape[0]), rc.concat, None, (0,), ())


def test_guided_model_call_matches_the_pipeline_step(
        randomize, unet_reference_config, rel_err) -> None:
    """One call of our guidance (resolve + apply) equals the pipeline's: the low-res image noised
    by its DDPMScheduler from seed - 10, concatenated after the scaled latent, the noise level as
    class label, and the v prediction turned into x0."""
    ours, ref = _pair(randomize, unet_reference_config)
    guided = GuidedModel.from_unet(ours, X4_SAMPLING, SD_X4, noise_seed=1234)
    assert guided.x4_upscale and not guided.inpaint_concat
    apply = make_apply_model(guided.unet, X4_SAMPLING)
    gen = torch.Generator().manual_seed(5)
    low_res = torch.rand(1, 3, 8, 6, generator=gen) * 2 - 1
    context = torch.randn(1, 4, 32, generator=gen)
    x = torch.randn(1, 4, 8, 6, generator=gen) * 3.0
    sigma = X4_SAMPLING.sigmas[500].reshape(1)
    cond = Cond(context, concat_image=low_res, noise_augmentation=0.25)
    with torch.no_grad():
        got = _model_call(apply, cond, x, sigma, 1234)
        noise = torch.randn(low_res.shape, generator=torch.Generator().manual_seed(1224))
        scheduler = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001,
                                            beta_end=0.02, num_train_timesteps=1000)
        image = scheduler.add_noise(low_res, noise, torch.tensor([88]))
        x_in = x / (sigma**2 + 1) ** 0.5
        v = ref(torch.cat([x_in, image], dim=1), torch.tensor([500.0]), context,
                class_labels=torch.tensor([88])).sample
        want = x / (sigma**2 + 1) - v * sigma / (sigma**2 + 1) ** 0.5
    assert rel_err(got, want) <= 1e-5
