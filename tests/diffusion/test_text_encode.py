"""Prompt encoding with ComfyUI semantics over tiny, seeded, fully randomised encoders.

Expected values are computed by hand from the encoders of ``diffusion.text.clip``: the weighting
formula, the embedding splice, window concatenation, clip skip, SD1/SD2/SDXL shapes and the SDXL
channel order (CLIP-L then bigG, pooled from bigG).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from diffusion.loading.detect import TEXT_SLOTS
from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig
from diffusion.text.embeddings import EmbeddingFolders, find_embedding, load_embedding
from diffusion.text.encode import (
    encode_prompt,
    encoders_from_checkpoint,
    sd1_encoders,
    sd2_encoders,
    sdxl_encoders,
    sdxl_refiner_encoders,
)
from diffusion.text.prompt import tokenize_prompt
from diffusion.text.tokenizer import BOS_ID, EOS_ID, CLIPTokenizer

A, CAT, RED = 320, 2368, 736
L_CFG = TextEncoderConfig(width=32, layers=3, heads=2)
H_CFG = TextEncoderConfig(width=40, layers=3, heads=2, activation="gelu", projection_dim=24)
G_CFG = TextEncoderConfig(width=48, layers=3, heads=2, activation="gelu", projection_dim=36)
Randomize = Callable[[nn.Module, int], None]


@pytest.fixture(scope="module")
def tok() -> CLIPTokenizer:
    return CLIPTokenizer()


@pytest.fixture
def clip_l(randomize: Randomize) -> CLIPTextModel:
    model = CLIPTextModel(L_CFG).eval()
    randomize(model, 1)
    return model


@pytest.fixture
def clip_h(randomize: Randomize) -> OpenCLIPTextModel:
    model = OpenCLIPTextModel(H_CFG).eval()
    randomize(model, 2)
    return model


@pytest.fixture
def clip_g(randomize: Randomize) -> OpenCLIPTextModel:
    model = OpenCLIPTextModel(G_CFG).eval()
    randomize(model, 3)
    return model


def _row(tokens: list[int], pad: int) -> list[int]:
    row = [BOS_ID, *tokens, EOS_ID]
    return row + [pad] * (77 - len(row))


def _run(model: nn.Module, rows: list[list[int]], layer: int, final_norm: bool):
    with torch.no_grad():
        return model(torch.tensor(rows), layer=layer, final_norm=final_norm)


@contextmanager
def _captured_ids(module: nn.Module) -> Iterator[list[Tensor]]:
    """The ids each forward of ``module``'s token embedding receives."""
    seen: list[Tensor] = []
    embedding = (
        module.token_embedding
        if hasattr(module, "token_embedding")
        else (module.text_model.embeddings.token_embedding)
    )
    handle = embedding.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        yield seen
    finally:
        handle.remove()


# --- weights, windows, clip skip ----------------------------------------------------------------


def test_unweighted_prompt_is_the_plain_encoding(clip_l: CLIPTextModel, tok: CLIPTokenizer):
    cond, pooled = encode_prompt("a cat", sd1_encoders(clip_l), tok)
    out = _run(clip_l, [_row([A, CAT], EOS_ID)], -1, True)
    assert torch.equal(cond, out.hidden)
    assert torch.equal(pooled, out.pooled)


def test_weights_are_applied_against_the_empty_prompt(clip_l: CLIPTextModel, tok: CLIPTokenizer):
    cond, _ = encode_prompt("a (cat:1.5) (red:0)", sd1_encoders(clip_l), tok)
    out = _run(clip_l, [_row([A, CAT, RED], EOS_ID), _row([], EOS_ID)], -1, True)
    z, z_empty = out.hidden[0], out.hidden[1]  # (77, 32) each
    expected = z.clone()
    expected[2] = z_empty[2] + 1.5 * (z[2] - z_empty[2])
    expected[3] = z_empty[3] + 0.0 * (z[3] - z_empty[3])
    torch.testing.assert_close(cond[0], expected, rtol=0, atol=1e-6)
    assert torch.equal(cond[0, [0, 1, *range(4, 77)]], z[[0, 1, *range(4, 77)]])
    torch.testing.assert_close(cond[0, 3], z_empty[3], rtol=0, atol=1e-6)
    assert not torch.allclose(cond[0, 2], z[2])


def test_long_prompt_windows_concatenate(clip_l: CLIPTextModel, tok: CLIPTokenizer):
    text = "a cat " * 80  # 160 tokens: three windows
    cond, pooled = encode_prompt(text, sd1_encoders(clip_l), tok)
    windows = tokenize_prompt(text, tok, pad=EOS_ID)
    rows = [[t for t, _ in w] for w in windows]
    out = _run(clip_l, rows, -1, True)
    assert cond.shape == (1, 3 * 77, 32)
    assert torch.equal(cond, out.hidden.reshape(1, 3 * 77, 32))  # (1, 231, 32)
    assert torch.equal(pooled, out.pooled[:1])  # the first window's
    assert not torch.allclose(pooled, out.pooled[1:2])


