"""SD2.x files without a prediction marker: v or eps from the weights by ComfyUI's rule (the
population std of ``output_blocks.11.1.transformer_blocks.0.norm1.bias`` above 0.09 means v);
what a file says always wins; inpainting UNets and other families are never guessed."""

from __future__ import annotations

import pytest
import torch

from diffusion.checkpoint_maker import layout_shapes
from diffusion.loading.checkpoint import SD2_V_STAT_KEY, prediction_type


def _bias(std: float) -> torch.Tensor:
    values = torch.linspace(-1.0, 1.0, 320)
    return values / values.std(unbiased=False) * std  # population std exactly ``std``


@pytest.mark.parametrize(("std", "expected"), [(0.2, "v"), (0.0905, "v"), (0.0895, "eps"),
                                               (0.03, "eps")])
def test_a_full_size_sd21_layout_is_judged_by_the_bias_spread(std: float, expected: str) -> None:
    shapes = layout_shapes("sd21")
    assert shapes[SD2_V_STAT_KEY] == (320,)
    read = {SD2_V_STAT_KEY: _bias(std)}.get
    assert prediction_type(shapes, {}, family="sd2", in_channels=4, read=read) == expected


def test_what_the_file_says_wins_and_other_models_are_not_guessed() -> None:
    shapes = layout_shapes("sd21")
    wide = {SD2_V_STAT_KEY: _bias(0.5)}.get
    marker = {**shapes, "v_pred": (0,)}
    assert prediction_type(marker, {}, family="sd2", in_channels=4,
                           read={SD2_V_STAT_KEY: _bias(0.01)}.get) == "v"
    said_eps = {"modelspec.prediction_type": "epsilon"}
    assert prediction_type(shapes, said_eps, family="sd2", in_channels=4, read=wide) == "eps"
    assert prediction_type(shapes, {}, family="sd2", in_channels=9, read=wide) == "eps"
    assert prediction_type(shapes, {}, family="sd1", in_channels=4, read=wide) == "eps"
    assert prediction_type(shapes, {}, family="sd2", in_channels=4, read={}.get) == "eps"
