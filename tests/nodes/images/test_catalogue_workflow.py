"""A small workflow of the catalogue's image nodes through the real Engine: list outputs
(RebatchImages) fan out downstream, masks and alphas round-trip."""

from __future__ import annotations

import torch

from executor.engine import Engine
from tests.nodes.images.helpers import Probe, execute

PROMPT = {
    "red": {"class_type": "EmptyImage",
            "inputs": {"width": 4, "height": 2, "batch_size": 3, "color": 0xFF0000}},
    "turned": {"class_type": "ImageRotate", "inputs": {"image": ["red", 0],
                                                       "rotation": "90 degrees"}},
    "sharp": {"class_type": "ImageSharpen",
              "inputs": {"image": ["turned", 0], "sharpen_radius": 1, "sigma": 1.0,
                         "alpha": 1.0}},
    "batches": {"class_type": "RebatchImages", "inputs": {"images": ["sharp", 0],
                                                          "batch_size": 2}},
    "size": {"class_type": "GetImageSize", "inputs": {"image": ["batches", 0]}},
    "quarter": {"class_type": "SolidMask", "inputs": {"value": 0.25, "width": 2, "height": 4}},
    "rgba": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["turned", 0],
                                                            "alpha": ["quarter", 0]}},
    "grown": {"class_type": "Morphology", "inputs": {"image": ["rgba", 0],
                                                     "operation": "dilate", "kernel_size": 3}},
    "split": {"class_type": "SplitImageWithAlpha", "inputs": {"image": ["grown", 0]}},
}


def test_catalogue_nodes_run_together(engine: Engine) -> None:
    probes = {
        "p_batch": {"class_type": "Probe", "inputs": {"value": ["size", 2]}},
        "p_mask": {"class_type": "Probe", "inputs": {"value": ["split", 1]}},
        "p_rgb": {"class_type": "Probe", "inputs": {"value": ["split", 0]}},
    }
    Probe.seen = []
    outcome = execute(engine, {**PROMPT, **probes})
    assert set(outcome.executed) >= set(PROMPT)
    # the engine picks the probes' order: tell their values apart by kind
    ints = [v for v in Probe.seen if isinstance(v, int)]
    tensors = [v for v in Probe.seen if isinstance(v, torch.Tensor)]
    assert ints == [2, 1]  # the rebatched list fanned out to GetImageSize: batches of 2 and 1
    mask = next(t for t in tensors if t.dim() == 3)
    rgb = next(t for t in tensors if t.dim() == 4)
    assert mask.shape == (3, 4, 2) and torch.allclose(mask, torch.full_like(mask, 0.25))
    red = torch.tensor([1.0, 0.0, 0.0]).expand(3, 4, 2, 3)
    assert torch.equal(rgb, red)  # rotated to 2 wide × 4 high, dilation keeps a flat colour
