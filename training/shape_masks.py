"""The shape mask of a picture: the largest region clearly unlike its background.

Shared by the adherence reading (``training.adherence``) and the shape classifier's training set
(``training.shape_classifier``); it imports neither.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BORDER = 3
MASK_DISTANCE = 60.0


def background_rgb(image: np.ndarray) -> np.ndarray:
    """(3,) median colour of the ``BORDER``-pixel frame of an (H, W, 3) picture."""
    frame = np.concatenate([
        image[:BORDER].reshape(-1, 3), image[-BORDER:].reshape(-1, 3),
        image[:, :BORDER].reshape(-1, 3), image[:, -BORDER:].reshape(-1, 3),
    ])
    return np.median(frame, axis=0)


def shape_mask(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: the largest connected region clearly unlike the background."""
    far = np.linalg.norm(image.astype(np.float64) - background_rgb(image), axis=-1)
    regions, count = ndimage.label(far > MASK_DISTANCE)
    if count == 0:
        return np.zeros(image.shape[:2], dtype=bool)
    sizes = np.bincount(regions.ravel())[1:]
    return regions == 1 + int(sizes.argmax())
