"""CLIP byte-level BPE tokenizer (OpenAI CLIP / OpenCLIP vocabulary, 49408 tokens).

The vocabulary ships as ``data/bpe_simple_vocab_16e6.txt.gz``, the merges file from the
``open_clip_torch`` 3.3.0 wheel (MIT, see ``data/README.md``). The token table is built from it
the way CLIP builds it: the 256 byte symbols, the same with the end-of-word suffix ``</w>``, one
token per merge (48894 merges), then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407).

Text handling is the one ComfyUI gets from transformers' ``CLIPTokenizer`` (built on the
``tokenizers`` library): NFC, every whitespace run becomes one space, lower-case, then CLIP's
split pattern and byte-level BPE. The special-token strings typed in a prompt become their ids.
We drive the same ``tokenizers`` engine, so Unicode classes, normalisation and lower-casing are
those of the reference rather than a re-derivation of them (a pure-Python BPE would differ on
details such as per-character vs. contextual lower-casing of a final sigma). Tested equal to
transformers 5.23.0 ``CLIPTokenizer`` in tests/diffusion/test_tokenizer.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

DEFAULT_VOCAB_PATH = Path(__file__).parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
BOS_ID = 49406
EOS_ID = 49407
_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48894 merge lines after the version header
_SPLIT = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from the 256 byte values to printable characters.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, a few
    Latin-1 blanks) map to U+0100 onwards in byte order. Dict order is the token-table order.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    chars = [chr(b) for b in printable] + [chr(256 + n) for n in range(len(others))]
    return dict(zip(printable + others, chars, strict=True))


def read_bpe_file(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The token table and the merge list from a CLIP ``bpe_simple_vocab_16e6.txt.gz``."""
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    merge_lines = lines[1 : 1 + _MERGES]  # line 0 is the "#version" header
    merges: list[tuple[str, str]] = []
    for number, line in enumerate(merge_lines, start=2):
        left, sep, right = line.partition(" ")
        if not sep or not left or not right or " " in right:
            raise ValueError(f"{path}: line {number} is not a merge 'a b': {line!r}")
        merges.append((left, right))
    if len(merges) != _MERGES:
        raise ValueError(f"{path}: {len(merges)} merges, expected {_MERGES}")
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"{path}: {len(vocab)} distinct tokens, expected {VOCAB_SIZE}")
    return vocab, merges


class CLIPTokenizer:
    """Text to CLIP token ids (no bos/eos added: windows are built by ``diffusion.text.prompt``)."""

    def __init__(self, vocab_path: str | Path = DEFAULT_VOCAB_PATH) -> None:
        self.vocab_path = Path(vocab_path)
        if not self.vocab_path.is_file():
            raise FileNotFoundError(f"vocab_path={str(self.vocab_path)!r} is not a file")
        vocab, merges = read_bpe_file(self.vocab_path)
        self.vocab = vocab
        model = BPE(
            vocab=vocab,
            merges=merges,
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            unk_token=EOS_TOKEN,
            fuse_unk=False,
        )
        engine = Tokenizer(model)
        engine.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
        )
        engine.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(_SPLIT), behavior="removed", invert=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False),
            ]
        )
        engine.decoder = decoders.ByteLevel()
        # As transformers loads ComfyUI's sd1_tokenizer config: bos is matched in the normalised
        # (lower-cased) text, eos only verbatim, so "<|STARTOFTEXT|>" is bos, "<|ENDOFTEXT|>" text.
        engine.add_special_tokens(
            [
                AddedToken(BOS_TOKEN, special=True, normalized=True),
                AddedToken(EOS_TOKEN, special=True, normalized=False),
            ]
        )
        self._engine = engine
        self._byte_of = {c: b for b, c in bytes_to_unicode().items()}

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without bos/eos."""
        return self._engine.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._engine.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """Best-effort text of ``ids`` (word ends become spaces); for logs and debugging."""
        raw = bytearray()
        for index in ids:
            token = self._engine.id_to_token(index)
            if token is None:
                raise ValueError(f"token id {index} is outside the vocabulary of {VOCAB_SIZE}")
            if token in (BOS_TOKEN, EOS_TOKEN):
                raw += token.encode() + b" "
                continue
            raw += bytes(self._byte_of[c] for c in token.removesuffix("</w>"))
            raw += b" " if token.endswith("</w>") else b""
        return raw.decode("utf-8", errors="replace").strip()
