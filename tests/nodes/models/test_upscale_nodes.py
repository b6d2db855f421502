"""UpscaleModelLoader → ImageUpscaleWithModel through the real Engine: the picked file is
loaded safely, the result equals spandrel's reference forward, the cached payload is shared and
never moved, and refusals name the file."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from diffusion.upscale import UpscaleModel
from diffusion.upscale.torchvision_compat import import_spandrel
from executor.jobs import JobRequest
from nodes.models.upscale import ImageUpscaleWithModel
from tests.diffusion.upscale.upscale_support import esrgan_state, reference_descriptor, save_model
from tests.nodes.images.helpers import FakeContext
from tests.nodes.models.support import ModelEnv

RGB = (np.arange(6 * 5 * 3, dtype=np.uint8).reshape(6, 5, 3) * 5)  # (H=6, W=5, 3)


def workflow(model_name: str) -> dict[str, object]:
    return {
        "model": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}},
        "image": {"class_type": "LoadImage", "inputs": {"image": "small.png"}},
        "up": {"class_type": "ImageUpscaleWithModel",
               "inputs": {"upscale_model": ["model", 0], "image": ["image", 0]}},
    }


def test_upscale_workflow_matches_spandrel(env: ModelEnv) -> None:
    state = esrgan_state(seed=7)
    save_model(state, env.base / "models" / "upscale_models" / "x4" / "tiny.pth")
    Image.fromarray(RGB).save(env.folders.input / "small.png")
    out = env.probe(workflow("x4/tiny.pth"), "up")
    pixels = torch.from_numpy(RGB.astype(np.float32) / 255)[None]  # (1, 6, 5, 3)
    reference = reference_descriptor(state)(pixels.movedim(-1, 1)).movedim(1, -1)
    assert out.shape == (1, 24, 20, 3) and torch.equal(out, reference)
    model = env.probe(workflow("x4/tiny.pth"), "model")
    assert isinstance(model, UpscaleModel) and model.descriptor.device == torch.device("cpu")
    outcome = env.run({**workflow("x4/tiny.pth"),
                       "p": {"class_type": "Probe", "inputs": {"value": ["up", 0]}}})
    assert "model" in outcome.cached  # fingerprinted by the file: not read again


def test_a_non_sr_model_fails_the_job_naming_file_and_architecture(env: ModelEnv) -> None:
    import_spandrel()
    from spandrel.architectures.RestoreFormer import RestoreFormer

    face = RestoreFormer(n_embed=16, embed_dim=8, ch=32, ch_mult=(1, 1), num_res_blocks=1,
                         attn_resolutions=(), z_channels=8, resolution=32, head_size=1)
    path = env.base / "models" / "upscale_models" / "face.safetensors"
    save_model({k: v.contiguous() for k, v in face.state_dict().items()}, path)
    prompt = {"model": {"class_type": "UpscaleModelLoader",
                        "inputs": {"model_name": "face.safetensors"}},
              "p": {"class_type": "Probe", "inputs": {"value": ["model", 0]}}}
    outcome = env.engine.execute(JobRequest("face-job", prompt))
    assert not outcome.ok
    assert "'face.safetensors' is a RestoreFormer FaceSR" in str(outcome.failure)


class _Doubler:
    """A stand-in descriptor: nearest ×2 that runs out of memory above 128-pixel tiles."""

    scale, input_channels, output_channels, purpose = 2, 3, 3, "SR"
    architecture = type("Arch", (), {"name": "Doubler"})()
    device = torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > 128:
            raise torch.OutOfMemoryError("out of memory (test)")
        return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


class _Store:
    device = torch.device("cpu")
    unloads = 0

    def unload_all(self) -> int:
        self.unloads += 1
        return 0


def test_the_node_reports_progress_and_frees_memory_before_smaller_tiles() -> None:
    store = _Store()
    progress: list[tuple[float, float]] = []
    ctx = FakeContext(models=store)  # type: ignore[arg-type]
    ctx.progress = lambda value, total, preview=None: progress.append((value, total))  # type: ignore[method-assign]
    image = torch.rand(1, 200, 150, 3)
    [out] = ImageUpscaleWithModel().run(ctx, UpscaleModel(_Doubler(), "double.pth"), image)
    assert torch.allclose(out, image.repeat_interleave(2, 1).repeat_interleave(2, 2), atol=1e-6)
    assert store.unloads == 2  # before the 256- and the 128-pixel attempts
    assert progress[-1] == (4, 4)  # 128-pixel tiles: 2 × 2
