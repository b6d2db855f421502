"""ComfyUI prompt semantics: weight parsing, escapes, embedding markers and 77-token windows.

Expected values are written by hand from ComfyUI's ``comfy/sd1_clip.py`` rules (``token_weights``,
``SDTokenizer.tokenize_with_weights``); token ids come from our tokenizer, proven separately.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch import Tensor

from diffusion.text.prompt import (
    parse_weights,
    split_windows,
    token_groups,
    tokenize_prompt,
)
from diffusion.text.tokenizer import BOS_ID, EOS_ID, CLIPTokenizer

A, CAT, RED, COMMA = 320, 2368, 736, 267  # a</w>, cat</w>, red</w>, ,</w>


@pytest.fixture(scope="module")
def tok() -> CLIPTokenizer:
    return CLIPTokenizer()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("a cat", [("a cat", 1.0)]),
        ("(a)", [("a", 1.1)]),
        ("((a))", [("a", 1.1 * 1.1)]),
        ("(((a)))", [("a", 1.1 * 1.1 * 1.1)]),
        ("(a:1.2) b", [("a", 1.2), (" b", 1.0)]),
        ("(a:0)", [("a", 0.0)]),
        ("((a:1.5))", [("a", 1.5)]),  # an explicit weight replaces, it does not multiply
        ("((a):1.5)", [("a", 1.5 * 1.1)]),  # but parentheses inside it multiply
        ("a (b (c:2) d:0.5) e", [("a ", 1.0), ("b ", 0.5), ("c", 2.0), (" d", 0.5), (" e", 1.0)]),
        ("(a:1.2:1.3)", [("a:1.2", 1.3)]),  # the last colon holds the weight
        ("(a:b)", [("a:b", 1.1)]),  # not a number: text, still x1.1
        ("(:1.5)", [(":1.5", 1.1)]),  # a colon at position 0 is not a weight
        ("( a : 1.5 )", [(" a ", 1.5)]),
        ("(a:1e-1)", [("a", 0.1)]),
        ("(x:-1)", [("x", -1.0)]),
    ],
)
def test_weights(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_weights(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\(a\)", [("(a)", 1.0)]),
        (r"\(a\) (b)", [("(a) ", 1.0), ("b", 1.1)]),
        (r"(a \(b\):1.3)", [("a (b)", 1.3)]),
        (r"(a\):2)", [("a)", 2.0)]),
        (r"\\x", [(r"\\x", 1.0)]),  # a backslash not before a parenthesis stays
    ],
)
def test_escapes(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_weights(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(a b", [("(a b", 1.0)]),  # unclosed: the rest is text, "(" included
        ("a (b", [("a ", 1.0), ("(b", 1.0)]),
        ("a) (b", [("a) (b", 1.0)]),  # a stray ")" makes the depth negative
        ("(a))b", [("a", 1.1), (")b", 1.0)]),
        ("x)(y)(z", [("x)(y)(z", 1.0)]),
        ("((a)", [("(a", 1.1)]),  # the outer pair closes on the only ")"
    ],
)
def test_unbalanced_parentheses_as_comfyui(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_weights(text) == expected


def test_token_groups_are_weighted_segments(tok: CLIPTokenizer) -> None:
    groups = token_groups("a (red cat:1.5), ((cat))", tok)
    assert groups == [
        [(A, 1.0)],
        [(RED, 1.5), (CAT, 1.5)],
        [(COMMA, 1.0)],
        [(CAT, 1.1 * 1.1)],
    ]


def test_family_padding(tok: CLIPTokenizer) -> None:
    for pad in (EOS_ID, 0):
        (window,) = tokenize_prompt("a cat", tok, pad=pad)
        assert window == [(BOS_ID, 1.0), (A, 1.0), (CAT, 1.0), (EOS_ID, 1.0)] + [(pad, 1.0)] * 73
    (empty,) = tokenize_prompt("", tok, pad=0)
    assert empty == [(BOS_ID, 1.0), (EOS_ID, 1.0)] + [(0, 1.0)] * 75


def _ids(window: list[tuple[object, float]]) -> list[object]:
    return [t for t, _ in window]


def test_short_group_crossing_the_boundary_moves_whole(tok: CLIPTokenizer) -> None:
    # 37 groups of two tokens fill 74 places; the 38th would cross 75 and moves on.
    windows = tokenize_prompt("(red cat:1.2)" * 40, tok, pad=EOS_ID)
    assert len(windows) == 2
    assert all(len(w) == 77 for w in windows)
    assert _ids(windows[0]) == [BOS_ID] + [RED, CAT] * 37 + [EOS_ID, EOS_ID]
    assert _ids(windows[1]) == [BOS_ID] + [RED, CAT] * 3 + [EOS_ID] + [EOS_ID] * 69
    assert [w for _, w in windows[1][1:7]] == [1.2] * 6


def test_group_of_seven_moves_group_of_eight_is_cut() -> None:
    filler = [[(1, 1.0)] * 70]
    seven = [(2, 1.0)] * 7
    eight = [(3, 1.0)] * 8
    moved = split_windows([*filler, seven], bos=BOS_ID, eos=EOS_ID, pad=0)
    assert _ids(moved[0]) == [BOS_ID] + [1] * 70 + [EOS_ID] + [0] * 5
    assert _ids(moved[1]) == [BOS_ID] + [2] * 7 + [EOS_ID] + [0] * 68
    cut = split_windows([*filler, eight], bos=BOS_ID, eos=EOS_ID, pad=0)
    assert _ids(cut[0]) == [BOS_ID] + [1] * 70 + [3] * 5 + [EOS_ID]
    assert _ids(cut[1]) == [BOS_ID] + [3] * 3 + [EOS_ID] + [0] * 72


def test_long_plain_prompt_is_cut_at_75_tokens(tok: CLIPTokenizer) -> None:
    # One segment is one group (ComfyUI tokenizes segments whole): cut exactly at the boundary.
    windows = tokenize_prompt("a cat " * 80, tok, pad=0)
    assert len(windows) == 3
    assert _ids(windows[0]) == [BOS_ID] + [A, CAT] * 37 + [A, EOS_ID]
    assert _ids(windows[1]) == [BOS_ID] + [CAT] + [A, CAT] * 37 + [EOS_ID]
    assert _ids(windows[2]) == [BOS_ID] + [A, CAT] * 5 + [EOS_ID] + [0] * 65


def test_split_windows_rejects_a_tiny_window() -> None:
    with pytest.raises(ValueError, match="window=2"):
        split_windows([], bos=BOS_ID, eos=EOS_ID, pad=0, window=2)


# --- embedding markers -------------------------------------------------------------------------


@pytest.fixture
def vectors() -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"foo": torch.randn(3, 8, generator=gen), "bar": torch.randn(1, 8, generator=gen)}


def _same(actual: list[list[tuple[object, float]]], expected: list[list[tuple[object, float]]]):
    assert len(actual) == len(expected)
    for group, want in zip(actual, expected, strict=True):
        assert len(group) == len(want)
        for (token, weight), (t, w) in zip(group, want, strict=True):
            assert weight == w
            if isinstance(t, Tensor):
                assert isinstance(token, Tensor) and torch.equal(token, t)
            else:
                assert token == t


def test_embedding_splices_its_vectors(tok: CLIPTokenizer, vectors: dict[str, Tensor]) -> None:
    groups = token_groups("a embedding:foo cat", tok, embeddings=vectors.get)
    foo = vectors["foo"]
    _same(groups, [[(A, 1.0)], [(foo[0], 1.0), (foo[1], 1.0), (foo[2], 1.0)], [(CAT, 1.0)]])


def test_embedding_weight_comma_and_newline(tok: CLIPTokenizer, vectors: dict[str, Tensor]):
    foo, bar = vectors["foo"], vectors["bar"]
    _same(
        token_groups("(embedding:bar:1.3)", tok, embeddings=vectors.get),
        [[(bar[0], 1.3)]],
    )
    _same(  # "name," looks up "name" and keeps the comma as text
        token_groups("embedding:bar, cat", tok, embeddings=vectors.get),
        [[(bar[0], 1.0)], [(COMMA, 1.0), (CAT, 1.0)]],
    )
    _same(
        token_groups("cat\nembedding:foo", tok, embeddings=vectors.get),
        [[(CAT, 1.0)], [(v, 1.0) for v in foo]],
    )


def test_marker_glued_to_a_word_is_text(tok: CLIPTokenizer, vectors: dict[str, Tensor]) -> None:
    groups = token_groups("xembedding:foo", tok, embeddings=vectors.get)
    assert groups == [[(t, 1.0) for t in tok.encode("xembedding:foo")]]


def test_unknown_embedding_is_dropped_with_a_warning(
    tok: CLIPTokenizer, vectors: dict[str, Tensor], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="diffusion.text.prompt"):
        groups = token_groups("a embedding:nope cat", tok, embeddings=vectors.get)
    assert groups == [[(A, 1.0)], [(CAT, 1.0)]]
    assert "embedding:nope does not exist" in caplog.text


def test_without_lookup_the_marker_is_text(tok: CLIPTokenizer) -> None:
    groups = token_groups("embedding:foo", tok, embeddings=None)
    assert groups == [[(t, 1.0) for t in tok.encode("embedding:foo")]]
    assert len(groups[0]) > 2


def test_embedding_vectors_form_one_window_group(tok: CLIPTokenizer) -> None:
    big = {"big": torch.zeros(8, 4)}  # 8 vectors: a large group, cut at the boundary
    windows = tokenize_prompt("a cat " * 35 + "a embedding:big", tok, pad=0, embeddings=big.get)
    assert _ids(windows[0])[70:72] == [CAT, A]
    assert [isinstance(t, Tensor) for t, _ in windows[0][72:77]] == [True] * 4 + [False]
    assert [isinstance(t, Tensor) for t, _ in windows[1][1:6]] == [True] * 4 + [False]
    assert _ids(windows[1])[5:] == [EOS_ID] + [0] * 71
