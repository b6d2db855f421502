"""The package arrows of STYLE.md, enforced by reading every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> modules it must never import (a name forbids the modules inside it too)
FORBIDDEN = {
    "diffusion": {"nodes", "executor", "server", "latentgraph", "aiohttp", "networkx",
                  "training"},
    "executor": {"torch", "numpy", "server", "latentgraph", "diffusion", "safetensors", "PIL",
                 "training"},
    # the server talks to an ExecutionBackend (executor.backend), never to the local engine's
    # parts: its run loop, output cache or run environment
    "server": {"torch", "diffusion", "safetensors", "latentgraph", "training", "nodes.models",
               "executor.engine", "executor.cache", "executor.run_loop", "executor.run_env",
               "executor.context"},
    "nodes/api": {"torch", "numpy", "executor", "server", "latentgraph", "diffusion"},
    "nodes": {"executor", "server", "latentgraph", "training"},
    "custom_nodes": {"executor", "server", "latentgraph", "training"},
    # training code stays out of the runtime import path (issue 7)
    "training": {"server", "executor", "nodes"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _matches(module: str, forbidden: set[str]) -> bool:
    """``module`` is a forbidden module or inside one (``nodes.models`` forbids
    ``nodes.models.folders``, not ``nodes.modelsx``)."""
    return any(module == name or module.startswith(name + ".") for name in forbidden)


def _violations(package: str, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _imports(path):
            if _matches(module, forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_one_way(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


# The built-in node pack: what no plugin and no part of the contract may import.
BUILTIN_PACK = {"nodes.builtin", "nodes.conditioning", "nodes.controlnet", "nodes.gligen",
                "nodes.hooks", "nodes.images", "nodes.ipadapter", "nodes.latents", "nodes.masks",
                "nodes.models", "nodes.patches", "nodes.photomaker", "nodes.primitives",
                "nodes.sampling", "nodes.vae", "nodes.vision"}


def test_nodes_api_stands_alone() -> None:
    # nodes.api is what the executor sees: it must not import the built-in pack, the payloads
    # (torch) or anything else of nodes.
    assert _violations("nodes/api", BUILTIN_PACK | {"nodes.payloads"}) == []
    bad = [v for v in _violations("nodes/api", {"nodes"}) if "nodes.api" not in v]
    assert bad == []


@pytest.mark.parametrize("pack", ["tests/plugins/port_pack", "custom_nodes"])
def test_plugin_packs_use_only_the_contract(pack: str) -> None:
    # a plugin reaches models, folders and samplers through nodes.api's ports, consumes the
    # payload types (nodes.payloads) and the diffusion API, never a built-in node module
    assert _violations(pack, BUILTIN_PACK | {"executor", "server", "latentgraph"}) == []


# Pure tensor helpers of the built-in pack the ComfyUI compatibility layer reuses (ComfyUI's
# common_upscale, bislerp, PNG text chunks); everything else it reaches through the registry.
COMPAT_HELPERS = {"nodes.images.resize", "nodes.latents.resample", "nodes.images.png_metadata"}


def test_the_plugin_layer_reaches_built_in_nodes_only_through_the_registry() -> None:
    bad = [v for v in _violations("nodes/plugins", BUILTIN_PACK)
           if not any(v.endswith(f"imports {helper}") for helper in COMPAT_HELPERS)]
    assert bad == []  # the helpers above are the only exceptions


def test_diffusion_text_sits_below_loading() -> None:
    # diffusion.loading builds text encoders, so diffusion.text must not point back up at it
    # (not even under TYPE_CHECKING: TextSlot lives in diffusion.text.slots).
    assert _violations("diffusion/text", {"diffusion.loading"}) == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import torch\nfrom server.app import x\nfrom . import y\n")
    assert [m for _, m in _imports(sample)] == ["torch", "server.app"]
    assert _matches("nodes.models.folders", BUILTIN_PACK) and _matches("torch", {"torch"})
    assert not _matches("nodes.api", BUILTIN_PACK) and not _matches("nodes.modelsx", BUILTIN_PACK)


# Ray is an optional extra: only the Ray backend's modules import it, and only
# `latentgraph serve --backend ray` imports those (tests/server/test_cli_serve.py checks that).
RAY_MODULES = {"executor/ray_backend.py", "executor/ray_job.py", "executor/ray_pool.py"}


def test_only_the_ray_backend_imports_ray() -> None:
    bad = []
    for package in ("executor", "server", "latentgraph", "nodes", "diffusion", "custom_nodes"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            bad += [f"{name}:{line}" for line, module in _imports(path)
                    if _matches(module, {"ray"}) and name not in RAY_MODULES]
    assert bad == []
    for name in ("executor/backend.py", "executor/routing.py", "executor/ray_actor.py"):
        assert not [m for _, m in _imports(ROOT / name)
                    if _matches(m, {"executor.ray_backend", "executor.ray_job",
                                    "executor.ray_pool"})], name
