"""GLIGEN boxes through guidance: a grounded entry gets its middle patch built for its own
(area-cropped) rows and is evaluated in a forward of its own; with closed gates (alpha 0) the
result equals the ungrounded guidance bit for bit when both split the batch alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from diffusion.gligen import GligenBox, GligenModel, GligenPosition, config_for_unet
from diffusion.guidance import Area, Cond, guided_denoiser
from diffusion.sampling import ModelSamplingDiscrete
from diffusion.unet import AttentionInfo, UNetConfig, UNetModel
from tests.diffusion.guidance._guidance_testlib import ToyUNet

MS = ModelSamplingDiscrete()
TINY = UNetConfig(
    in_channels=4, out_channels=4, model_channels=16, channel_mult=(1, 2), num_res_blocks=(1, 1),
    transformer_depth=(1, 1), transformer_depth_output=(1, 1, 1, 1), transformer_depth_middle=1,
    norm_groups=8, context_dim=24, num_heads=2,
)


@dataclass
class RecordingGrounding:
    """A Grounding that records the latent shapes it builds patches for; its patch passes the
    hidden states through."""

    shapes: list[tuple[int, int, int, int]] = field(default_factory=list)

    def patch(self, latent_shape: tuple[int, int, int, int]):  # type: ignore[no-untyped-def]
        self.shapes.append(latent_shape)

        def middle(x: Tensor, info: AttentionInfo) -> Tensor:
            return x

        return middle


def test_grounded_entry_gets_its_own_forward_and_cropped_patch() -> None:
    unet, grounding = ToyUNet(), RecordingGrounding()
    positive = [Cond(torch.full((1, 3, 8), 1.0), gligen=grounding, area=Area(4, 6, 2, 0)),
                Cond(torch.full((1, 3, 8), 2.0))]
    negative = [Cond(torch.full((1, 3, 8), 0.0))]
    denoise = guided_denoiser(unet, MS, positive, negative, 3.0, latent_shape=(2, 4, 8, 8))
    denoise(torch.randn(2, 4, 8, 8), torch.full((2,), 5.0))
    # built for the entry's cropped rows, and for its mirror on the negative side (ComfyUI's
    # create_cond_with_same_area_if_none copies the whole entry, its gligen key included)
    assert grounding.shapes == [(2, 4, 4, 6), (2, 4, 4, 6)]
    assert len(unet.calls) == 3  # each grounded chunk alone; the plain ones share a forward
    grounded = [c for c in unet.calls if c.kwargs.get("attention") is not None]
    assert [c.x_in.shape for c in grounded] == [(2, 4, 4, 6), (2, 4, 4, 6)]
    assert all(len(c.kwargs["attention"].middle_patches) == 1 for c in grounded)
    assert [c.x_in.shape[0] for c in unet.calls if c.kwargs.get("attention") is None] == [4]


def _closed(model: GligenModel) -> GligenModel:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                param.zero_()
    return model


def test_closed_gates_equal_the_ungrounded_guidance_bit_for_bit(randomize) -> None:
    torch.manual_seed(0)
    unet = UNetModel(TINY).eval()
    randomize(unet, 8)
    gligen = GligenModel(config_for_unet(TINY, 768, 24)).eval()
    randomize(gligen, 9)
    gen = torch.Generator().manual_seed(2)
    context = torch.randn(1, 5, 24, generator=gen)
    box = GligenBox(torch.randn(1, 24, generator=gen), 4, 4, 2, 2)
    x, sigma = torch.randn(1, 4, 8, 8, generator=gen) * 3, torch.full((1,), 3.0)

    def run(grounding: GligenPosition | None) -> Tensor:
        positive, negative = [Cond(context, gligen=grounding)], [Cond(context * 0.5)]
        # one chunk per forward, as the grounded entry is evaluated anyway
        denoise = guided_denoiser(unet, MS, positive, negative, 4.0, latent_shape=x.shape,
                                  max_batch_area=64)
        with torch.no_grad():
            return denoise(x, sigma)

    plain = run(None)
    assert torch.equal(run(GligenPosition(_closed(gligen), (box,))), plain)
    randomize(gligen, 10)  # open gates again
    assert (run(GligenPosition(gligen, (box,))) - plain).abs().max() > 1e-4
