"""ComfyUI prompt semantics: weights, escapes, ``embedding:NAME`` and 77-token windows.

Behaviour follows ComfyUI's ``comfy/sd1_clip.py`` (``token_weights``, ``SDTokenizer``):

* ``(text)`` multiplies the enclosing weight by 1.1; ``(text:1.3)`` sets it to 1.3 (an explicit
  weight replaces, it does not multiply); nesting multiplies the 1.1 factors. ``\\(`` and ``\\)``
  are literal parentheses. Unbalanced parentheses are kept as text, exactly as ComfyUI groups them.
* Each weighted segment is tokenized as a whole (not word by word), split only before
  ``embedding:`` markers that follow a space or a newline (or start the segment).
* ``embedding:NAME`` splices the file's vectors in place of the word; text after the name in the
  same piece is tokenized as usual. An unknown name is dropped with a warning (ComfyUI's
  "does not exist, ignoring"). Without a lookup (``embeddings=None``) the marker is plain text.
* Windows: bos + up to 75 tokens + eos, padded to 77 with the family's pad token. A group (a
  segment's tokens, or one embedding's vectors) that would cross the end of a window moves whole
  to the next window when it is shorter than 8 tokens; a longer group is cut at the boundary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Protocol

from torch import Tensor

logger = logging.getLogger(__name__)

Token = int | Tensor  # a vocabulary id, or one embedding vector (width,)
TokenWeight = tuple[Token, float]
Window = list[TokenWeight]
EmbeddingLookup = Callable[[str], "Tensor | None"]  # name -> (n, width) vectors or None

EMBEDDING_PREFIX = "embedding:"
WINDOW = 77
MAX_WORD_LENGTH = 8  # groups at least this long may be cut at a window boundary
PAREN_FACTOR = 1.1
_ESCAPES = (("\\)", "\0\1"), ("\\(", "\0\2"))  # ComfyUI's escape_important, in its order
_EMBEDDING_SPLIT = re.compile(f"[ \\n]{re.escape(EMBEDDING_PREFIX)}")


class TextTokenizer(Protocol):
    """What the windows need of a tokenizer (``diffusion.text.tokenizer.CLIPTokenizer``)."""

    @property
    def bos_id(self) -> int: ...

    @property
    def eos_id(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...


# --- weights ----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    for literal, code in _ESCAPES:
        text = text.replace(literal, code)
    return text


def _unescape(text: str) -> str:
    for literal, code in _ESCAPES:
        text = text.replace(code, literal[-1])
    return text


def _top_level_groups(text: str) -> list[str]:
    """Splits at depth-0 parentheses: "a (b (c)) d" -> ["a ", "(b (c))", " d"].

    A ")" with no opener drives the depth negative and stays in the text, as in ComfyUI; an
    unclosed "(" leaves the rest of the text as one group that does not end in ")".
    """
    groups: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "(":
            if depth == 0 and current:
                groups.append(current)
                current = ""
            current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                groups.append(current + char)
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        groups.append(current)
    return groups


def _weighted(text: str, weight: float) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for group in _top_level_groups(text):
        if len(group) < 2 or group[0] != "(" or group[-1] != ")":
            out.append((group, weight))
            continue
        inner = group[1:-1]
        inner_weight = weight * PAREN_FACTOR
        colon = inner.rfind(":")
        if colon > 0:
            try:
                inner_weight = float(inner[colon + 1 :])
                inner = inner[:colon]
            except ValueError:
                pass  # "(a:b)" is text with the 1.1 factor, like ComfyUI
        out += _weighted(inner, inner_weight)
    return out


def parse_weights(text: str) -> list[tuple[str, float]]:
    """``text`` as (segment, weight) pairs, parentheses removed and escapes resolved.

    ``"a (b:1.5) ((c))"`` gives ``[("a ", 1.0), ("b", 1.5), (" ", 1.0), ("c", 1.1 * 1.1)]``.
    """
    return [(_unescape(segment), weight) for segment, weight in _weighted(_escape(text), 1.0)]


# --- tokens -----------------------------------------------------------------------------------


def _pieces(segment: str) -> list[str]:
    """The segment cut before each " embedding:" / "\\nembedding:" (the marker kept)."""
    first, *rest = _EMBEDDING_SPLIT.split(segment)
    return [p for p in [first, *(EMBEDDING_PREFIX + r for r in rest)] if p]


def _resolve_embedding(text: str, lookup: EmbeddingLookup) -> tuple[Tensor | None, str]:
    """Vectors for the name that starts ``text`` (after "embedding:") and the text left over."""
    name, *rest = text.split()
    leftover = " ".join(rest)
    vectors = lookup(name)
    if vectors is None:
        stripped = name.strip(",")
        if len(stripped) < len(name):  # "embedding:name," -> look up "name", keep the ","
            vectors = lookup(stripped)
            leftover = f"{name[len(stripped) :]} {leftover}"
    if vectors is None:
        logger.warning("embedding:%s does not exist, ignoring it", name)
    return vectors, leftover


def _piece_groups(
    piece: str, weight: float, tokenizer: TextTokenizer, embeddings: EmbeddingLookup | None
) -> list[list[TokenWeight]]:
    groups: list[list[TokenWeight]] = []
    if embeddings is not None and piece.startswith(EMBEDDING_PREFIX):
        named = piece[len(EMBEDDING_PREFIX) :].strip("\n")
        if not named.split():
            logger.warning("%r names no embedding; tokenizing it as text", piece)
        else:
            vectors, piece = _resolve_embedding(named, embeddings)
            if vectors is not None:
                groups.append([(vector, weight) for vector in vectors])
            if not piece:
                return groups
    groups.append([(token, weight) for token in tokenizer.encode(piece)])
    return groups


def token_groups(
    text: str, tokenizer: TextTokenizer, *, embeddings: EmbeddingLookup | None = None
) -> list[list[TokenWeight]]:
    """The prompt's (token, weight) groups before windowing: one per segment or embedding."""
    groups: list[list[TokenWeight]] = []
    for segment, weight in parse_weights(text):
        for piece in _pieces(segment):
            groups += _piece_groups(piece, weight, tokenizer, embeddings)
    return groups


