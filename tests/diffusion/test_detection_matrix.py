"""Detection matrix: every arch loads from every file format and weight dtype we accept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from diffusion.checkpoint_maker import ARCHS, checkpoint_layout, make_checkpoint
from diffusion.loading import load_checkpoint

FORMATS = [("ckpt", "fp16"), ("safetensors", "bf16"), ("safetensors", "fp32")]
KEY = "input_blocks.1.0.in_layers.2.weight"


@pytest.mark.parametrize(("file_format", "dtype"), FORMATS, ids=[f"{f}-{d}" for f, d in FORMATS])
@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_in_every_format(arch: str, file_format: str, dtype: str,
                                    tmp_path: Path) -> None:
    suffix = ".ckpt" if file_format == "ckpt" else ".safetensors"
    path = make_checkpoint(arch, tmp_path / f"m{suffix}", tiny=True, seed=5,
                           file_format=file_format, dtype=dtype)  # type: ignore[arg-type]
    reference = make_checkpoint(arch, tmp_path / "ref.safetensors", tiny=True, seed=5,
                                dtype="fp32")
    ck = load_checkpoint(path)
    with safe_open(reference, "pt") as ref:
        theirs = ref.get_tensor("model.diffusion_model." + KEY)
    assert ck.layout == checkpoint_layout(arch, tiny=True)
    # SD2.1 unCLIP is always v-prediction (ComfyUI's SD21UNCLIP), marker or not
    assert ck.prediction == ("v" if arch == "sd21-v" or "unclip" in arch else "eps")
    ours = ck.unet.state_dict()[KEY]
    assert ours.dtype == torch.float32  # CPU computes in fp32 whatever the file holds
    tolerance = {"fp16": 1e-3, "bf16": 1e-2, "fp32": 0.0}[dtype]
    assert torch.allclose(ours, theirs, rtol=tolerance, atol=tolerance)
    assert len(ck.text_encoders) == {"sdxl": 2, "sdxl-refiner": 1}.get(arch, 1)
