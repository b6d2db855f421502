"""The two ComfyUI seedings of the CPU step noise (ancestral samplers, ddpm, lcm): 'current'
(seed + 1, releases after v0.3.64) by default, 'legacy' (seed, v0.3.64 and older) on request —
each reproduces its stream, and the choice reaches the samplers the nodes run."""

from __future__ import annotations

import pytest
import torch

from diffusion.sampling.noise import gaussian_noise_sampler, seeded_generator
from executor.jobs import JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from latentgraph.cli import main
from tests.workflows.support import Workspace, cached_output


@pytest.mark.parametrize(("compat", "offset"), [("current", 1), ("legacy", 0)])
def test_the_step_noise_is_seeded_as_that_comfyui_release(compat: str, offset: int) -> None:
    samplers = build_registry(noise_compat=compat).samplers
    for name in ("euler_ancestral", "dpmpp_2s_ancestral", "ddpm", "lcm"):
        spec = samplers.sampler(name)
        assert spec.cpu_step_seed_offset == offset, name
    x = torch.zeros(1, 4, 3, 3)
    drawn = gaussian_noise_sampler(x, 41, cpu_offset=offset)(torch.tensor(1.0), torch.tensor(0.5))
    expected = torch.randn(x.shape, generator=seeded_generator(41 + offset))
    assert torch.equal(drawn, expected)


def test_an_unknown_compat_name_is_refused_and_the_cli_offers_both(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="noise_compat 'newest'"):
        build_registry(noise_compat="newest")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--comfy-noise {current,legacy}" in capsys.readouterr().out


def test_the_choice_reaches_the_sampled_picture(workspace: Workspace) -> None:
    folders = folders_under(workspace.base)
    nodes = {
        "ckpt": {"class_type": "CheckpointLoaderSimple",
                 "inputs": {"ckpt_name": "sd15.safetensors"}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "out": {"class_type": "KSampler", "inputs": {
            "model": ["ckpt", 0], "seed": 7, "steps": 3, "cfg": 1.0,
            "sampler_name": "euler_ancestral", "scheduler": "normal", "positive": ["pos", 0],
            "negative": ["pos", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
    }
    pictures = {}
    for compat in ("current", "legacy"):
        engine = build_engine(build_registry(folders, noise_compat=compat), folders)
        assert engine.execute(JobRequest(compat, nodes, ("out",))).ok
        pictures[compat] = cached_output(engine, nodes, "out").samples
    assert not torch.equal(pictures["current"], pictures["legacy"])