def split_windows(
    groups: list[list[TokenWeight]], *, bos: int, eos: int, pad: int, window: int = WINDOW
) -> list[Window]:
    """Packs groups into ``window``-token rows: bos, tokens, eos, then ``pad`` to the end."""
    rows = split_windows_with_ids(groups, bos=bos, eos=eos, pad=pad, window=window)
    return [[(token, weight) for token, weight, _ in row] for row in rows]


WordToken = tuple[Token, float, int]
"""(token, weight, word id): ComfyUI's ``return_word_ids`` triples."""


def split_windows_with_ids(
    groups: list[list[TokenWeight]], *, bos: int, eos: int, pad: int, window: int = WINDOW
) -> list[list[WordToken]]:
    """``split_windows`` keeping each token's word id: group i's tokens get i + 1 (both parts
    of a cut group too), bos, eos and padding 0, as ComfyUI's ``tokenize_with_weights``."""
    if window < 3:
        raise ValueError(f"window={window} must hold bos, one token and eos")
    room = window - 1  # bos and tokens; eos takes the last place
    current: list[WordToken] = [(bos, 1.0, 0)]
    windows = [current]
    for word, tokens in enumerate(groups, start=1):
        group = [(token, weight, word) for token, weight in tokens]
        large = len(group) >= MAX_WORD_LENGTH
        while group:
            if len(current) + len(group) <= room:
                current.extend(group)
                break
            free = room - len(current)
            if large:
                current.extend(group[:free])
                group = group[free:]
            current.append((eos, 1.0, 0))
            current.extend([(pad, 1.0, 0)] * (window - len(current)))
            current = [(bos, 1.0, 0)]
            windows.append(current)
    current.append((eos, 1.0, 0))
    current.extend([(pad, 1.0, 0)] * (window - len(current)))
    return windows


def tokenize_prompt(
    text: str,
    tokenizer: TextTokenizer,
    *,
    pad: int,
    embeddings: EmbeddingLookup | None = None,
) -> list[Window]:
    """``text`` as 77-token windows of (token, weight), ComfyUI's ``tokenize_with_weights``.

    ``pad`` is the family's padding id: eos (49407) for CLIP-L, 0 for OpenCLIP ViT-H / bigG.
    """
    groups = token_groups(text, tokenizer, embeddings=embeddings)
    return split_windows(groups, bos=tokenizer.bos_id, eos=tokenizer.eos_id, pad=pad)
