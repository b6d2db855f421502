"""An IP-Adapter file as one module: the image projection (``image_proj.*``) and the key/value
projections of every UNet cross-attention layer (``ip_adapter.N.to_k_ip`` / ``to_v_ip``), in the
original layout (``.bin`` files nest these two dicts; ``.safetensors`` prefix them).

``N`` numbers the UNet's attention processors in diffusers' order (down blocks, up blocks, then
the middle block; self- and cross-attention alternating), so cross-attention layers are the odd
numbers 1, 3, 5 …: 16 layers for SD1.x, 70 for SDXL.

The kind is told by keys and shapes, as the IPAdapter plugin does: a ``latents`` tensor is a
Resampler (plus, plus-face), ``proj.3`` an MLP (full-face), ``proj`` + ``norm`` a linear
projection (base, light, ViT-G). FaceID, portrait and Kolors adapters are refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from diffusion.ipadapter.projections import (
    RESAMPLER_HEAD_WIDTH,
    ImageProjModel,
    MLPProjModel,
    Resampler,
)
from diffusion.loading.errors import UnknownModelError

Kind = Literal["base", "plus", "full"]
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class ResamplerConfig:
    dim: int
    depth: int
    heads: int
    num_queries: int
    ff_mult: int


@dataclass(frozen=True)
class IPAdapterConfig:
    """kind; clip_dim: width of the CLIP input (image_embeds for base, hidden states for
    plus/full); token_dim: width of the image tokens (= the UNet's context width); tokens per
    image (None for full: one per CLIP hidden state); layers: ``{N: inner width}`` of the
    key/value projections."""

    kind: Kind
    clip_dim: int
    token_dim: int
    tokens: int | None
    layers: tuple[tuple[int, int], ...]
    resampler: ResamplerConfig | None = None

    @property
    def uses_hidden_states(self) -> bool:
        """Plus and full-face adapters read the penultimate hidden states, base ones the
        projected image embedding."""
        return self.kind != "base"

    def describe(self) -> str:
        size = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}.get(self.token_dim, "unknown")
        return (f"{self.kind} IP-Adapter for {size} ({self.token_dim}-wide tokens, "
                f"{len(self.layers)} cross-attention layers, {self.clip_dim}-wide CLIP input)")


class _KeyValue(nn.Module):
    def __init__(self, token_dim: int, inner: int) -> None:
        super().__init__()
        self.to_k_ip = nn.Linear(token_dim, inner, bias=False)
        self.to_v_ip = nn.Linear(token_dim, inner, bias=False)


class IPAdapterModel(nn.Module):
    def __init__(self, config: IPAdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.image_proj = _projection(config)
        self.ip_adapter = nn.ModuleDict(
            {str(n): _KeyValue(config.token_dim, inner) for n, inner in config.layers})

    def project(self, clip: Tensor) -> Tensor:
        """CLIP input (n, clip_dim) or (n, P, clip_dim) -> image tokens (n, T, token_dim)."""
        weight = next(self.image_proj.parameters())
        tokens: Tensor = self.image_proj(clip.to(weight.device, weight.dtype))
        return tokens

    def key_value(self, n: int, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of image tokens (…, T, token_dim) for cross-attention layer ``n``."""
        layer = self.ip_adapter[str(n)]
        assert isinstance(layer, _KeyValue)
        return layer.to_k_ip(tokens), layer.to_v_ip(tokens)


def _projection(config: IPAdapterConfig) -> nn.Module:
    if config.kind == "base":
        assert config.tokens is not None
        return ImageProjModel(config.clip_dim, config.token_dim, config.tokens)
    if config.kind == "full":
        return MLPProjModel(config.clip_dim, config.token_dim)
    r = config.resampler
    assert r is not None and config.tokens is not None
    return Resampler(dim=r.dim, depth=r.depth, heads=r.heads, num_queries=config.tokens,
                     embedding_dim=config.clip_dim, output_dim=config.token_dim,
                     ff_mult=r.ff_mult)


def _refuse_unsupported(shapes: Shapes, prefix: str) -> None:
    proj, ip = prefix + "image_proj.", prefix + "ip_adapter."
    if any(k.startswith(proj + "perceiver_resampler.") for k in shapes) or any(
            "to_q_lora" in k for k in shapes if k.startswith(ip)):
        raise UnknownModelError("a FaceID IP-Adapter: it needs InsightFace face embeddings, "
                                "which this engine does not compute")
    if proj + "proj.2.weight" in shapes and proj + "proj.3.weight" not in shapes:
        raise UnknownModelError("a FaceID portrait IP-Adapter: it needs InsightFace face "
                                "embeddings, which this engine does not compute")


def _layers(shapes: Shapes, prefix: str) -> tuple[tuple[int, int], ...]:
    head = prefix + "ip_adapter."
    found = []
    for key, shape in shapes.items():
        if key.startswith(head) and key.endswith(".to_k_ip.weight"):
            found.append((int(key[len(head):].split(".", 1)[0]), shape[0]))
    if not found:
        raise UnknownModelError(f"no IP-Adapter under {prefix!r}: no ip_adapter.N.to_k_ip keys")
    return tuple(sorted(found))


def _resampler(shapes: Shapes, proj: str) -> ResamplerConfig:
    _, queries, dim = shapes[proj + "latents"]
    depth = len({k[len(proj) + 7:].split(".", 1)[0] for k in shapes
                 if k.startswith(proj + "layers.")})
    inner = shapes[proj + "layers.0.0.to_q.weight"][0]
    ff = shapes[proj + "layers.0.1.1.weight"][0]
    return ResamplerConfig(dim, depth, inner // RESAMPLER_HEAD_WIDTH, queries, ff // dim)


def detect_ipadapter(shapes: Shapes, prefix: str = "") -> IPAdapterConfig:
    """The adapter under ``prefix`` (``image_proj.`` / ``ip_adapter.`` keys below it)."""
    _refuse_unsupported(shapes, prefix)
    proj, layers = prefix + "image_proj.", _layers(shapes, prefix)
    token_dim = shapes[f"{prefix}ip_adapter.{layers[0][0]}.to_k_ip.weight"][1]
    if proj + "latents" in shapes:
        resampler = _resampler(shapes, proj)
        return IPAdapterConfig("plus", shapes[proj + "proj_in.weight"][1], token_dim,
                               resampler.num_queries, layers, resampler)
    if proj + "proj.3.weight" in shapes:
        return IPAdapterConfig("full", shapes[proj + "proj.0.weight"][1], token_dim, None,
                               layers)
    if proj + "proj.weight" in shapes and proj + "norm.weight" in shapes:
        rows, clip_dim = shapes[proj + "proj.weight"]
        return IPAdapterConfig("base", clip_dim, token_dim, rows // token_dim, layers)
    raise UnknownModelError(f"IP-Adapter under {prefix!r} has an unknown image projection "
                            "(no latents, proj.3 or proj + norm)")
