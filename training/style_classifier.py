"""A tiny style classifier for the LoRA benchmark: is the shape in a picture filled or outlined?

Its input is the same 32x32 mask crop the shape classifier reads (``training.shape_classifier.
crop_mask`` of ``training.shape_masks.shape_mask``): an outlined shape's mask is the band along
its edge, a filled shape's the whole shape. Trained on degraded procedural pictures of both
styles (``shapes_data`` styles ``filled`` and ``outlined``), every shape but the ring, whose
outline is itself a pair of rings (the benchmark asks for no rings). The weights are committed
beside the benchmark (``benchmarks/style_classifier.safetensors``, made by
``benchmarks/train_style_classifier.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from training import shapes_data
from training.shape_classifier import SIDE, crop_mask, degrade, fit
from training.shape_masks import shape_mask

logger = logging.getLogger(__name__)

STYLES = shapes_data.STYLES  # ("filled", "outlined")
STYLE_SHAPES = tuple(s for s in shapes_data.SHAPES if s != "ring")


class StyleClassifier(nn.Module):
    """Two conv/pool stages and a linear head: (B, 1, 32, 32) -> (B, 2) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 16, 16)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 8, 8)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * (SIDE // 4) ** 2, len(STYLES)))

    def forward(self, masks: Tensor) -> Tensor:
        return self.head(self.features(masks))

    @torch.no_grad()
    def predict(self, masks: Tensor) -> list[str]:
        """Style names for (B, 1, 32, 32) crops."""
        return [STYLES[i] for i in self(masks).argmax(dim=1).tolist()]


def read_style(image: np.ndarray, classifier: StyleClassifier) -> str:
    """The style of the shape in an (H, W, 3) uint8 picture."""
    return classifier.predict(crop_mask(shape_mask(image))[None])[0]


def load_style_classifier(path: Path) -> StyleClassifier:
    model = StyleClassifier()
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return model.eval()


def save_style_classifier(model: StyleClassifier, path: Path) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"classes": ",".join(STYLES)})


def training_set(count: int, seed: int, resolution: int = 128) -> tuple[Tensor, Tensor]:
    """(2 * kept, 1, 32, 32) crops of degraded pictures in both styles (no rings), labels."""
    crops, labels = [], []
    rng = np.random.default_rng([seed, 0x57E])
    for index, style in enumerate(STYLES):
        batch = shapes_data.generate(count, seed=seed, resolution=resolution, mode="all",
                                     style=style)
        for image, label in zip(batch.images, batch.labels, strict=True):
            if label.shape in STYLE_SHAPES:
                crops.append(crop_mask(shape_mask(degrade(image, rng))))
                labels.append(index)
    return torch.stack(crops), torch.tensor(labels)


def train(images: int = 3000, steps: int = 800, seed: int = 0
          ) -> tuple[StyleClassifier, float]:
    """A classifier trained on ``images`` scenes per style; its accuracy on 500 fresh scenes per
    style (another seed)."""
    torch.manual_seed(seed)
    data = training_set(images, seed)
    test = training_set(500, seed + 1)
    model = StyleClassifier()
    return model, fit(model, data, test, steps, seed, "style classifier", 200)
