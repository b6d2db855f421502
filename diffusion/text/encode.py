"""Prompt text to cross-attention context and pooled output, with ComfyUI's semantics.

``encode_prompt(text, encoders, tokenizer)`` tokenizes once per encoder (the pad id and the
embedding key are per encoder), runs each 77-token window through the encoder at its layer, applies
the token weights as ``z_empty + w * (z - z_empty)`` (``z_empty``: the encoding of the empty prompt,
position by position; only when some weight differs from 1), concatenates the windows along the
sequence axis and the encoders along channels, and returns the first window's pooled output of the
last encoder. Pure functions over the modules of ``diffusion.text.clip``; no graph, no node.

Family defaults (ComfyUI's ``sd1_clip`` / ``sd2_clip`` / ``sdxl_clip``):

=========  =========  =====  ==========  =========================
encoder    family     layer  final norm  pad
=========  =========  =====  ==========  =========================
clip_l     SD1.x      -1     yes         eos (49407)
clip_h     SD2.x      -2     yes         0
clip_l     SDXL       -2     no          eos (49407)
clip_g     SDXL(+R)   -2     no          0
=========  =========  =====  ==========  =========================
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel
from diffusion.text.embeddings import EmbeddingFolders
from diffusion.text.prompt import TextTokenizer, Window, tokenize_prompt
from diffusion.text.slots import TextSlot
from diffusion.text.tokenizer import EOS_ID

logger = logging.getLogger(__name__)

TextModel = CLIPTextModel | OpenCLIPTextModel
OPEN_CLIP_PAD = 0
_SPLICE_PLACEHOLDER = 0  # id at embedding positions; its row is replaced before the first layer
_CONCAT_ORDER = ("clip_l", "clip_h", "clip_g")  # SDXL: CLIP-L channels first, then bigG


@dataclass(frozen=True)
class PromptEncoder:
    """One text encoder as ComfyUI drives it within a family."""

    name: str  # "clip_l", "clip_h" or "clip_g"; also the key read from SDXL embedding files
    model: TextModel
    layer: int  # default output layer: -1 last, -2 penultimate
    final_norm: bool  # final LayerNorm on that layer's output
    pad: int  # window padding id


class PromptEncoding(NamedTuple):
    cond: Tensor  # (1, 77 * windows, sum of encoder widths)
    pooled: Tensor  # (1, pooled width) of the last encoder, first window


def sd1_encoders(clip_l: CLIPTextModel) -> tuple[PromptEncoder, ...]:
    return (PromptEncoder("clip_l", clip_l, -1, True, EOS_ID),)


def sd2_encoders(clip_h: OpenCLIPTextModel) -> tuple[PromptEncoder, ...]:
    return (PromptEncoder("clip_h", clip_h, -2, True, OPEN_CLIP_PAD),)


def sdxl_encoders(clip_l: CLIPTextModel, clip_g: OpenCLIPTextModel) -> tuple[PromptEncoder, ...]:
    return (
        PromptEncoder("clip_l", clip_l, -2, False, EOS_ID),
        PromptEncoder("clip_g", clip_g, -2, False, OPEN_CLIP_PAD),
    )


def sdxl_refiner_encoders(clip_g: OpenCLIPTextModel) -> tuple[PromptEncoder, ...]:
    return (PromptEncoder("clip_g", clip_g, -2, False, OPEN_CLIP_PAD),)


def encoders_from_checkpoint(
    text_encoders: Mapping[str, tuple[TextSlot, nn.Module]],
) -> tuple[PromptEncoder, ...]:
    """Encoders for ``Checkpoint.text_encoders`` (slot defaults from ``diffusion.loading``)."""
    encoders = []
    for name, (slot, model) in text_encoders.items():
        if not isinstance(model, CLIPTextModel | OpenCLIPTextModel):
            raise TypeError(f"text encoder {name!r} is a {type(model).__name__}, not a CLIP model")
        pad = EOS_ID if slot.kind == "clip" else OPEN_CLIP_PAD
        encoders.append(PromptEncoder(slot.name, model, slot.layer, slot.final_norm, pad))
    unknown = [e.name for e in encoders if e.name not in _CONCAT_ORDER]
    if unknown:
        raise ValueError(f"unknown text encoder names {unknown}; expected {_CONCAT_ORDER}")
    return tuple(sorted(encoders, key=lambda e: _CONCAT_ORDER.index(e.name)))


def _token_embedding(model: nn.Module) -> nn.Embedding:
    if isinstance(model, CLIPTextModel):
        return model.text_model.embeddings.token_embedding
    if isinstance(model, OpenCLIPTextModel):
        return model.token_embedding
    raise TypeError(f"model is a {type(model).__name__}, not CLIPTextModel or OpenCLIPTextModel")


@contextmanager
def _spliced(model: nn.Module, splices: list[tuple[int, int, Tensor]]) -> Iterator[None]:
    """While open, the token-embedding rows at (row, position) are the given vectors.

    A forward hook on the token embedding: ``clip.py`` takes ids only (see the module docstring
    of ``diffusion.text.clip``); the positional embedding is still added after the splice.
    """
    if not splices:
        yield
        return
    rows = torch.tensor([r for r, _, _ in splices])
    cols = torch.tensor([c for _, c, _ in splices])
    vectors = torch.stack([v for _, _, v in splices])  # (n, width)

    def replace(_module: nn.Module, _args: tuple[Tensor, ...], output: Tensor) -> Tensor:
        out = output.clone()  # (B, T, width)
        out[rows.to(out.device), cols.to(out.device)] = vectors.to(out.device, out.dtype)
        return out

    handle = _token_embedding(model).register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def _model_rows(
    windows: list[Window], encoder: PromptEncoder
) -> tuple[list[list[int]], list[tuple[int, int, Tensor]]]:
    """Ids per window and the embedding vectors to splice, as ComfyUI's set_up_textual_embeddings.

    A vector of the wrong width for this encoder is dropped with a warning and the row is padded
    at its end (the weights keep their positions, as in ComfyUI).
    """
    width = encoder.model.config.width
    rows: list[list[int]] = []
    splices: list[tuple[int, int, Tensor]] = []
    for r, window in enumerate(windows):
        ids: list[int] = []
        for token, _weight in window:
            if isinstance(token, int):
                ids.append(token)
            elif token.shape[-1] == width:
                splices.append((r, len(ids), token))
                ids.append(_SPLICE_PLACEHOLDER)
            else:
                logger.warning(
                    "%s: embedding vector of width %d ignored (encoder width %d)",
                    encoder.name,
                    token.shape[-1],
                    width,
                )
        rows.append(ids + [encoder.pad] * (len(window) - len(ids)))
    return rows, splices


def _empty_row(encoder: PromptEncoder, length: int, bos: int, eos: int) -> list[int]:
    return [bos, eos] + [encoder.pad] * (length - 2)


def encode_windows(
    encoder: PromptEncoder,
    windows: list[Window],
    tokenizer: TextTokenizer,
    *,
    layer: int | None = None,
) -> tuple[Tensor, Tensor]:
    """(cond (1, 77 * k, width), pooled (1, P)) for ``k`` windows from ``tokenize_prompt``."""
    if not windows:
        raise ValueError("windows is empty; tokenize_prompt always returns at least one")
    rows, splices = _model_rows(windows, encoder)
    weights = torch.tensor([[w for _, w in window] for window in windows])  # (k, 77)
    weighted = bool((weights != 1.0).any())
    if weighted:  # the empty prompt rides in the same batch, as the last row
        rows.append(_empty_row(encoder, len(rows[0]), tokenizer.bos_id, tokenizer.eos_id))
    device = next(encoder.model.parameters()).device
    ids = torch.tensor(rows, dtype=torch.long, device=device)  # (k [+1], 77)
    with torch.no_grad(), _spliced(encoder.model, splices):
        out = encoder.model(
            ids, layer=encoder.layer if layer is None else layer, final_norm=encoder.final_norm
        )
    z = out.hidden.float()  # (k [+1], 77, width)
    if weighted:
        z_empty, z = z[-1], z[:-1]  # (77, width), (k, 77, width)
        w = weights.to(z)[..., None]  # (k, 77, 1)
        z = torch.where(w != 1.0, (z - z_empty) * w + z_empty, z)
    return z.reshape(1, -1, z.shape[-1]), out.pooled[:1].float()  # (1, 77 * k, width)


def encode_prompt(
    text: str,
    encoders: Sequence[PromptEncoder],
    tokenizer: TextTokenizer,
    *,
    layer: int | None = None,
    embedding_folders: Sequence[str | Path] | None = None,
) -> PromptEncoding:
    """ComfyUI's CLIPTextEncode for one prompt.

    ``layer`` overrides every encoder's default ("stop at clip layer": -1 last, -2 penultimate),
    as CLIPSetLastLayer does. ``embedding_folders`` enables ``embedding:NAME``; with ``None`` the
    marker is plain text. Encoders are concatenated along channels in the given order (SDXL:
    CLIP-L then bigG); both are cut to the shorter sequence, as ComfyUI does.
    """
    if not encoders:
        raise ValueError("encoders is empty; pass e.g. sd1_encoders(clip_l)")
    conds: list[Tensor] = []
    pooled = torch.empty(0)
    for encoder in encoders:
        lookup = (
            None
            if embedding_folders is None
            else EmbeddingFolders(embedding_folders, key=encoder.name)
        )
        windows = tokenize_prompt(text, tokenizer, pad=encoder.pad, embeddings=lookup)
        cond, pooled = encode_windows(encoder, windows, tokenizer, layer=layer)
        conds.append(cond)
    length = min(c.shape[1] for c in conds)
    cond = torch.cat([c[:, :length] for c in conds], dim=-1)  # (1, 77 * k, sum of widths)
    return PromptEncoding(cond, pooled)
