"""PhotoMakerEncode's prompt rules, as ComfyUI v0.3.64 applies them: the trigger word's index
among ``text.split(" ")``, word ids per token group, the dropped word's tokens refilled with the
window's last token, and the class token at ``index - 1``."""

from __future__ import annotations

import pytest
import torch

from diffusion.photomaker import class_token_mask, drop_word, trigger_index
from diffusion.text.prompt import split_windows_with_ids, token_groups, tokenize_prompt
from diffusion.text.tokenizer import EOS_ID, CLIPTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer()


def test_trigger_index() -> None:
    assert trigger_index("photograph of photomaker") == 3
    assert trigger_index("photomaker") == 1
    assert trigger_index("a photo of (photomaker:1.0)") == -1  # split on spaces only
    assert trigger_index("photomakers") == -1


def test_word_ids_number_token_groups(tokenizer: CLIPTokenizer) -> None:
    groups = token_groups("(man:1.1) photomaker", tokenizer)
    rows = split_windows_with_ids(groups, bos=tokenizer.bos_id, eos=EOS_ID, pad=0)
    ids = [word for _, _, word in rows[0]]
    n_man, n_trigger = len(groups[0]), len(groups[1])
    assert ids[0] == 0 and ids[1:1 + n_man] == [1] * n_man
    assert ids[1 + n_man:1 + n_man + n_trigger] == [2] * n_trigger
    assert set(ids[1 + n_man + n_trigger:]) == {0}
    plain = [(t, w) for t, w, _ in rows[0]]
    assert plain == tokenize_prompt("(man:1.1) photomaker", tokenizer, pad=0)[0]


def test_a_plain_prompt_keeps_its_trigger_word(tokenizer: CLIPTokenizer) -> None:
    """One weighted segment is one group: word id 1 everywhere, so index 3 drops nothing."""
    groups = token_groups("photograph of photomaker", tokenizer)
    row = split_windows_with_ids(groups, bos=tokenizer.bos_id, eos=EOS_ID, pad=0)[0]
    assert drop_word(row, trigger_index("photograph of photomaker")) == [(t, w) for t, w, _ in row]


def test_a_separate_trigger_word_is_dropped_and_refilled(tokenizer: CLIPTokenizer) -> None:
    text = "(man:1.1) photomaker"
    index = trigger_index(text)
    groups = token_groups(text, tokenizer)
    row = split_windows_with_ids(groups, bos=tokenizer.bos_id, eos=EOS_ID, pad=0)[0]
    dropped = drop_word(row, index)
    without = tokenize_prompt("(man:1.1)", tokenizer, pad=0)[0]
    assert dropped == without  # refilled with the window's last token (padding)
    mask = class_token_mask(index)
    assert mask.shape == (77,) and mask.nonzero().flatten().tolist() == [1]  # the "man" token


def test_a_full_window_is_refilled_with_its_end_token(tokenizer: CLIPTokenizer) -> None:
    row = [(49406, 1.0, 0), (320, 1.0, 1), (1125, 1.0, 2), (EOS_ID, 1.0, 0)]
    assert drop_word(row, 2) == [(49406, 1.0), (320, 1.0), (EOS_ID, 1.0), (EOS_ID, 1.0)]


def test_class_token_mask_limits() -> None:
    with pytest.raises(ValueError, match="no trigger word"):
        class_token_mask(-1)
    with pytest.raises(ValueError, match="past the first 77 tokens"):
        class_token_mask(78)
    assert torch.equal(class_token_mask(1), torch.arange(77) == 0)  # the start token
