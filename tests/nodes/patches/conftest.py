"""Fixtures: tiny checkpoints (one set per session) and one model environment per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.diffusion.single_thread import single_thread
from tests.nodes.models.support import ModelEnv, TinyStore, make_env, tiny

__all__ = ["patch_env", "single_thread", "tiny"]


@pytest.fixture(scope="module")
def patch_env(tmp_path_factory: pytest.TempPathFactory, tiny: TinyStore) -> ModelEnv:
    """sd15.safetensors and ip2p.safetensors (8 channels) in one base folder; the engine's
    cache is shared by the module's tests (so a run is forced where it must really run)."""
    env = make_env(Path(tmp_path_factory.mktemp("patch-env")))
    env.place(tiny.path("sd15"), "checkpoints", "sd15.safetensors")
    env.place(tiny.path("sd15-ip2p"), "checkpoints", "ip2p.safetensors")
    return env
