"""SaveImageWebsocket: one full-size PNG-able image per batch entry, reported as progress
``step / batch`` in order, nothing saved, never cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from nodes.api import CachePolicy, ClientImage
from nodes.images.websocket import SaveImageWebsocket
from tests.nodes.images.helpers import FakeContext


@dataclass
class Recording(FakeContext):
    reports: list[tuple[float, float, Any]] = field(default_factory=list)

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        self.reports.append((value, total, preview))


def test_every_image_is_reported_in_batch_order() -> None:
    images = torch.zeros(3, 5, 7, 3)  # (B, H, W, C)
    images[1, :, :, 0] = 0.5
    images[2, :, :, 1] = 1.2  # clipped to 255 as ComfyUI does
    ctx = Recording()
    result = SaveImageWebsocket().run(ctx, images=images)
    assert result.values == () and not result.ui
    assert [(v, t) for v, t, _ in ctx.reports] == [(0, 3), (1, 3), (2, 3)]
    previews = [p for _, _, p in ctx.reports]
    assert all(isinstance(p, ClientImage) for p in previews)
    assert [p.image.size for p in previews] == [(7, 5)] * 3
    assert [p.image.getpixel((0, 0)) for p in previews] == [(0, 0, 0), (127, 0, 0), (0, 255, 0)]


def test_declaration_follows_comfyui() -> None:
    assert SaveImageWebsocket.category == "api/image"
    assert SaveImageWebsocket.output_node
    assert SaveImageWebsocket.cache is CachePolicy.NEVER  # ComfyUI's IS_CHANGED: time.time()
    assert [i.name for i in SaveImageWebsocket.inputs] == ["images"]
    assert SaveImageWebsocket.outputs == ()


def test_a_non_batch_is_refused_naming_the_shape() -> None:
    with pytest.raises(ValueError, match=r"images: expected \(B, H, W, C\), got \(5, 7, 3\)"):
        SaveImageWebsocket().run(Recording(), images=torch.zeros(5, 7, 3))
