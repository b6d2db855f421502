"""LoadImage and LoadImageMask through the real Engine: decoding, validation, fingerprints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from executor.engine import Engine
from executor.errors import PromptError
from executor.plan import Reason
from nodes.api import Folders, Registry
from nodes.images.decode import load_image
from tests.nodes.images.helpers import execute, probe

RGB = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], dtype=np.uint8)  # (H=2, W=3, 3)


def load(engine: Engine, name: str, slot: int = 0) -> Any:
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name}}}
    return probe(engine, prompt, "1", slot)


def node_errors(engine: Engine, prompt: dict[str, Any]) -> list[str]:
    with pytest.raises(PromptError) as caught:
        engine.validate(prompt)
    return [e["details"] for n in caught.value.node_errors.values() for e in n["errors"]]


def test_rgb_png_loads_exactly_with_a_64x64_zero_mask(engine: Engine, folders: Folders) -> None:
    Image.fromarray(RGB).save(folders.input / "rgb.png")
    pixels, mask = load(engine, "rgb.png", 0), load(engine, "rgb.png", 1)
    assert pixels.dtype == torch.float32 and pixels.shape == (1, 2, 3, 3)
    assert torch.equal(pixels[0], torch.from_numpy(RGB.astype(np.float32) / 255.0))
    assert torch.equal(mask, torch.zeros((1, 64, 64)))


def test_exif_orientation_is_applied(engine: Engine, folders: Folders) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(RGB).save(folders.input / "turned.png", exif=exif)
    pixels = load(engine, "turned.png")
    clockwise = np.rot90(RGB, k=-1).astype(np.float32) / 255.0  # (W=3, H=2, 3)
    assert pixels.shape == (1, 3, 2, 3)
    assert torch.equal(pixels[0], torch.from_numpy(np.ascontiguousarray(clockwise)))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_keeps_its_range_and_precision(
    engine: Engine, folders: Folders, suffix: str
) -> None:
    values = np.array([[0, 1, 257], [32768, 65280, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(folders.input / f"deep{suffix}")
    assert Image.open(folders.input / f"deep{suffix}").mode == "I;16"
    pixels = load(engine, f"deep{suffix}")
    expected = torch.from_numpy(values.astype(np.float32) / 65535.0)
    assert pixels.shape == (1, 2, 3, 3)
    for channel in range(3):
        assert torch.allclose(pixels[0, :, :, channel], expected, atol=1e-7)
    assert pixels[0, 0, 1, 0] > 0  # a step 8-bit loading would lose


def test_32_bit_integer_grey_is_scaled_and_clipped(folders: Folders) -> None:
    values = np.array([[0, 65535, 100000]], dtype=np.int32)
    Image.fromarray(values).save(folders.input / "wide.tif")
    assert Image.open(folders.input / "wide.tif").mode == "I"
    pixels, _ = load_image(folders.input / "wide.tif")
    assert pixels[0, 0, :, 0].tolist() == [0.0, 1.0, 1.0]


def test_alpha_becomes_one_minus_alpha(engine: Engine, folders: Folders) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = [[0, 255], [51, 204]]
    Image.fromarray(rgba).save(folders.input / "alpha.png")
    mask = load(engine, "alpha.png", 1)
    assert torch.allclose(mask, torch.tensor([[[1.0, 0.0], [0.8, 0.2]]]), atol=1e-6)
    pixels = load(engine, "alpha.png", 0)
    assert pixels.shape == (1, 2, 2, 3)  # RGB only, as ComfyUI


def test_grey_alpha_and_palette_transparency_give_masks(folders: Folders) -> None:
    grey_alpha = np.array([[[9, 0], [9, 255]]], dtype=np.uint8)  # (1, 2, 2): L, A
    Image.fromarray(grey_alpha, "LA").save(folders.input / "la.png")
    _, mask = load_image(folders.input / "la.png")
    assert mask.tolist() == [[[1.0, 0.0]]]
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.putdata([0, 1])
    palette.save(folders.input / "p.png", transparency=0)
    pixels, mask = load_image(folders.input / "p.png")
    assert mask.tolist() == [[[1.0, 0.0]]]
    assert pixels[0, 0].tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]


def test_multi_frame_gives_a_batch_and_skips_other_sizes(
    engine: Engine, folders: Folders
) -> None:
    frames = [Image.new("RGB", size, color) for size, color in
              [((4, 3), (255, 0, 0)), ((4, 3), (0, 255, 0)), ((5, 5), (0, 0, 255)),
               ((4, 3), (255, 255, 255))]]
    frames[0].save(folders.input / "pages.tif", save_all=True, append_images=frames[1:])
    pixels = load(engine, "pages.tif")
    assert pixels.shape == (3, 3, 4, 3)
    assert [p[0, 0].tolist() for p in pixels] == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]
    assert load(engine, "pages.tif", 1).shape == (3, 64, 64)


def test_subfolder_and_annotated_names_load(engine: Engine, folders: Folders) -> None:
    (folders.input / "uploads").mkdir()
    Image.new("RGB", (2, 2), (255, 0, 0)).save(folders.input / "uploads" / "a.png")
    Image.new("RGB", (2, 2), (0, 255, 0)).save(folders.output / "b.png")
    Image.new("RGB", (2, 2), (0, 0, 255)).save(folders.temp / "c.png")
    assert load(engine, "uploads/a.png")[0, 0, 0].tolist() == [1, 0, 0]
    assert load(engine, "b.png [output]")[0, 0, 0].tolist() == [0, 1, 0]
    assert load(engine, "c.png [temp]")[0, 0, 0].tolist() == [0, 0, 1]
    assert load(engine, "uploads/a.png [input]")[0, 0, 0].tolist() == [1, 0, 0]


def test_missing_file_is_refused_with_comfyuis_message(engine: Engine) -> None:
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "nope.png"}},
              "2": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}}
    assert node_errors(engine, prompt) == ["LoadImage - Invalid image file: nope.png"]


@pytest.mark.parametrize("name", ["../secret.png", "/etc/hostname", "a\\b.png", "x\x00.png",
                                  "link.png", "../input/secret.png [output]"])
def test_paths_outside_the_folder_are_refused(
    engine: Engine, folders: Folders, tmp_path: Path, name: str
) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "secret.png")
    os.symlink(tmp_path / "secret.png", folders.input / "link.png")
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
              "2": {"class_type": "Probe", "inputs": {"value": ["1", 0]}}}
    [message] = node_errors(engine, prompt)
    assert message.startswith(f"LoadImage - Invalid image file: {name} (")


def test_replaced_file_reruns_loadimage_and_identical_file_does_not(
    engine: Engine, folders: Folders
) -> None:
    path = folders.input / "x.png"
    Image.new("RGB", (2, 2), (255, 0, 0)).save(path)
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
              "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "Probe", "inputs": {"value": ["2", 0]}}}
    assert "1" in execute(engine, prompt).executed
    os.utime(path, (1, 1))  # touched, same content: still cached
    assert execute(engine, prompt).reasons["1"] is Reason.CACHED
    Image.new("RGB", (2, 2), (0, 255, 0)).save(path)
    rerun = execute(engine, prompt)
    assert rerun.reasons["1"] is Reason.FINGERPRINT_CHANGED
    assert rerun.reasons["2"] is not Reason.CACHED


def test_load_image_mask_channels(engine: Engine, folders: Folders) -> None:
    rgba = np.array([[[255, 51, 0, 204]]], dtype=np.uint8)  # (1, 1, 4)
    Image.fromarray(rgba).save(folders.input / "m.png")
    Image.fromarray(RGB).save(folders.input / "opaque.png")
    expected = {"red": 1.0, "green": 0.2, "blue": 0.0, "alpha": 0.2}
    for channel, value in expected.items():
        prompt = {"1": {"class_type": "LoadImageMask",
                        "inputs": {"image": "m.png", "channel": channel}}}
        mask = probe(engine, prompt, "1")
        assert mask.shape == (1, 1, 1)
        assert mask.item() == pytest.approx(value, abs=1e-6), channel
    prompt = {"1": {"class_type": "LoadImageMask",
                    "inputs": {"image": "opaque.png", "channel": "alpha"}}}
    assert torch.equal(probe(engine, prompt, "1"), torch.zeros((1, 2, 3)))


def test_picker_lists_image_files_of_the_bound_input_folder(
    registry: Registry, folders: Folders, tmp_path: Path
) -> None:
    def listed() -> list[str]:
        return registry.node_info("LoadImage")["input"]["required"]["image"][0]

    assert listed() == []
    Image.new("RGB", (1, 1)).save(folders.input / "b.png")
    Image.new("RGB", (1, 1)).save(folders.input / "a.webp")
    (folders.input / "notes.txt").write_text("x")
    (folders.input / "sub").mkdir()
    Image.new("RGB", (1, 1)).save(folders.input / "sub" / "deep.png")
    Image.new("RGB", (1, 1)).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", folders.input / "escape.png")
    assert listed() == ["a.webp", "b.png"]  # re-read per request; no dirs, links out, text
    info = registry.node_info("LoadImage")["input"]["required"]["image"][1]
    assert info["image_upload"] is True
    assert registry.node_info("LoadImageMask")["input"]["required"]["image"][0] == [
        "a.webp", "b.png"]
