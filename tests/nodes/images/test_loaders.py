"""LoadImageOutput and WebcamCapture through the real Engine: folders, annotations,
validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from executor.engine import Engine
from executor.errors import PromptError
from nodes.api import Folders
from tests.nodes.images.helpers import probe

RGBA = np.array([[[255, 0, 0, 255], [0, 0, 255, 0]]], dtype=np.uint8)  # (H=1, W=2, 4)


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"1": {"class_type": class_type, "inputs": inputs}}


def refusals(engine: Engine, prompt: dict[str, Any]) -> str:
    probed = {**prompt, "p": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(PromptError) as caught:
        engine.validate(probed)
    return str(caught.value.node_errors)


def test_load_image_output_reads_the_output_folder(engine: Engine, folders: Folders) -> None:
    Image.fromarray(RGBA).save(folders.output / "made.png")
    image = probe(engine, node("LoadImageOutput", image="made.png"), "1", 0)
    mask = probe(engine, node("LoadImageOutput", image="made.png [output]"), "1", 1)
    assert torch.equal(image, torch.tensor([[[[1.0, 0, 0], [0, 0, 1.0]]]]))
    assert torch.equal(mask, torch.tensor([[[0.0, 1.0]]]))  # 1 − alpha


def test_load_image_output_honours_other_annotations(engine: Engine, folders: Folders) -> None:
    Image.fromarray(RGBA[..., :3]).save(folders.input / "given.png")
    image = probe(engine, node("LoadImageOutput", image="given.png [input]"), "1", 0)
    assert image.shape == (1, 1, 2, 3)
    # a plain name is in the output folder
    assert "Invalid image file: given.png" in refusals(engine, node("LoadImageOutput",
                                                                    image="given.png"))


def test_webcam_capture_loads_the_uploaded_frame(engine: Engine, folders: Folders) -> None:
    (folders.temp / "webcam").mkdir()
    Image.fromarray(RGBA[..., :3]).save(folders.temp / "webcam" / "1.png")
    prompt = node("WebcamCapture", image="webcam/1.png [temp]", width=0, height=0,
                  capture_on_queue=True)
    image = probe(engine, prompt, "1", 0)
    assert torch.equal(image, torch.tensor([[[[1.0, 0, 0], [0, 0, 1.0]]]]))
    outside = node("WebcamCapture", image="../x.png", width=0, height=0, capture_on_queue=True)
    assert "Invalid image file: ../x.png" in refusals(engine, outside)
