"""diffusers' SD1.5 / SDXL pipelines assembled from one of our single-file checkpoints.

No hub access: the configs come from the file's detected layout and the tokenizer from the
vocabulary we ship; the weights go through diffusers' own single-file converters. Used by the
benchmarks as the reference on the very same random weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from diffusion.loading.detect import CheckpointLayout
from diffusion.text.clip import TextEncoderConfig
from diffusion.text.tokenizer import DEFAULT_VOCAB_PATH, read_bpe_file
from diffusion.unet.config import UNetConfig
from diffusion.vae.model import VAEConfig


def unet_config(cfg: UNetConfig) -> dict[str, Any]:
    """UNet2DConditionModel kwargs for ``cfg`` (uniform res blocks per level; SDXL's ADM)."""
    nrb = cfg.num_res_blocks[0]
    depth = [cfg.transformer_depth[level * nrb] for level in range(len(cfg.channel_mult))]
    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    heads = cfg.num_heads if cfg.num_heads > 0 else [c // cfg.num_head_channels for c in channels]
    middle = cfg.transformer_depth_middle or 1
    config: dict[str, Any] = {
        "sample_size": 64, "in_channels": cfg.in_channels, "out_channels": cfg.out_channels,
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depth],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depth)],
        "block_out_channels": channels, "layers_per_block": nrb,
        "cross_attention_dim": cfg.context_dim, "attention_head_dim": heads,
        "use_linear_projection": cfg.use_linear_in_transformer,
        "transformer_layers_per_block": [d or middle for d in depth[:-1]] + [depth[-1] or middle],
        "norm_num_groups": cfg.norm_groups, "norm_eps": cfg.resnet_eps, "act_fn": "silu",
    }
    if cfg.adm_in_channels is not None:
        config.update(addition_embed_type="text_time", addition_time_embed_dim=256,
                      projection_class_embeddings_input_dim=cfg.adm_in_channels)
    return config


def vae_config(cfg: VAEConfig, scaling: float) -> dict[str, Any]:
    levels = len(cfg.ch_mult)
    return {
        "in_channels": cfg.in_channels, "out_channels": cfg.out_ch,
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": [cfg.ch * m for m in cfg.ch_mult],
        "layers_per_block": cfg.num_res_blocks, "act_fn": "silu",
        "latent_channels": cfg.z_channels, "norm_num_groups": cfg.norm_groups,
        "sample_size": 256, "scaling_factor": scaling,
    }


def diffusers_twin(ours: torch.nn.Module, prefix: str, model_class: Any, config: dict[str, Any],
                   convert: Any) -> torch.nn.Module:
    """diffusers' ``model_class(**config)`` holding the very tensors of ``ours`` (its state dict
    under ``prefix`` through diffusers' single-file ``convert``, loaded with ``assign=True``:
    one copy of the weights in memory), in eval mode without gradients."""
    with torch.device("meta"):
        ref = model_class(**config)
    checkpoint = {prefix + k: v for k, v in ours.state_dict().items()}
    ref.load_state_dict(convert(checkpoint, config), strict=True, assign=True)
    return ref.eval().requires_grad_(False)


def clip_tokenizer(folder: Path, pad: str = "<|endoftext|>") -> Any:
    """transformers' CLIPTokenizer from the vocabulary we ship (no hub access)."""
    import transformers

    vocab, merges = read_bpe_file(DEFAULT_VOCAB_PATH)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges))
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                      model_max_length=77, pad_token=pad)


def text_model(cfg: TextEncoderConfig, *, projection: bool) -> Any:
    import transformers

    config = transformers.CLIPTextConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.width,
        intermediate_size=cfg.width * cfg.mlp_ratio, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, max_position_embeddings=cfg.max_positions,
        hidden_act=cfg.activation, layer_norm_eps=cfg.eps,
        projection_dim=cfg.projection_dim or cfg.width,
        bos_token_id=49406, eos_token_id=cfg.eos_token_id, pad_token_id=1)
    kind = transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    return kind(config).eval()


def _load_clip(model: Any, converted: dict[str, torch.Tensor]) -> None:
    if not hasattr(model, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    converted = {k: v for k, v in converted.items() if not k.endswith("position_ids")}
    model.load_state_dict(converted, strict=True)


def _scheduler() -> Any:
    import diffusers

    return diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, timestep_spacing="linspace", steps_offset=1)


def diffusers_pipeline(arch: str, path: Path, layout: CheckpointLayout, scratch: Path,
                       dtype: torch.dtype = torch.float32) -> Any:
    """``StableDiffusionPipeline`` (``sd15``) or ``StableDiffusionXLPipeline`` (``sdxl``)."""
    import diffusers
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    state = {k: v.to(dtype) for k, v in load_file(path).items()}
    u_cfg = unet_config(layout.unet)
    unet = diffusers.UNet2DConditionModel(**u_cfg).eval()
    unet.load_state_dict(convert_ldm_unet_checkpoint(state, u_cfg), strict=True)
    assert layout.vae is not None
    v_cfg = vae_config(layout.vae, 0.13025 if arch == "sdxl" else 0.18215)
    vae = diffusers.AutoencoderKL(**v_cfg, force_upcast=arch == "sdxl").eval()
    vae.load_state_dict(convert_ldm_vae_checkpoint(state, v_cfg), strict=True)
    (slot_l, cfg_l), *rest = layout.text
    text = text_model(cfg_l, projection=False)
    _load_clip(text, convert_ldm_clip_checkpoint(state))
    common = {"vae": vae, "text_encoder": text, "tokenizer": clip_tokenizer(scratch),
              "unet": unet, "scheduler": _scheduler()}
    if arch == "sd15":
        pipe = diffusers.StableDiffusionPipeline(
            **common, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    else:
        (slot_g, cfg_g), = rest
        text_2 = text_model(cfg_g, projection=True)
        _load_clip(text_2, convert_open_clip_checkpoint(text_2, state, prefix=slot_g.prefix))
        pipe = diffusers.StableDiffusionXLPipeline(
            **common, text_encoder_2=text_2, tokenizer_2=clip_tokenizer(scratch, pad="!"),
            force_zeros_for_empty_prompt=False, add_watermarker=False)
    pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe
