"""The built-in nodes' memory estimates: sizes flow from constants through resizes to VAE
decoding, and an impossible job is refused at validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from executor.engine import Engine
from executor.errors import PromptError
from latentgraph.app import build_registry, folders_under
from nodes.api import MemoryBudget, Ports, Registry

GIB = 2**30
BUDGET = MemoryBudget(device=24 * GIB, host=64 * GIB, device_name="cuda:0")
CHECKPOINT = "latentgraph-shapes-v1.safetensors"  # embedded: always listed


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return build_registry(folders_under(Path(tmp_path_factory.mktemp("base"))))


def engine(registry: Registry, budget: MemoryBudget = BUDGET) -> Engine:
    return Engine(registry, ports=Ports(model_files=registry.schema.model_files,
                                        memory=lambda: budget))


def decode_prompt(width: int, height: int, batch: int, *, upscale: float | None = None
                  ) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": width, "height": height, "batch_size": batch}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
    }
    if upscale is not None:
        prompt["6"] = {"class_type": "LatentUpscaleBy", "inputs": {
            "samples": ["5", 0], "upscale_method": "nearest-exact", "scale_by": upscale}}
        prompt["8"]["inputs"]["samples"] = ["6", 0]
    return prompt


def refusal(registry: Registry, prompt: dict[str, Any], budget: MemoryBudget = BUDGET
            ) -> tuple[str, dict[str, Any]]:
    with pytest.raises(PromptError) as caught:
        engine(registry, budget).validate(prompt)
    ((node_id, entry),) = caught.value.node_errors.items()
    (issue,) = entry["errors"]
    assert issue["type"] == "exceeds_memory_budget"
    return node_id, issue


def test_a_normal_job_passes_and_records_its_estimates(registry: Registry) -> None:
    validated = engine(registry).validate(decode_prompt(1024, 1024, 1))
    latent = validated.estimates["5"]
    assert latent.outputs[0] is not None and latent.outputs[0].shape == (1, 4, 128, 128)
    decode = validated.estimates["8"]
    assert decode.host_bytes == 1024 * 1024 * 3 * 4
    assert decode.device_bytes == 1024 * 1024 * 128 * 2


def test_the_issue_example_is_refused_before_anything_runs(registry: Registry) -> None:
    node_id, issue = refusal(registry, decode_prompt(16384, 16384, 64))
    assert node_id == "8"
    details = issue["details"]
    assert "VAEDecode (samples=64×4×2048×2048 from node 5, vae=node 4)" in details
    assert "of cuda:0" in details and "24.0 GiB in all" in details
    assert "VAE Decode (Tiled)" in details


def test_an_empty_latent_larger_than_the_ram_is_refused(registry: Registry) -> None:
    small = MemoryBudget(device=GIB, host=GIB)
    node_id, issue = refusal(registry, decode_prompt(16384, 16384, 64), small)
    assert node_id == "5"
    assert "EmptyLatentImage (width=16384, height=16384, batch_size=64)" in issue["details"]
    assert "a 64×4×2048×2048 float32 latent (4.0 GiB)" in issue["details"]
    assert "use a smaller width, height or batch_size" in issue["details"]


def test_sizes_flow_through_an_upscale(registry: Registry) -> None:
    fits = engine(registry).validate(decode_prompt(1024, 1024, 1, upscale=2.0))
    assert fits.estimates["6"].outputs[0].shape == (1, 4, 256, 256)  # type: ignore[union-attr]
    assert fits.estimates["8"].host_bytes == 2048 * 2048 * 3 * 4
    node_id, _ = refusal(registry, decode_prompt(4096, 4096, 4, upscale=8.0))
    assert node_id in ("6", "8")


def test_image_nodes_estimate_too(registry: Registry) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512,
                                                      "batch_size": 2, "color": 0}},
        "2": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0],
                                                        "upscale_method": "nearest-exact",
                                                        "scale_by": 8.0}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0],
                                                      "upscale_method": "nearest-exact",
                                                      "width": 16384, "height": 0,
                                                      "crop": "disabled"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    validated = engine(registry).validate(prompt)
    assert validated.estimates["2"].outputs[0].shape == (2, 4096, 4096, 3)  # type: ignore[union-attr]
    assert validated.estimates["3"].outputs[0].shape == (2, 16384, 16384, 3)  # type: ignore[union-attr]
    node_id, issue = refusal(registry, prompt, MemoryBudget(device=GIB, host=4 * GIB))
    assert node_id == "3" and "ImageScale" in issue["details"]


def test_the_composition_root_wires_the_devices_memory(tmp_path: Path) -> None:
    from latentgraph.app import build_engine

    folders = folders_under(tmp_path)
    budget = build_engine(build_registry(folders), folders).ports.memory()
    assert budget.host is not None and budget.host > 0
    assert budget.device is not None and budget.device_name
