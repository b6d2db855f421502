"""Prompt text through a CLIP payload's encoders (``diffusion.text``), with ComfyUI's layers.

The encoders are made resident and pinned for the duration of one encode (the ModelManager
reads their weights on first use). The stop-at-layer override applies to every encoder; a depth
beyond an encoder's layer count means its final-normed last layer, as ComfyUI's ``clip_layer``.
Results are moved to the CPU, where conditioning lives between nodes (ComfyUI's intermediate
device).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor

from diffusion.text.embeddings import EmbeddingFolders
from diffusion.text.encode import PromptEncoder, TextModel, encode_prompt, encode_windows
from diffusion.text.prompt import tokenize_prompt
from nodes.payloads import Clip, TextEncoderRef


def effective_layer(ref: TextEncoderRef, layers: int, stop_at: int | None) -> tuple[int, bool]:
    """(layer, final_norm) for one encoder given CLIPSetLastLayer's value (None: defaults)."""
    if stop_at is None:
        return ref.layer, ref.final_norm
    if -stop_at > layers:
        return -1, True
    return stop_at, ref.final_norm


@contextmanager
def prompt_encoders(clip: Clip) -> Iterator[tuple[PromptEncoder, ...]]:
    """The clip's encoders, resident (with their weight patches) and pinned while the block
    runs."""
    with ExitStack() as stack:
        encoders = []
        for ref in clip.encoders:
            model: TextModel = stack.enter_context(ref.handle.use(ref.patches))  # type: ignore[assignment]
            layer, final_norm = effective_layer(ref, model.config.layers, clip.stop_at_layer)
            encoders.append(PromptEncoder(ref.name, model, layer, final_norm, ref.pad))
        yield tuple(encoders)


def encode_text(clip: Clip, text: str) -> tuple[Tensor, Tensor]:
    """(cond (1, 77k, C), pooled (1, P)) of one prompt through every encoder (CLIPTextEncode)."""
    with prompt_encoders(clip) as encoders:
        out = encode_prompt(text, encoders, clip.tokenizer,
                            embedding_folders=list(clip.embedding_folders))
    return out.cond.cpu(), out.pooled.cpu()


def encode_texts(clip: Clip, texts: Mapping[str, str], what: str) -> tuple[Tensor, Tensor]:
    """One prompt per encoder (CLIPTextEncodeSDXL's text_l / text_g).

    The shorter token sequence is padded with empty-prompt windows to the longer one, as ComfyUI
    does, then the encodings are concatenated along channels; pooled comes from the last
    encoder.
    """
    if set(clip.names()) != set(texts):
        raise ValueError(f"{what}: needs a CLIP with encoders {sorted(texts)}, got "
                         f"{list(clip.names())} ({clip.family})")
    with prompt_encoders(clip) as encoders:
        windows = {
            e.name: tokenize_prompt(texts[e.name], clip.tokenizer, pad=e.pad,
                                    embeddings=EmbeddingFolders(clip.embedding_folders,
                                                                key=e.name))
            for e in encoders
        }
        longest = max(len(w) for w in windows.values())
        conds: list[Tensor] = []
        pooled = torch.empty(0)
        for encoder in encoders:
            rows = windows[encoder.name]
            empty = tokenize_prompt("", clip.tokenizer, pad=encoder.pad)
            rows = rows + empty * (longest - len(rows))
            cond, pooled = encode_windows(encoder, rows, clip.tokenizer)
            conds.append(cond)
    return torch.cat(conds, dim=-1).cpu(), pooled.cpu()  # (1, 77k, sum of widths)
