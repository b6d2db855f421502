"""GLIGEN against diffusers on tiny random weights: the fuser (``GatedSelfAttentionDense``), the
position net (``GLIGENTextBoundingboxProjection``, text-only), a transformer block with the fuser
(``BasicTransformerBlock(attention_type="gated")``) and a whole grounded UNet
(``UNet2DConditionModel(attention_type="gated")`` with its ``gligen`` cross-attention kwargs)
against our UNet with the boxes' middle patch."""

from __future__ import annotations

import pytest
import torch

from diffusion.gligen import (
    GatedSelfAttentionDense,
    GligenBox,
    GligenModel,
    GligenPosition,
    PositionNet,
    config_for_unet,
    fourier_features,
)
from diffusion.unet import AttentionHooks, AttentionInfo, UNetConfig, UNetModel
from diffusion.unet.blocks import BasicTransformerBlock

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402
from diffusers.models.attention import BasicTransformerBlock as RefBlock  # noqa: E402
from diffusers.models.attention import GatedSelfAttentionDense as RefFuser  # noqa: E402
from diffusers.models.embeddings import (  # noqa: E402
    GLIGENTextBoundingboxProjection,
    get_fourier_embeds_from_boundingbox,
)

KEY = 768  # SD1.x GLIGEN: CLIP-L phrase embeddings, 768-wide grounding tokens, 8 heads
# SD1 conventions (conv projections, 8 heads), narrowed; context 768 as diffusers ties the
# grounding token width to the cross-attention width.
SD1_GLIGEN_TINY = UNetConfig(
    in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 2),
    num_res_blocks=(2, 2, 2), transformer_depth=(1, 1, 1, 1, 0, 0),
    transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1), transformer_depth_middle=1,
    context_dim=KEY, num_heads=8,
)


