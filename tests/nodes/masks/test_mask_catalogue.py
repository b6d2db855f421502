"""ImageColorToMask (8-bit rounding, clamping, packing) and MaskPreview (a grey PNG in the temp
folder, listed in the UI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.api import Folders
from nodes.masks.color import ImageColorToMask
from nodes.masks.preview import MaskPreview
from tests.nodes.images.helpers import FakeContext


def test_color_to_mask_rounds_clamps_and_packs() -> None:
    image = torch.tensor([[[1.0, 0.5, 0.0],  # 255, 127.5 -> 128 (half to even), 0
                           [1.2, 127.4 / 255, -0.1],  # clamped 255, 127, 0
                           [1.0, 128.6 / 255, 0.0]]])[None]  # 255, 129, 0
    (mask,) = ImageColorToMask().run(FakeContext(), image, 0xFF8000)
    assert mask.shape == (1, 1, 3) and mask.flatten().tolist() == [1.0, 0.0, 0.0]
    (other,) = ImageColorToMask().run(FakeContext(), image, 0xFF7F00)
    assert other.flatten().tolist() == [0.0, 1.0, 0.0]
    rgba = torch.cat([image, torch.zeros((1, 1, 3, 1))], dim=-1)  # alpha is ignored
    assert torch.equal(ImageColorToMask().run(FakeContext(), rgba, 0xFF8000)[0], mask)
    with pytest.raises(ValueError, match="ImageColorToMask input 'image'"):
        ImageColorToMask().run(FakeContext(), torch.zeros((1, 2, 2, 1)), 0)


def test_mask_preview_saves_grey_images_to_temp(tmp_path: Path) -> None:
    folders = Folders(input=tmp_path, output=tmp_path / "out", temp=tmp_path / "temp")
    mask = torch.tensor([[[0.0, 1.0], [0.5, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])  # (2, 2, 2)
    result = MaskPreview().run(FakeContext(folders=folders, prompt={"1": {}}), mask)
    images = result.ui["images"]
    assert len(images) == 2 and all(i["type"] == "temp" and i["subfolder"] == "" for i in images)
    assert images[0]["filename"].startswith("ComfyUI_temp_")
    with Image.open(folders.temp / images[0]["filename"]) as png:
        assert png.mode == "RGB" and png.text["prompt"] == '{"1": {}}'
        pixels = np.asarray(png)
    assert pixels[..., 0].tolist() == [[0, 255], [127, 255]] and (pixels[..., 1] ==
                                                                  pixels[..., 0]).all()
