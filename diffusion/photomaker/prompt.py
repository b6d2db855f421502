"""PhotoMakerEncode's text handling, as ComfyUI v0.3.64 does it.

The trigger word's index is its 1-based position among ``text.split(" ")`` (-1 when absent).
Tokens whose word id equals that index are dropped from each 77-token window, which is then
refilled with copies of its last token; word ids number the prompt's token groups (a weighted
segment, an embedding, the text after one) from 1, so for a plain prompt — one group — no token
matches and the trigger word stays in the text. The class token whose embedding is fused is the
token at position ``index - 1`` of the first window (position 0 is the start token).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from diffusion.text.embeddings import EmbeddingFolders
from diffusion.text.encode import PromptEncoder, PromptEncoding, encode_windows
from diffusion.text.prompt import (
    WINDOW,
    TextTokenizer,
    Window,
    WordToken,
    split_windows_with_ids,
    token_groups,
)

TRIGGER_WORD = "photomaker"


def trigger_index(text: str, trigger: str = TRIGGER_WORD) -> int:
    """ComfyUI's ``text.split(" ").index(trigger) + 1``, or -1 without the trigger word."""
    words = text.split(" ")
    return words.index(trigger) + 1 if trigger in words else -1


def drop_word(window: list[WordToken], word_id: int) -> Window:
    """The window without word ``word_id``'s tokens, refilled to its length with copies of its
    last token."""
    kept = [(token, weight) for token, weight, word in window if word != word_id]
    last = window[-1]
    return kept + [(last[0], last[1])] * (len(window) - len(kept))


def encode_without_word(
    text: str,
    encoders: Sequence[PromptEncoder],
    tokenizer: TextTokenizer,
    word_id: int,
    embedding_folders: Sequence[str | Path] | None = None,
) -> PromptEncoding:
    """``encode_prompt`` of ``text`` with word ``word_id`` dropped from every window."""
    if not encoders:
        raise ValueError("encoders is empty; PhotoMaker needs SDXL's CLIP-L and bigG")
    conds: list[Tensor] = []
    pooled = torch.empty(0)
    for encoder in encoders:
        lookup = None if embedding_folders is None else EmbeddingFolders(
            embedding_folders, key=encoder.name)
        groups = token_groups(text, tokenizer, embeddings=lookup)
        rows = split_windows_with_ids(groups, bos=tokenizer.bos_id, eos=tokenizer.eos_id,
                                      pad=encoder.pad)
        windows = [drop_word(row, word_id) for row in rows]
        cond, pooled = encode_windows(encoder, windows, tokenizer)
        conds.append(cond)
    length = min(c.shape[1] for c in conds)
    return PromptEncoding(torch.cat([c[:, :length] for c in conds], dim=-1), pooled)


def class_token_mask(index: int, length: int = WINDOW) -> Tensor:
    """(length,) bool, true at the class token ``index - 1`` (``index`` from
    ``trigger_index``, > 0)."""
    if index < 1:
        raise ValueError(f"index={index}: the prompt has no trigger word to fuse")
    if index - 1 >= length:
        raise ValueError(f"the trigger word is word {index}, past the first {length} tokens")
    mask = torch.zeros(length, dtype=torch.bool)
    mask[index - 1] = True
    return mask