def test_clip_skip(clip_l: CLIPTextModel, clip_h: OpenCLIPTextModel, tok: CLIPTokenizer):
    row = [_row([A, CAT], EOS_ID)]
    skipped, _ = encode_prompt("a cat", sd1_encoders(clip_l), tok, layer=-2)
    assert torch.equal(skipped, _run(clip_l, row, -2, True).hidden)
    assert not torch.allclose(skipped, _run(clip_l, row, -1, True).hidden)
    sd2, _ = encode_prompt("a cat", sd2_encoders(clip_h), tok)  # SD2 default: penultimate
    assert torch.equal(sd2, _run(clip_h, [_row([A, CAT], 0)], -2, True).hidden)
    with pytest.raises(ValueError, match="layer=-4"):
        encode_prompt("a cat", sd1_encoders(clip_l), tok, layer=-4)


# --- families -----------------------------------------------------------------------------------


def test_family_shapes(clip_l, clip_h, clip_g, tok: CLIPTokenizer) -> None:
    cases = [
        (sd1_encoders(clip_l), (1, 77, 32), (1, 32)),
        (sd2_encoders(clip_h), (1, 77, 40), (1, 24)),
        (sdxl_encoders(clip_l, clip_g), (1, 77, 32 + 48), (1, 36)),
        (sdxl_refiner_encoders(clip_g), (1, 77, 48), (1, 36)),
    ]
    for encoders, cond_shape, pooled_shape in cases:
        cond, pooled = encode_prompt("a (cat:1.2)", encoders, tok)
        assert (cond.shape, pooled.shape) == (cond_shape, pooled_shape)
        assert cond.dtype == pooled.dtype == torch.float32
    long, _ = encode_prompt("a cat " * 40, sdxl_encoders(clip_l, clip_g), tok)
    assert long.shape == (1, 154, 80)


def test_sdxl_concat_order_padding_and_pooled(clip_l, clip_g, tok: CLIPTokenizer) -> None:
    with _captured_ids(clip_l) as l_ids, _captured_ids(clip_g) as g_ids:
        cond, pooled = encode_prompt("a cat", sdxl_encoders(clip_l, clip_g), tok)
    assert l_ids[0].tolist() == [_row([A, CAT], EOS_ID)]  # CLIP-L pads with eos
    assert g_ids[0].tolist() == [_row([A, CAT], 0)]  # bigG pads with 0
    l_out = _run(clip_l, [_row([A, CAT], EOS_ID)], -2, False)  # penultimate, no final norm
    g_out = _run(clip_g, [_row([A, CAT], 0)], -2, False)
    assert torch.equal(cond[..., :32], l_out.hidden)
    assert torch.equal(cond[..., 32:], g_out.hidden)
    assert torch.equal(pooled, g_out.pooled)  # projected bigG pooled


def test_encoders_from_checkpoint(clip_l, clip_g, tok: CLIPTokenizer) -> None:
    l_slot, g_slot = TEXT_SLOTS["sdxl"]
    encoders = encoders_from_checkpoint({"clip_g": (g_slot, clip_g), "clip_l": (l_slot, clip_l)})
    assert [(e.name, e.layer, e.final_norm, e.pad) for e in encoders] == [
        ("clip_l", -2, False, EOS_ID),
        ("clip_g", -2, False, 0),
    ]
    assert encoders[0].model is clip_l
    (sd1,) = encoders_from_checkpoint({"clip_l": (TEXT_SLOTS["sd1"][0], clip_l)})
    assert (sd1.layer, sd1.final_norm, sd1.pad) == (-1, True, EOS_ID)
    with pytest.raises(TypeError, match="Linear"):
        encoders_from_checkpoint({"clip_l": (l_slot, nn.Linear(2, 2))})
    with pytest.raises(ValueError, match="encoders is empty"):
        encode_prompt("a", (), tok)


# --- embedding files ----------------------------------------------------------------------------


class _NotAllowed:
    """Pickled into a .pt file: weights-only loading must refuse it."""