def _grounding(batch: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    boxes = torch.rand(batch, 30, 4, generator=gen)
    masks = torch.zeros(batch, 30)
    masks[:, :n] = 1.0
    embeddings = torch.randn(batch, 30, KEY, generator=gen)
    return boxes, masks, embeddings


def test_fourier_features_match_diffusers() -> None:
    boxes = torch.rand(2, 5, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fourier_features(boxes), get_fourier_embeds_from_boundingbox(8, boxes))


def test_position_net_matches_diffusers(randomize, rel_err) -> None:
    ours = PositionNet(KEY, KEY)
    randomize(ours, 11)
    ref = GLIGENTextBoundingboxProjection(positive_len=KEY, out_dim=KEY,
                                          feature_type="text-only")
    ref.load_state_dict(ours.state_dict(), strict=True)
    boxes, masks, embeddings = _grounding(2, 3, torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = ours(boxes, masks, embeddings)
        want = ref(boxes, masks, positive_embeddings=embeddings)
    assert want.abs().max() > 0.1
    assert rel_err(got, want) <= 1e-5


def test_fuser_matches_diffusers(randomize, rel_err) -> None:
    ours = GatedSelfAttentionDense(64, KEY, 8, 8)
    randomize(ours, 12)
    ref = RefFuser(64, KEY, 8, 8)
    ref.load_state_dict(ours.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(3)
    x, objs = torch.randn(2, 20, 64, generator=gen), torch.randn(2, 30, KEY, generator=gen)
    with torch.no_grad():
        got, want = ours(x, objs), ref(x, objs)
    assert rel_err(got - x, want - x) <= 1e-5  # the fuser's own contribution


def _tiny_gligen(unet: UNetConfig, randomize, seed: int) -> GligenModel:
    model = GligenModel(config_for_unet(unet, KEY, KEY)).eval()
    randomize(model, seed)
    return model


def test_gated_transformer_block_matches_diffusers(randomize, rel_err) -> None:
    """Our block with a GLIGEN middle patch = diffusers' gated block with the same objs."""
    torch.manual_seed(0)
    ours = BasicTransformerBlock(64, 8, 8, KEY, 1e-5).eval()
    randomize(ours, 13)
    unet = SD1_GLIGEN_TINY.replace(channel_mult=(2,), num_res_blocks=(1,),
                                   transformer_depth=(1,), transformer_depth_output=(1, 1),
                                   transformer_depth_middle=None)
    gligen = _tiny_gligen(unet, randomize, 14)
    fuser = gligen.fuser(("input", 1), 0)
    assert fuser is not None and fuser.linear.out_features == 64
    ref = RefBlock(64, 8, 8, cross_attention_dim=KEY, attention_type="gated").eval()
    ref.load_state_dict({**ours.state_dict(),
                         **{f"fuser.{k}": v for k, v in fuser.state_dict().items()}}, strict=True)
    gen = torch.Generator().manual_seed(4)
    x, context = torch.randn(2, 6, 64, generator=gen), torch.randn(2, 5, KEY, generator=gen)
    pooled = [torch.randn(1, KEY, generator=gen) for _ in range(2)]
    position = GligenPosition(gligen, (GligenBox(pooled[0], 1, 2, 0, 1),
                                       GligenBox(pooled[1], 2, 2, 1, 0)))
    patch = position.patch((2, 4, 2, 3))
    info = AttentionInfo("self", ("input", 1), 0, 8, (2, 3), torch.zeros(2))
    with torch.no_grad():
        got = ours(x, context, hooks=AttentionHooks(middle_patches=(patch,)), info=info)
        want = ref(x, encoder_hidden_states=context,
                   cross_attention_kwargs={"gligen": {"objs": patch.tokens()}})
        plain = ours(x, context)
    assert rel_err(got, want) <= 1e-5
    assert (got - plain).abs().max() > 1e-3  # the grounding reaches the output


def _ref_unet(ours: UNetModel, gligen: GligenModel, unet_reference_config) -> torch.nn.Module:
    config = unet_reference_config(SD1_GLIGEN_TINY) | {"attention_type": "gated"}
    ref = diffusers.UNet2DConditionModel(**config).eval()
    checkpoint = {f"model.diffusion_model.{k}": v for k, v in ours.state_dict().items()}
    checkpoint |= {f"model.diffusion_model.{k}": v for k, v in gligen.state_dict().items()
                   if ".fuser." in k}
    converted = convert_ldm_unet_checkpoint(checkpoint, config)
    converted |= {f"position_net.{k}": v for k, v in gligen.position_net.state_dict().items()}
    ref.load_state_dict(converted, strict=True)
    return ref


def test_grounded_unet_matches_diffusers_gated_unet(randomize, unet_reference_config,
                                                    rel_err) -> None:
    torch.manual_seed(0)
    ours = UNetModel(SD1_GLIGEN_TINY).eval()
    randomize(ours, 15)
    gligen = _tiny_gligen(SD1_GLIGEN_TINY, randomize, 16)
    ref = _ref_unet(ours, gligen, unet_reference_config)
    gen = torch.Generator().manual_seed(5)
    x, context = torch.randn(2, 4, 16, 12, generator=gen), torch.randn(2, 7, KEY, generator=gen)
    t = torch.tensor([700.0, 120.0])
    pooled = [torch.randn(1, KEY, generator=gen) for _ in range(2)]
    boxes = (GligenBox(pooled[0], 8, 6, 0, 0), GligenBox(pooled[1], 4, 12, 12, 0))  # h, w, y, x
    patch = GligenPosition(gligen, boxes).patch((2, 4, 16, 12))
    # diffusers' inputs written out by hand: (x1, y1, x2, y2) as fractions of the 16 x 12 latent
    ref_boxes = torch.zeros(2, 30, 4)
    ref_boxes[:, 0] = torch.tensor([0.0, 0.0, 6 / 12, 8 / 16])
    ref_boxes[:, 1] = torch.tensor([0.0, 12 / 16, 1.0, 1.0])
    masks = torch.zeros(2, 30)
    masks[:, :2] = 1.0
    embeddings = torch.zeros(2, 30, KEY)
    embeddings[:, 0], embeddings[:, 1] = pooled[0][0], pooled[1][0]
    gligen_kwargs = {"boxes": ref_boxes, "masks": masks, "positive_embeddings": embeddings}
    with torch.no_grad():
        got = ours(x, t, context, attention=AttentionHooks(middle_patches=(patch,)))
        want = ref(x, t, context, cross_attention_kwargs={"gligen": gligen_kwargs}).sample
        plain = ours(x, t, context)
    assert want.abs().max() > 0.1
    assert rel_err(got, want) <= 1e-5
    assert (got - plain).abs().max() > 1e-3
