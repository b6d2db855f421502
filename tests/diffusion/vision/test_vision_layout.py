"""Full-size CLIP vision layouts on the meta device (nothing allocated): the key manifests of
transformers' ``CLIPVisionModelWithProjection`` (ViT-L/14, ViT-H/14, ViT-bigG/14, with and
without the old ``position_ids`` buffer), of the original CLIP ``VisionTransformer`` (``visual.*``,
rebuilt here from the original code's module tree) and of an SD2.1 unCLIP checkpoint are opened,
detected as the published tower and built with exactly those shapes; a file missing keys is
refused with the keys named."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from diffusion.checkpoint_maker import layout_shapes
from diffusion.loading import UnknownModelError
from diffusion.loading.checkpoint import (
    OpenedCheckpoint,
    build_modules,
    check_layout,
    expected_shapes,
)
from diffusion.loading.detect import detect_layout
from diffusion.loading.files import TensorFile
from diffusion.vision import (
    VIT_BIGG_14,
    VIT_H_14,
    VIT_L_14,
    VisionConfig,
    embedded_vision,
    open_vision_file,
    with_embedded_vision,
)
from diffusion.vision.keys import open_clip_visual_shapes

transformers = pytest.importorskip("transformers")
TOWERS = {"vit-l-14": VIT_L_14, "vit-h-14": VIT_H_14, "vit-bigg-14": VIT_BIGG_14}


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def transformers_manifest(cfg: VisionConfig) -> dict[str, tuple[int, ...]]:
    hf = transformers.CLIPVisionConfig(
        hidden_size=cfg.width, intermediate_size=cfg.mlp_width, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, image_size=cfg.image_size, patch_size=cfg.patch_size,
        projection_dim=cfg.projection_dim, hidden_act=cfg.activation)
    with torch.device("meta"):
        return _shapes(transformers.CLIPVisionModelWithProjection(hf))


class _ResidualAttentionBlock(nn.Module):
    """OpenAI CLIP's ``model.py`` block (OpenCLIP's: the MLP is ``mlp_ratio`` wide, 4.9231 for
    bigG): nn.MultiheadAttention, LayerNorms, c_fc/gelu/c_proj."""

    def __init__(self, width: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, mlp)),
                                              ("gelu", nn.GELU()),
                                              ("c_proj", nn.Linear(mlp, width))]))
        self.ln_2 = nn.LayerNorm(width)


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[_ResidualAttentionBlock(width, heads, mlp)
                                         for _ in range(layers)])


class OriginalVisionTransformer(nn.Module):
    """OpenAI CLIP's / OpenCLIP's ``VisionTransformer`` module tree (parameters only)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        width, grid = cfg.width, cfg.image_size // cfg.patch_size
        self.conv1 = nn.Conv2d(3, width, cfg.patch_size, cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _Transformer(width, cfg.layers, cfg.heads,
                                        int(width * {1664: 4.9231}.get(width, 4)))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, cfg.projection_dim))


def original_manifest(cfg: VisionConfig, prefix: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {prefix + k: v for k, v in _shapes(OriginalVisionTransformer(cfg)).items()}


def _file(shapes: dict[str, tuple[int, ...]], name: str = "cv.safetensors") -> TensorFile:
    return TensorFile(Path(name), dict(shapes))


@pytest.mark.parametrize("name", sorted(TOWERS))
@pytest.mark.parametrize("position_ids", [False, True])
def test_transformers_layout_opens_as_the_published_tower(name: str,
                                                          position_ids: bool) -> None:
    cfg = TOWERS[name]
    manifest = transformers_manifest(cfg)
    if position_ids:  # transformers 4.x saved the buffer; real files carry it
        manifest["vision_model.embeddings.position_ids"] = (1, cfg.num_positions)
    opened = open_vision_file(_file(manifest))
    assert opened is not None and opened.config == cfg
    built = {k.removeprefix("clip_vision."): v for k, v in _shapes(opened.empty("clip_vision"))
             .items()}
    assert built == transformers_manifest(cfg)


@pytest.mark.parametrize("name", sorted(TOWERS))
def test_original_visual_layout_maps_onto_transformers_names(name: str) -> None:
    cfg = TOWERS[name]
    manifest = original_manifest(cfg, "visual.")
    shapes = open_clip_visual_shapes(cfg.width, cfg.layers, cfg.mlp_width, cfg.projection_dim,
                                     cfg.patch_size, cfg.num_positions)
    assert {"visual." + k: v for k, v in shapes.items()} == manifest  # the maker's manifest
    opened = open_vision_file(_file(manifest))
    assert opened is not None and opened.config == cfg
    mapped = {k.removeprefix("clip_vision."): v for k, v in opened.source.shapes.items()}
    assert mapped == transformers_manifest(cfg)


def test_truncated_vision_file_is_refused_naming_the_keys() -> None:
    manifest = transformers_manifest(VIT_H_14)
    del manifest["vision_model.encoder.layers.31.mlp.fc2.bias"]
    del manifest["vision_model.post_layernorm.weight"]
    with pytest.raises(UnknownModelError) as info:
        open_vision_file(_file(manifest, "cut.safetensors"))
    message = str(info.value)
    assert "cut.safetensors" in message and "missing (2)" in message
    assert "clip_vision.vision_model.post_layernorm.weight" in message
    assert "clip_vision.vision_model.encoder.layers.31.mlp.fc2.bias" in message
    visual = original_manifest(VIT_L_14, "visual.")
    del visual["visual.proj"]
    with pytest.raises(UnknownModelError, match="visual_projection.weight"):
        open_vision_file(_file(visual))


@pytest.mark.parametrize(("arch", "cfg"), [("sd21-unclip-h", VIT_H_14),
                                           ("sd21-unclip-l", VIT_L_14)])
def test_unclip_checkpoint_layout(arch: str, cfg: VisionConfig) -> None:
    shapes = layout_shapes(arch)  # type: ignore[arg-type]
    embedder = {k: v for k, v in shapes.items() if k.startswith("embedder.")}
    assert embedder == original_manifest(cfg, "embedder.model.visual.")
    layout = detect_layout(shapes)
    assert layout.family == "sd2" and layout.unet.adm_in_channels == 2 * cfg.projection_dim
    with torch.device("meta"):
        check_layout("unclip", shapes, expected_shapes(build_modules(layout)))
    source = _file(shapes, "unclip.safetensors")
    vision = embedded_vision(source)
    assert vision is not None and vision.config == cfg
    opened = with_embedded_vision(OpenedCheckpoint(source, layout, "v", None))  # type: ignore
    assert set(opened.prefixes()) == {"unet", "vae", "clip_h", "clip_vision"}
    built = {k.removeprefix("clip_vision."): v for k, v in _shapes(opened.empty("clip_vision"))
             .items()}
    assert built == transformers_manifest(cfg)
    del shapes["embedder.model.visual.transformer.resblocks.3.attn.in_proj_weight"]
    with pytest.raises(UnknownModelError, match=r"missing \(3\).*layers\.3\.self_attn"):
        embedded_vision(_file(shapes, "unclip.safetensors"))
