"""Loading upscale models: spandrel-detected RRDBNet from .pth / .safetensors equals spandrel's
reference forward; unsafe pickles, non-SR architectures and unknown weights are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from diffusion.upscale import UpscaleModelError, load_upscale_model, upscale_pixels
from diffusion.upscale.loading import model_from_state_dict
from diffusion.upscale.torchvision_compat import import_spandrel
from tests.diffusion.upscale.upscale_support import (
    esrgan_state,
    pixels,
    reference_descriptor,
    save_model,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_rrdbnet_equals_spandrels_reference_forward(tmp_path: Path, suffix: str) -> None:
    state = esrgan_state(seed=3)
    model = load_upscale_model(save_model(state, tmp_path / f"RealESRGAN_x4{suffix}"))
    assert (model.architecture, model.scale, model.descriptor.purpose) == ("ESRGAN", 4, "SR")
    assert model.nbytes == sum(t.numel() * 4 for t in state.values())
    image = pixels(12, 10)
    ours = upscale_pixels(model, image, CPU)  # (1, 48, 40, 3): one tile
    reference = reference_descriptor(state)(image.movedim(-1, 1)).movedim(1, -1)
    assert ours.shape == (1, 48, 40, 3)
    assert torch.equal(ours, reference)
    assert ours.std() > 0.05  # the random weights make a non-trivial picture


def test_a_pickle_that_would_run_code_is_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "was-executed"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    path = tmp_path / "evil.pth"
    torch.save({**esrgan_state(), "extra": Payload()}, path)
    with pytest.raises(UpscaleModelError, match="'evil.pth' cannot be loaded safely"):
        load_upscale_model(path)
    assert not marker.exists()


def test_face_and_inpainting_models_are_refused_by_name() -> None:
    import_spandrel()
    from spandrel.architectures.LaMa import LaMa
    from spandrel.architectures.RestoreFormer import RestoreFormer

    face = RestoreFormer(n_embed=16, embed_dim=8, ch=32, ch_mult=(1, 1), num_res_blocks=1,
                         attn_resolutions=(), z_channels=8, resolution=32, head_size=1)
    with pytest.raises(UpscaleModelError, match="RestoreFormer FaceSR"):
        model_from_state_dict(face.state_dict(), "face.pth")
    with pytest.raises(UpscaleModelError, match="LaMa Inpainting model, which needs a mask"):
        model_from_state_dict(LaMa().state_dict(), "lama.pth")


def test_unknown_weights_and_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UpscaleModelError, match="no supported architecture"):
        model_from_state_dict({"foo.weight": torch.zeros(2, 2)}, "foo.pth")
    odd = tmp_path / "model.onnx"
    odd.write_bytes(b"\0")
    with pytest.raises(UpscaleModelError, match="unsupported extension '.onnx'"):
        load_upscale_model(odd)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(b"PK\x03\x04")
    with pytest.raises(UpscaleModelError, match="'cut.pth' is not a readable torch file"):
        load_upscale_model(truncated)
    garbled = tmp_path / "garbled.safetensors"
    garbled.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(UpscaleModelError, match="'garbled.safetensors' is not a readable"):
        load_upscale_model(garbled)