def _vectors(n: int, width: int, seed: int) -> Tensor:
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def test_embedding_formats(tmp_path: Path) -> None:
    a1111, emb, l_vec, g_vec = (
        _vectors(2, 32, 0),
        _vectors(3, 32, 1),
        _vectors(2, 32, 2),
        (_vectors(2, 48, 3)),
    )
    torch.save(
        {"string_to_token": {"*": 265}, "string_to_param": {"*": a1111}, "name": "x", "step": 9},
        tmp_path / "a1111.pt",
    )
    save_file({"emb_params": emb}, tmp_path / "emb.safetensors")
    save_file({"clip_l": l_vec, "clip_g": g_vec}, tmp_path / "xl.safetensors")
    torch.save(_vectors(1, 32, 4)[0], tmp_path / "single.bin")
    assert torch.equal(load_embedding(tmp_path / "a1111.pt", key="clip_l"), a1111)
    assert torch.equal(load_embedding(tmp_path / "emb.safetensors", key="clip_l"), emb)
    assert torch.equal(load_embedding(tmp_path / "xl.safetensors", key="clip_l"), l_vec)
    assert torch.equal(load_embedding(tmp_path / "xl.safetensors", key="clip_g"), g_vec)
    assert load_embedding(tmp_path / "single.bin", key="clip_l").shape == (1, 32)


def test_find_embedding_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "embeddings"
    (folder / "sub").mkdir(parents=True)
    save_file({"emb_params": _vectors(1, 4, 0)}, folder / "foo.safetensors")
    save_file({"emb_params": _vectors(1, 4, 0)}, folder / "sub" / "bar.safetensors")
    save_file({"emb_params": _vectors(1, 4, 0)}, tmp_path / "outside.safetensors")
    assert find_embedding("foo", [folder]) == folder / "foo.safetensors"
    assert find_embedding("foo.safetensors", [folder]) == folder / "foo.safetensors"
    assert find_embedding("bar", [folder]) == folder / "sub" / "bar.safetensors"
    assert find_embedding("sub/bar", [folder]) == folder / "sub" / "bar.safetensors"
    assert find_embedding("../outside", [folder]) is None
    assert find_embedding(str(tmp_path / "outside"), [folder]) is None
    assert find_embedding("nope", [folder]) is None


def test_unreadable_embedding_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.save({"string_to_param": {"*": _NotAllowed()}}, tmp_path / "evil.pt")
    with caplog.at_level(logging.WARNING, logger="diffusion.text.embeddings"):
        assert EmbeddingFolders([tmp_path], key="clip_l")("evil") is None
    assert "evil.pt" in caplog.text


def test_embedding_rows_are_spliced_exactly(
    clip_l: CLIPTextModel, tok: CLIPTokenizer, tmp_path: Path
) -> None:
    vectors = _vectors(3, 32, 5)
    torch.save({"string_to_param": {"*": vectors}}, tmp_path / "foo.pt")
    seen: list[Tensor] = []
    first_layer = clip_l.text_model.encoder.layers[0]
    handle = first_layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        cond, _ = encode_prompt(
            "a embedding:foo cat", sd1_encoders(clip_l), tok, embedding_folders=[tmp_path]
        )
    finally:
        handle.remove()
    emb = clip_l.text_model.embeddings
    x = seen[0][0]  # (77, 32): token + position embedding entering the first layer
    position = emb.position_embedding.weight
    assert torch.equal(x[2:5], vectors + position[2:5])
    assert torch.equal(x[1], emb.token_embedding.weight[A] + position[1])
    assert torch.equal(x[5], emb.token_embedding.weight[CAT] + position[5])
    assert not emb.token_embedding._forward_hooks  # the splice hook is gone
    # ComfyUI's way (new ids appended to the token table) gives the same encoding.
    extended = copy.deepcopy(clip_l)
    extended.text_model.embeddings.token_embedding.weight.data[1000:1003] = vectors
    out = _run(extended, [_row([A, 1000, 1001, 1002, CAT], EOS_ID)], -1, True)
    assert torch.equal(cond, out.hidden)


def test_wrong_width_embedding_is_dropped_per_encoder(
    clip_l, clip_g, tok: CLIPTokenizer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.save({"string_to_param": {"*": _vectors(1, 32, 6)}}, tmp_path / "sd1.pt")  # CLIP-L only
    with _captured_ids(clip_l) as l_ids, _captured_ids(clip_g) as g_ids:
        with caplog.at_level(logging.WARNING, logger="diffusion.text.encode"):
            cond, _ = encode_prompt(
                "a embedding:sd1 cat",
                sdxl_encoders(clip_l, clip_g),
                tok,
                embedding_folders=[tmp_path],
            )
    assert l_ids[0].tolist() == [_row([A, 0, CAT], EOS_ID)]  # placeholder id, then spliced
    assert g_ids[0].tolist() == [_row([A, CAT], 0)]  # dropped, row padded at its end
    assert "clip_g: embedding vector of width 32 ignored" in caplog.text
    assert cond.shape == (1, 77, 80)
