"""``ModelHooks``: ``plus`` appends in order and replaces the one-function fields, never
changing the original; ``for_run`` binds every run-bound hook in place to one fresh run state per
run (and is the identity without any); and an 8-channel InstructPix2Pix UNet gets each entry's
image latent as its extra input."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from _guidance_testlib import ToyUNet, text, tiny_config
from torch import Tensor

from diffusion.guidance import (
    CFGGuider,
    GuidedModel,
    ModelHooks,
    PostCFGArgs,
    RunState,
    guided_denoiser,
    sample,
)
from diffusion.latent_format import SD15
from diffusion.sampling import ModelSamplingDiscrete, SeededNoise, get_sampler, ksampler_sigmas
from diffusion.unet import UNetModel


def first(args: PostCFGArgs) -> Tensor:
    return args.denoised


def second(args: PostCFGArgs) -> Tensor:
    return args.denoised


def test_plus_appends_in_order_and_replaces_single_functions() -> None:
    base = ModelHooks(post_cfg=(first,))
    cfg_a, cfg_b = object(), object()
    more = base.plus(post_cfg=(second,), cfg=cfg_a, needs_uncond=True)  # type: ignore[arg-type]
    assert more.post_cfg == (first, second) and more.cfg is cfg_a and more.needs_uncond
    assert base.post_cfg == (first,) and base.cfg is None and not base.needs_uncond
    last = more.plus(cfg=cfg_b)  # type: ignore[arg-type]
    assert last.cfg is cfg_b and last.needs_uncond and last.post_cfg == more.post_cfg
    assert more.plus() == more and not ModelHooks() and bool(ModelHooks(needs_uncond=True))


@dataclasses.dataclass(frozen=True)
class Counter:
    """A run-bound post-CFG function counting its calls in the run's state."""

    tag: str
    run: RunState | None = None

    def bind_run(self, run: RunState) -> Counter:
        return Counter(self.tag, run)

    def __call__(self, args: PostCFGArgs) -> Tensor:
        assert self.run is not None
        calls = self.run.slot(Counter, list)
        calls.append(self.tag)
        return args.denoised + len(calls)


def test_for_run_binds_run_bound_hooks_in_place_with_one_state() -> None:
    hooks = ModelHooks(post_cfg=(first, Counter("a"), second, Counter("b")))
    bound = hooks.for_run()
    assert bound.post_cfg[0] is first and bound.post_cfg[2] is second
    a, b = bound.post_cfg[1], bound.post_cfg[3]
    assert isinstance(a, Counter) and isinstance(b, Counter)
    assert a.run is not None and a.run is b.run  # shared by the run's hooks
    assert hooks.for_run().post_cfg[1].run is not a.run  # type: ignore[union-attr]
    plain = ModelHooks(post_cfg=(first,))
    assert plain.for_run() is plain


def test_each_sampling_run_gets_fresh_state() -> None:
    model = GuidedModel(ToyUNet(), ModelSamplingDiscrete(), SD15,
                        hooks=ModelHooks(post_cfg=(Counter("x"),)))
    guider = CFGGuider(model, (text(0.3),), (text(-1.0),), 2.0)
    sigmas = ksampler_sigmas(model.model_sampling, "euler", "normal", 3)

    def once() -> Tensor:
        return sample(guider, get_sampler("euler"), sigmas, SeededNoise(1),
                      torch.zeros(1, 4, 8, 8))

    assert torch.equal(once(), once())  # the counter restarts with every run


def test_an_ip2p_unet_gets_each_entrys_image_latent() -> None:
    torch.manual_seed(0)
    unet = UNetModel(tiny_config("sd1").replace(in_channels=8)).eval()
    model = GuidedModel.from_unet(unet, ModelSamplingDiscrete(), SD15)
    assert model.ip2p_concat and not model.inpaint_concat
    seen: list[Tensor] = []

    def record(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        seen.append(x[:, 4:].clone())
        return x[:, :4] * 0

    image = torch.randn(1, 4, 4, 4)
    denoise = guided_denoiser(record, model.model_sampling, (text(0.0, channels=24,
                                                                  concat_latent_image=image),),
                              (text(0.0, channels=24),), 2.0, latent_shape=(1, 4, 8, 8),
                              ip2p_concat=True)
    denoise(torch.zeros(1, 4, 8, 8), torch.tensor([1.0]))
    (both,) = seen  # cond and uncond share the forward, uncond first
    assert float(both[0].abs().max()) == 0.0  # no image: zeros
    upscaled = torch.nn.functional.interpolate(image, size=(8, 8), mode="bilinear")
    assert torch.allclose(both[1], upscaled[0])  # the raw latent, resized to the latent
