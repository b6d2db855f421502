"""Our CLIP tokenizer equals the pinned reference on 300+ prompts.

Reference: transformers 5.23.0 ``CLIPTokenizer`` — the class ComfyUI instantiates — loaded with
``from_pretrained`` from a folder holding a ``vocab.json`` and ``merges.txt`` that this test derives
from the shipped BPE file on its own (the OpenAI CLIP construction, written out here rather than
imported), and the special-token settings of ComfyUI's ``sd1_tokenizer/tokenizer_config.json``.
ComfyUI calls it as ``tokenizer(segment)["input_ids"][1:-1]`` once per weighted segment; so do we.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from diffusion.text.prompt import parse_weights
from diffusion.text.tokenizer import (
    BOS_ID,
    DEFAULT_VOCAB_PATH,
    EOS_ID,
    VOCAB_SIZE,
    CLIPTokenizer,
    read_bpe_file,
)

transformers = pytest.importorskip("transformers")

REFERENCE_VERSION = "5.23.0"
# sha256 of open_clip/bpe_simple_vocab_16e6.txt.gz inside open_clip_torch-3.3.0-py3-none-any.whl
BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
PROMPTS = Path(__file__).parent / "text_fixtures" / "prompts.json"


def _reference_files(folder: Path) -> None:
    """vocab.json / merges.txt / tokenizer_config.json as published for openai/clip-vit-large."""
    text = gzip.decompress(DEFAULT_VOCAB_PATH.read_bytes()).decode("utf-8")
    merges = text.split("\n")[1 : 49152 - 256 - 2 + 1]
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    codes = keep + [256 + n for n, _ in enumerate(b for b in range(256) if b not in keep)]
    chars = [chr(c) for c in codes]
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"__type": "AddedToken", "lstrip": False, "rstrip": False, "normalized": True}
    config = {
        "add_prefix_space": False,
        "bos_token": {**special, "content": "<|startoftext|>", "single_word": False},
        "eos_token": {**special, "content": "<|endoftext|>", "single_word": False},
        "unk_token": {**special, "content": "<|endoftext|>", "single_word": False},
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
        "errors": "replace",
        "model_max_length": 8192,
        "tokenizer_class": "CLIPTokenizer",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("clip_tokenizer")
    _reference_files(folder)
    return transformers.CLIPTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def ours() -> CLIPTokenizer:
    return CLIPTokenizer()


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    return json.loads(PROMPTS.read_text())["prompts"]


def _reference_ids(reference: Any, text: str) -> list[int]:
    return reference(text)["input_ids"][1:-1]


def test_reference_version_is_pinned() -> None:
    assert transformers.__version__ == REFERENCE_VERSION


def test_data_file_is_the_pinned_open_clip_file() -> None:
    assert hashlib.sha256(DEFAULT_VOCAB_PATH.read_bytes()).hexdigest() == BPE_SHA256


def test_vocabulary_equals_reference(ours: CLIPTokenizer, reference: Any) -> None:
    assert len(ours.vocab) == VOCAB_SIZE == 49408
    assert ours.vocab == reference.get_vocab()
    assert (ours.bos_id, ours.eos_id) == (BOS_ID, EOS_ID) == (49406, 49407)
    assert reference("")["input_ids"] == [49406, 49407]


def test_known_ids(ours: CLIPTokenizer) -> None:
    # The ids every CLIP user has seen: a</w>=320, photo</w>=1125, of</w>=539, cat</w>=2368.
    assert ours.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert ours.encode("A  PHOTO\nof a\tCat") == [320, 1125, 539, 320, 2368]
    assert ours.decode([320, 1125, 539, 320, 2368]) == "a photo of a cat"


def test_fixture_covers_the_hard_cases(ours: CLIPTokenizer, prompts: list[str]) -> None:
    assert len(prompts) >= 300
    joined = "".join(prompts)
    for sample in (
        "猫",
        "안녕",
        "é",
        "e\u0301",
        "👨\u200d👩",
        "🇯🇵",
        "\u3000",
        "\t",
        "<|endoftext|>",
        "ΟΔΟΣ",
    ):
        assert sample in joined, sample
    assert max(len(ours.encode(p)) for p in prompts) > 300  # several windows long
    assert sum("(" in p and ":" in p for p in prompts) >= 30  # weight syntax to strip


def test_ids_equal_reference_on_weight_stripped_prompts(
    ours: CLIPTokenizer, reference: Any, prompts: list[str]
) -> None:
    segments = [segment for prompt in prompts for segment, _ in parse_weights(prompt)]
    assert len(segments) > len(prompts)
    mismatches = [
        (segment, ours.encode(segment), _reference_ids(reference, segment))
        for segment in segments
        if ours.encode(segment) != _reference_ids(reference, segment)
    ]
    assert not mismatches, mismatches[:3]


def test_ids_equal_reference_on_raw_prompts(
    ours: CLIPTokenizer, reference: Any, prompts: list[str]
) -> None:
    batch = ours.encode_batch(prompts)
    for prompt, ids in zip(prompts, batch, strict=True):
        assert ids == _reference_ids(reference, prompt), prompt


def test_special_token_strings(ours: CLIPTokenizer, reference: Any) -> None:
    # As transformers loads ComfyUI's config: bos matches after lower-casing, eos only verbatim.
    assert ours.encode("x<|endoftext|>y")[1] == EOS_ID
    assert ours.encode("<|STARTOFTEXT|>")[0] == BOS_ID
    assert EOS_ID not in ours.encode("<|ENDOFTEXT|>")
    for text in ("x<|endoftext|>y", "<|STARTOFTEXT|>", "<|ENDOFTEXT|>"):
        assert ours.encode(text) == _reference_ids(reference, text)


def test_missing_vocab_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt.gz"
    with pytest.raises(FileNotFoundError, match="nope.txt.gz"):
        CLIPTokenizer(missing)


def test_truncated_vocab_file_is_named(tmp_path: Path) -> None:
    short = tmp_path / "short.txt.gz"
    lines = gzip.decompress(DEFAULT_VOCAB_PATH.read_bytes()).decode("utf-8").split("\n")[:1000]
    short.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    with pytest.raises(ValueError, match="short.txt.gz"):
        read_bpe_file(short)
