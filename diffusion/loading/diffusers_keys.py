"""Key maps between diffusers / transformers layouts and the original single-file (LDM) layout.

Each map is generated from our configuration, so it covers narrowed and shallowed models too.
A map sends every key of our module to the diffusers key holding the same tensor; VAE attention
1x1 convolutions are stored as linear weights by diffusers, and OpenCLIP's fused ``in_proj`` is
split into ``q_proj`` / ``k_proj`` / ``v_proj`` by transformers (see ``open_clip_from_hf``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor

from diffusion.unet.config import UNetConfig
from diffusion.vae.model import VAEConfig

_UNET_RESNET = (
    ("in_layers.0.", "norm1."),
    ("in_layers.2.", "conv1."),
    ("emb_layers.1.", "time_emb_proj."),
    ("out_layers.0.", "norm2."),
    ("out_layers.3.", "conv2."),
    ("skip_connection.", "conv_shortcut."),
)
_VAE_RESNET = (("nin_shortcut.", "conv_shortcut."),)
_VAE_ATTENTION = (
    ("norm.", "group_norm."),
    ("q.", "to_q."),
    ("k.", "to_k."),
    ("v.", "to_v."),
    ("proj_out.", "to_out.0."),
)
Renames = tuple[tuple[str, str], ...]


def _rename(key: str, prefixes: Mapping[str, tuple[str, Renames]]) -> str:
    """Maps ``key`` by its longest matching block prefix, then renames inside the block."""
    best = max((p for p in prefixes if key.startswith(p)), key=len, default=None)
    if best is None:
        raise KeyError(f"no diffusers counterpart for key {key!r}")
    target, inner = prefixes[best]
    rest = key[len(best) :]
    for old, new in inner:
        if rest.startswith(old):
            rest = new + rest[len(old) :]
            break
    return target + rest


def _unet_input_prefixes(cfg: UNetConfig) -> dict[str, tuple[str, Renames]]:
    p: dict[str, tuple[str, Renames]] = {"input_blocks.0.0.": ("conv_in.", ())}
    i = 1
    depths = iter(cfg.transformer_depth)
    for level, n in enumerate(cfg.num_res_blocks):
        for j in range(n):
            p[f"input_blocks.{i}.0."] = (f"down_blocks.{level}.resnets.{j}.", _UNET_RESNET)
            if next(depths) > 0:
                p[f"input_blocks.{i}.1."] = (f"down_blocks.{level}.attentions.{j}.", ())
            i += 1
        if level != len(cfg.num_res_blocks) - 1:
            p[f"input_blocks.{i}.0.op."] = (f"down_blocks.{level}.downsamplers.0.conv.", ())
            i += 1
    return p


def _unet_output_prefixes(cfg: UNetConfig) -> dict[str, tuple[str, Renames]]:
    p: dict[str, tuple[str, Renames]] = {}
    k = 0
    for up, level in enumerate(reversed(range(len(cfg.num_res_blocks)))):
        n = cfg.num_res_blocks[level] + 1
        for j in range(n):
            p[f"output_blocks.{k}.0."] = (f"up_blocks.{up}.resnets.{j}.", _UNET_RESNET)
            has_attention = cfg.transformer_depth_output[k] > 0
            if has_attention:
                p[f"output_blocks.{k}.1."] = (f"up_blocks.{up}.attentions.{j}.", ())
            if level and j == n - 1:
                index = 2 if has_attention else 1
                p[f"output_blocks.{k}.{index}.conv."] = (f"up_blocks.{up}.upsamplers.0.conv.", ())
            k += 1
    return p


def unet_prefixes(cfg: UNetConfig) -> dict[str, tuple[str, Renames]]:
    p: dict[str, tuple[str, Renames]] = {
        "time_embed.0.": ("time_embedding.linear_1.", ()),
        "time_embed.2.": ("time_embedding.linear_2.", ()),
        "label_emb.0.0.": ("add_embedding.linear_1.", ()),
        "label_emb.0.2.": ("add_embedding.linear_2.", ()),
        "label_emb.weight": ("class_embedding.weight", ()),  # class labels (x4 upscaler)
        "out.0.": ("conv_norm_out.", ()),
        "out.2.": ("conv_out.", ()),
        "middle_block.0.": ("mid_block.resnets.0.", _UNET_RESNET),
        "middle_block.1.": ("mid_block.attentions.0.", ()),
        "middle_block.2.": ("mid_block.resnets.1.", _UNET_RESNET),
    }
    return p | _unet_input_prefixes(cfg) | _unet_output_prefixes(cfg)


def vae_prefixes(cfg: VAEConfig) -> dict[str, tuple[str, Renames]]:
    levels = len(cfg.ch_mult)
    p: dict[str, tuple[str, Renames]] = {
        "encoder.norm_out.": ("encoder.conv_norm_out.", ()),
        "decoder.norm_out.": ("decoder.conv_norm_out.", ()),
    }
    for part in ("encoder", "decoder"):
        for name in ("conv_in.", "conv_out."):
            p[f"{part}.{name}"] = (f"{part}.{name}", ())
        p[f"{part}.mid.block_1."] = (f"{part}.mid_block.resnets.0.", _VAE_RESNET)
        p[f"{part}.mid.attn_1."] = (f"{part}.mid_block.attentions.0.", _VAE_ATTENTION)
        p[f"{part}.mid.block_2."] = (f"{part}.mid_block.resnets.1.", _VAE_RESNET)
    for level in range(levels):
        up = levels - 1 - level
        for j in range(cfg.num_res_blocks + 1):
            if j < cfg.num_res_blocks:
                p[f"encoder.down.{level}.block.{j}."] = (
                    f"encoder.down_blocks.{level}.resnets.{j}.",
                    _VAE_RESNET,
                )
            p[f"decoder.up.{level}.block.{j}."] = (
                f"decoder.up_blocks.{up}.resnets.{j}.",
                _VAE_RESNET,
            )
        p[f"encoder.down.{level}.downsample.conv."] = (
            f"encoder.down_blocks.{level}.downsamplers.0.conv.",
            (),
        )
        p[f"decoder.up.{level}.upsample.conv."] = (f"decoder.up_blocks.{up}.upsamplers.0.conv.", ())
    for name in ("quant_conv.", "post_quant_conv."):
        p[name] = (name, ())
    return p


def key_map(keys: list[str], prefixes: Mapping[str, tuple[str, Renames]]) -> dict[str, str]:
    """``{key: mapped key}`` for ``keys`` under ``prefixes`` (ours -> diffusers, or inverted)."""
    return {key: _rename(key, prefixes) for key in keys}


def invert(prefixes: Mapping[str, tuple[str, Renames]]) -> dict[str, tuple[str, Renames]]:
    """The diffusers -> ours prefix table of an ours -> diffusers one."""
    return {
        target: (source, tuple((new, old) for old, new in inner))
        for source, (target, inner) in prefixes.items()
    }


def vae_tensor_from_diffusers(key: str, tensor: Tensor) -> Tensor:
    """diffusers stores the VAE attention projections as linear weights; ours are 1x1 convs."""
    if ".mid.attn_1." in key and key.endswith("weight") and tensor.ndim == 2:
        return tensor[:, :, None, None]  # (C, C, 1, 1)
    return tensor


Lazy = tuple[tuple[int, ...], Callable[[], Tensor]]  # (shape, thunk reading the tensor)
OPEN_CLIP_LAYER = {  # OpenCLIP resblock part -> transformers encoder-layer part
    "attn.out_proj.": "self_attn.out_proj.",
    "ln_1.": "layer_norm1.",
    "ln_2.": "layer_norm2.",
    "mlp.c_fc.": "mlp.fc1.",
    "mlp.c_proj.": "mlp.fc2.",
}


def open_clip_from_hf(
    shapes: Mapping[str, tuple[int, ...]], read: Callable[[str], Tensor]
) -> dict[str, Lazy]:
    """OpenCLIP keys, shapes and lazy tensors from a transformers ``CLIPTextModel[WithProjection]``.

    ``shapes`` / ``read`` use transformers keys (``text_model.`` included). Fused ``in_proj``
    tensors concatenate q, k, v; ``text_projection`` is transposed.
    """
    out: dict[str, Lazy] = {}

    def direct(ours: str, hf: str) -> None:
        out[ours] = (shapes[hf], lambda: read(hf))

    direct("token_embedding.weight", "text_model.embeddings.token_embedding.weight")
    direct("positional_embedding", "text_model.embeddings.position_embedding.weight")
    direct("ln_final.weight", "text_model.final_layer_norm.weight")
    direct("ln_final.bias", "text_model.final_layer_norm.bias")
    if "text_projection.weight" in shapes:
        rows, cols = shapes["text_projection.weight"]
        out["text_projection"] = (
            (cols, rows),
            lambda: read("text_projection.weight").T.contiguous(),
        )
    layers = {int(k.split(".")[3]) for k in shapes if k.startswith("text_model.encoder.layers.")}
    for n in sorted(layers):
        ours, hf = f"transformer.resblocks.{n}.", f"text_model.encoder.layers.{n}."
        for kind in ("weight", "bias"):
            names = [f"{hf}self_attn.{p}_proj.{kind}" for p in "qkv"]
            shape = (3 * shapes[names[0]][0], *shapes[names[0]][1:])
            out[f"{ours}attn.in_proj_{kind}"] = (
                shape,
                lambda names=names: torch.cat([read(k) for k in names]),
            )
            for our_part, hf_part in OPEN_CLIP_LAYER.items():
                direct(f"{ours}{our_part}{kind}", f"{hf}{hf_part}{kind}")
    return out


def open_clip_to_hf(state: Mapping[str, Tensor]) -> Iterator[tuple[str, Tensor]]:
    """An OpenCLIP text tower's tensors under transformers ``CLIPTextModelWithProjection`` keys
    (the inverse of ``open_clip_from_hf``; ComfyUI keeps its CLIP-G / ViT-H so).

    Every tensor is a view of ``state``'s (no copy): the fused ``in_proj`` is split into row
    blocks q, k, v; ``text_projection`` is transposed. ``logit_scale`` has no transformers key
    and is left out.
    """
    direct = {
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight",
        "ln_final.bias": "text_model.final_layer_norm.bias",
    }
    for ours, hf in direct.items():
        yield hf, state[ours]
    if "text_projection" in state:
        yield "text_projection.weight", state["text_projection"].T  # (proj, width)
    layers = sorted({int(k.split(".")[2]) for k in state if k.startswith("transformer.resblocks.")})
    for n in layers:
        ours, hf = f"transformer.resblocks.{n}.", f"text_model.encoder.layers.{n}."
        for kind in ("weight", "bias"):
            fused = state[f"{ours}attn.in_proj_{kind}"]  # (3 * width, ...)
            for part, block in zip("qkv", fused.chunk(3), strict=True):
                yield f"{hf}self_attn.{part}_proj.{kind}", block
            for our_part, hf_part in OPEN_CLIP_LAYER.items():
                yield f"{hf}{hf_part}{kind}", state[f"{ours}{our_part}{kind}"]
