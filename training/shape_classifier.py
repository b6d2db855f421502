"""A tiny shape classifier for the adherence benchmark: which of the six shapes a mask shows.

Its input is the shape mask that ``training.adherence.read_image`` cuts out of a picture, cropped
to its bounding box, padded to a square and resized to 32x32, so it sees shape, not position,
size or colour. It is trained on the procedural data (every colour x shape combination, images
blurred and noised a little so masks look like decoded ones) and its weights are committed beside
the benchmark (``benchmarks/shape_classifier.safetensors``, made by
``benchmarks/train_shape_classifier.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from training import shapes_data
from training.shape_masks import shape_mask

logger = logging.getLogger(__name__)

SIDE = 32  # classifier input: (1, SIDE, SIDE) mask crops
SHAPES = shapes_data.SHAPES


class ShapeClassifier(nn.Module):
    """Three conv/pool stages and a two-layer head, 88k params: (B, 1, 32, 32) -> (B, 6)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 16, 16)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 8, 8)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 4, 4)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 64), nn.ReLU(),
                                  nn.Linear(64, len(SHAPES)))

    def forward(self, masks: Tensor) -> Tensor:
        return self.head(self.features(masks))

    @torch.no_grad()
    def predict(self, masks: Tensor) -> list[str]:
        """Shape names for (B, 1, 32, 32) crops."""
        return [SHAPES[i] for i in self(masks).argmax(dim=1).tolist()]


def crop_mask(mask: np.ndarray) -> Tensor:
    """(1, SIDE, SIDE) float crop of a (H, W) bool mask: bounding box, square-padded, resized."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return torch.zeros(1, SIDE, SIDE)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0) + 2  # one empty pixel around the shape
    square = np.zeros((side, side), dtype=np.uint8)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    square[oy : oy + y1 - y0, ox : ox + x1 - x0] = mask[y0:y1, x0:x1] * 255
    small = Image.fromarray(square).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)[None]


def load_classifier(path: Path) -> ShapeClassifier:
    model = ShapeClassifier()
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return model.eval()


def save_classifier(model: ShapeClassifier, path: Path) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"classes": ",".join(SHAPES)})


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rendered image blurred (sigma 0-1.5 px) and noised (std 0-12) like a decoded one."""
    blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.5)))
    noise = rng.normal(0.0, rng.uniform(0.0, 12.0), size=image.shape)
    return np.clip(np.asarray(blurred, dtype=np.float64) + noise, 0, 255).astype(np.uint8)


def training_set(count: int, seed: int, resolution: int = 128) -> tuple[Tensor, Tensor]:
    """(count, 1, 32, 32) mask crops read from degraded procedural images, and shape indices."""
    batch = shapes_data.generate(count, seed=seed, resolution=resolution, mode="all")
    rng = np.random.default_rng([seed, 0x5CA1E])
    crops = [crop_mask(shape_mask(degrade(img, rng))) for img in batch.images]
    labels = torch.tensor([SHAPES.index(label.shape) for label in batch.labels])
    return torch.stack(crops), labels


def fit(model: nn.Module, data: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
        steps: int, seed: int, name: str, log_every: int) -> float:
    """Trains ``model`` on ``data`` (crops, labels) with Adam, batches of 128 drawn with
    ``seed``; returns its accuracy on ``test``."""
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(len(x), (128,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % log_every == 0:
            logger.info("%s step %d loss %.4f", name, step + 1, loss.item())
    model.eval()
    with torch.no_grad():
        return float((model(test[0]).argmax(dim=1) == test[1]).float().mean().item())


def train(images: int = 6000, steps: int = 1500, seed: int = 0) -> tuple[ShapeClassifier, float]:
    """A classifier trained on ``images`` procedural images; returns it and its accuracy on
    1,000 fresh images (another seed)."""
    torch.manual_seed(seed)
    data = training_set(images, seed)
    test = training_set(1000, seed + 1)
    model = ShapeClassifier()
    return model, fit(model, data, test, steps, seed, "shape classifier", 250)
