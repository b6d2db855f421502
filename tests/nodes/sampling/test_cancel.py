"""Cancelling a 50-step KSampler through the Engine, from another thread, right after its first
progress event: the job ends ``interrupted`` at the sampler within one more step."""

from __future__ import annotations

import threading
from typing import Any

import torch

from diffusion.unet.model import UNetModel
from executor.events import Event, NodeProgress
from executor.jobs import JobRequest
from tests.workflows.support import Workspace

STEPS = 50
PROMPT: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                       "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {
        "model": ["4", 0], "seed": 1, "steps": STEPS, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
        "latent_image": ["5", 0], "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "c"}},
}


def test_cancel_stops_a_50_step_ksampler_within_one_step(workspace: Workspace) -> None:
    engine = workspace.engine()
    progress: list[NodeProgress] = []
    cancelled = threading.Event()
    forwards: list[int] = []

    def cancel_from_another_thread() -> None:
        assert engine.cancel("job")
        cancelled.set()

    def sink(event: Event) -> None:
        if isinstance(event, NodeProgress):
            progress.append(event)
            if len(progress) == 1:
                threading.Thread(target=cancel_from_another_thread).start()
                assert cancelled.wait(10), "the cancelling thread did not run"

    def count(module: torch.nn.Module, args: Any, output: Any) -> None:
        if isinstance(module, UNetModel):
            forwards.append(1)

    hook = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        result = engine.execute(JobRequest("job", PROMPT), sink)
    finally:
        hook.remove()
    assert result.status == "interrupted" and result.interrupted_at == "3"
    assert [(e.node_id, e.value, e.max) for e in progress] == [("3", 1, STEPS)]
    assert 1 <= len(forwards) <= 2  # step 1, then step 2's model call before its report raised
    assert "8" not in result.executed and "9" not in result.executed
