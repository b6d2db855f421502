"""OpenCLIP / OpenAI ``visual.*`` keys presented in the transformers layout.

OpenAI CLIP and OpenCLIP store the image tower as ``conv1``, ``class_embedding``,
``positional_embedding``, ``ln_pre``, ``transformer.resblocks.N`` (``nn.MultiheadAttention``'s
fused ``in_proj``), ``ln_post`` and ``proj`` (width x projection); ComfyUI converts these to
transformers' names (``convert_to_transformers``) when a file or a checkpoint (SD2.1 unCLIP's
``embedder.model.visual.``) holds them. Here the conversion is lazy: each target key reads its
source tensors only when loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from torch import Tensor

from diffusion.loading.diffusers_folder import MappedSource
from diffusion.loading.diffusers_keys import OPEN_CLIP_LAYER

Shapes = Mapping[str, tuple[int, ...]]
OPEN_CLIP_VISUAL_MARKER = "transformer.resblocks.0.attn.in_proj_weight"
_DIRECT = {
    "class_embedding": "vision_model.embeddings.class_embedding",
    "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "ln_post.weight": "vision_model.post_layernorm.weight",
    "ln_post.bias": "vision_model.post_layernorm.bias",
}


def _layers(shapes: Shapes, src: str) -> list[int]:
    head = src + "transformer.resblocks."
    return sorted({int(k[len(head):].split(".", 1)[0]) for k in shapes if k.startswith(head)})


def _add_layer(out: MappedSource, shapes: Shapes, read: Callable[[str], Tensor],
               src: str, dst: str) -> None:
    for kind in ("weight", "bias"):
        fused = f"{src}attn.in_proj_{kind}"
        if fused in shapes:
            rows = shapes[fused][0] // 3
            for i, part in enumerate("qkv"):
                out.add(f"{dst}self_attn.{part}_proj.{kind}", (rows, *shapes[fused][1:]),
                        lambda key=fused, i=i, rows=rows: read(key)[i * rows:(i + 1) * rows])
        for theirs, ours in OPEN_CLIP_LAYER.items():
            key = f"{src}{theirs}{kind}"
            if key in shapes:
                out.add(f"{dst}{ours}{kind}", shapes[key], lambda key=key: read(key))


def open_clip_visual(path: Path, shapes: Shapes, read: Callable[[str], Tensor], src: str,
                     dst: str) -> MappedSource:
    """The tower under ``src`` (e.g. ``"visual."``) as transformers keys under ``dst``. Keys the
    map does not know are left out (the layout check then names what is missing)."""
    out = MappedSource(path)
    for theirs, ours in _DIRECT.items():
        if src + theirs in shapes:
            out.add(dst + ours, shapes[src + theirs], lambda key=src + theirs: read(key))
    if src + "proj" in shapes:
        width, projection = shapes[src + "proj"]
        out.add(dst + "visual_projection.weight", (projection, width),
                lambda: read(src + "proj").T.contiguous())
    for n in _layers(shapes, src):
        _add_layer(out, shapes, read, f"{src}transformer.resblocks.{n}.",
                   f"{dst}vision_model.encoder.layers.{n}.")
    return out



def open_clip_visual_shapes(width: int, layers: int, mlp_width: int, projection_dim: int,
                            patch_size: int, positions: int) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a tower in the OpenAI / OpenCLIP ``visual`` layout (no prefix), for
    writing random-weight checkpoints in that layout."""
    shapes: dict[str, tuple[int, ...]] = {
        "class_embedding": (width,),
        "positional_embedding": (positions, width),
        "proj": (width, projection_dim),
        "conv1.weight": (width, 3, patch_size, patch_size),
    }
    for norm in ("ln_pre", "ln_post"):
        shapes |= {f"{norm}.weight": (width,), f"{norm}.bias": (width,)}
    for n in range(layers):
        block = f"transformer.resblocks.{n}."
        shapes |= {
            block + "attn.in_proj_weight": (3 * width, width),
            block + "attn.in_proj_bias": (3 * width,),
            block + "attn.out_proj.weight": (width, width),
            block + "attn.out_proj.bias": (width,),
            block + "mlp.c_fc.weight": (mlp_width, width),
            block + "mlp.c_fc.bias": (mlp_width,),
            block + "mlp.c_proj.weight": (width, mlp_width),
            block + "mlp.c_proj.bias": (width,),
        }
        for norm in ("ln_1", "ln_2"):
            shapes |= {f"{block}{norm}.weight": (width,), f"{block}{norm}.bias": (width,)}
    return shapes
