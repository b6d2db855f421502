"""Tiny model pairs (ours + diffusers / transformers, equal random weights) and LoRA builders.

Every LoRA here is keyed by the REFERENCE model's module names, so our key maps are checked
against names we did not generate. Reference models come from local configs; nothing is fetched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffusion.text import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig
from diffusion.unet import UNetConfig, UNetModel
from tests.diffusion.conftest import diffusers_unet_config, randomize_parameters

UNET_PREFIX = "model.diffusion_model."
POOLED = 16
VOCAB = 100
TEXT_LEN = 12


def sd1_config() -> UNetConfig:
    """SD1 conventions (8 heads, conv projections), two levels: down/upsample, skip convs."""
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=32,
        channel_mult=(1, 2),
        num_res_blocks=(1, 1),
        transformer_depth=(1, 0),
        transformer_depth_output=(0, 0, 1, 1),
        transformer_depth_middle=1,
        context_dim=24,
        num_heads=8,
    )


def sdxl_config() -> UNetConfig:
    """SDXL conventions (head width 8 here, linear projections, ADM label embedding)."""
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=32,
        channel_mult=(1, 2),
        num_res_blocks=(1, 1),
        transformer_depth=(0, 2),
        transformer_depth_output=(2, 2, 0, 0),
        transformer_depth_middle=2,
        context_dim=48,
        num_head_channels=8,
        use_linear_in_transformer=True,
        adm_in_channels=POOLED + 6 * 256,
    )


def unet_pair(cfg: UNetConfig, seed: int = 11) -> tuple[UNetModel, nn.Module]:
    """Our UNet and diffusers' with identical random weights (diffusers' own converter)."""
    import diffusers
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    ours = UNetModel(cfg).eval()
    randomize_parameters(ours, seed)
    ref_config = diffusers_unet_config(cfg)
    ref = diffusers.UNet2DConditionModel(**ref_config).eval()
    checkpoint = {UNET_PREFIX + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, ref_config), strict=True)
    return ours, ref


def unet_outputs(ours: nn.Module, ref: nn.Module, cfg: UNetConfig) -> tuple[Tensor, Tensor]:
    """Both UNets on the same seeded inputs (ADM inputs for SDXL configs)."""
    from diffusion.unet import sdxl_adm

    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, cfg.in_channels, 16, 16, generator=gen)
    t = torch.tensor([981.0, 37.5])
    context = torch.randn(2, 5, cfg.context_dim, generator=gen)
    y, added = None, None
    if cfg.adm_in_channels is not None:
        pooled = torch.randn(2, POOLED, generator=gen)
        micro = torch.tensor([[1024.0, 768.0, 0.0, 16.0, 1024.0, 1024.0], [512.0] * 6])
        y = sdxl_adm(pooled, list(micro.unbind(1)))
        added = {"text_embeds": pooled, "time_ids": micro}
    with torch.no_grad():
        return ours(x, t, context, y), ref(x, t, context, added_cond_kwargs=added).sample


def text_config(kind: str) -> TextEncoderConfig:
    return TextEncoderConfig(
        vocab_size=VOCAB,
        width=32,
        layers=2,
        heads=4,
        max_positions=16,
        activation="quick_gelu" if kind == "clip" else "gelu",
        projection_dim=24 if kind == "open_clip" else None,
        eos_token_id=VOCAB - 1,
    )


def _hf_text_config(cfg: TextEncoderConfig):  # type: ignore[no-untyped-def]
    import transformers

    return transformers.CLIPTextConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.width,
        intermediate_size=cfg.width * cfg.mlp_ratio,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        hidden_act=cfg.activation,
        layer_norm_eps=cfg.eps,
        projection_dim=cfg.projection_dim or cfg.width,
        bos_token_id=VOCAB - 2,
        eos_token_id=VOCAB - 1,
        pad_token_id=0,
    )


def text_pair(kind: str, prefix: str, seed: int) -> tuple[nn.Module, nn.Module]:
    """Our CLIP / OpenCLIP encoder and a transformers ``CLIPTextModelWithProjection`` (whose
    module names keep the ``text_model.`` level real LoRA files use) with equal weights."""
    import transformers
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_open_clip_checkpoint,
    )

    cfg = text_config(kind)
    ours = (CLIPTextModel if kind == "clip" else OpenCLIPTextModel)(cfg).eval()
    randomize_parameters(ours, seed)
    ref = transformers.CLIPTextModelWithProjection(_hf_text_config(cfg)).eval()
    checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
    if kind == "clip":
        converted = convert_ldm_clip_checkpoint(checkpoint)
        converted["text_projection.weight"] = torch.randn(cfg.width, cfg.width)  # unused
    else:
        converted = convert_open_clip_checkpoint(ref, checkpoint, prefix=prefix)
        # diffusers' SD2 converter drops the projection (its SD2 encoder has none); we keep it.
        converted.setdefault("text_projection.weight", checkpoint[prefix + "text_projection"].T)
    ref.load_state_dict(converted, strict=True)
    return ours, ref


def text_ids() -> Tensor:
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, VOCAB - 2, (2, TEXT_LEN), generator=gen)
    ids[:, 0] = VOCAB - 2
    ids[0, 7:] = VOCAB - 1
    ids[1, 10:] = VOCAB - 1
    return ids


def text_outputs(ours: nn.Module, ref: nn.Module) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(our last hidden, reference last hidden, our pooled, reference projected pooled)."""
    ids = text_ids()
    with torch.no_grad():
        got = ours(ids)
        want = ref(ids)
    return got.hidden, want.last_hidden_state, got.pooled, want.text_embeds


def linear_and_conv_names(model: nn.Module, *, exclude: Iterable[str] = ()) -> dict[str, nn.Module]:
    """Every Linear / Conv2d of ``model`` by module name (what LoRA trainers can target)."""
    skipped = tuple(exclude)
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv2d)) and not name.endswith(skipped)
    }


@dataclass(frozen=True)
class Pair:
    down: Tensor
    up: Tensor


def random_pair(module: nn.Module, rank: int, gen: torch.Generator) -> Pair:
    """LoRA / LoCon halves for a Linear or a Conv2d (down carries the kernel, up is 1x1)."""
    if isinstance(module, nn.Linear):
        in_shape: tuple[int, ...] = (module.in_features,)
        out = module.out_features
    else:
        assert isinstance(module, nn.Conv2d)
        in_shape, out = (module.in_channels, *module.kernel_size), module.out_channels
    down = torch.randn(rank, *in_shape, generator=gen) / math.sqrt(math.prod(in_shape))
    up = torch.randn(out, rank, *([1, 1] if len(in_shape) == 3 else []), generator=gen)
    return Pair(down, 0.3 * up / math.sqrt(rank))


def build_lora(
    modules: dict[str, nn.Module],
    spell: Callable[[str], str],
    suffixes: tuple[str, str],
    *,
    rank: int,
    seed: int,
    alpha: float | None = None,
) -> dict[str, Tensor]:
    """``{spell(name) + "." + down / up suffix: tensor}`` (+ ``.alpha`` when given)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for name, module in modules.items():
        pair = random_pair(module, rank, gen)
        stem = spell(name)
        state[f"{stem}.{suffixes[0]}"] = pair.down
        state[f"{stem}.{suffixes[1]}"] = pair.up
        if alpha is not None:
            state[f"{stem}.alpha"] = torch.tensor(alpha)
    return state


def kohya(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name.replace(".", "_")


def dotted(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name
