"""Start-up cost of node packs: 20 synthetic ComfyUI packs loaded from a custom_nodes folder.

Each pack is a folder with an ``__init__.py`` declaring three V1 node classes; the "typical"
packs also import ``folder_paths``, ``comfy.utils`` and ``nodes`` at module level (as most
real packs do). Every measurement runs in a fresh Python process (module caches are per
process, as at a real start-up) after the built-in registry is built, and reports:

- the whole ``load_plugins`` call (discovery, the ComfyUI compatibility host with the V1 views
  of the built-in nodes, every pack's import and adaptation);
- per pack: the import-and-register time ComfyUI's start-up table shows (median, max), the
  first pack separately (it pays for loading the compatibility modules it imports);
- the reference in the same process: importing the same 20 packs' modules with plain
  ``importlib`` and nothing else, so the adapter's share is visible.

Target: < 10 ms per trivial pack. ``python benchmarks/plugin_startup.py [--repeats 5]``.
Bytecode caching is on in the children (a real install has ``__pycache__``): a warm-up run
writes it first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKS = 20

TRIVIAL = '''
class {name}Node{i}:
    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{"value": ("INT", {{"default": {i}, "min": 0, "max": 100}}),
                             "text": ("STRING", {{"default": "x"}}),
                             "mode": (["a", "b", "c"],)}}}}

    RETURN_TYPES = ("INT", "STRING")
    FUNCTION = "run"
    CATEGORY = "bench/{name}"

    def run(self, value, text, mode):
        return (value, text)
'''

TYPICAL_IMPORTS = "import folder_paths\nimport comfy.utils\nimport nodes\n"


def write_packs(folder: Path, typical: bool) -> None:
    for p in range(PACKS):
        name = f"BenchPack{p:02d}"
        pack = folder / name
        pack.mkdir(parents=True)
        body = TYPICAL_IMPORTS if typical else ""
        body += "".join(TRIVIAL.format(name=name, i=i) for i in range(3))
        body += "NODE_CLASS_MAPPINGS = {" + ", ".join(
            f'"{name}Node{i}": {name}Node{i}' for i in range(3)) + "}\n"
        (pack / "__init__.py").write_text(body)


def child(folder: Path, reference: bool) -> dict[str, float | list[float]]:
    """Runs in a fresh process: build the registry, then time what is asked."""
    sys.path.insert(0, str(ROOT))
    from latentgraph.app import build_registry, folders_under

    base = folder.parent
    registry = build_registry(folders_under(base))
    if reference:
        import importlib.util

        from nodes.plugins.host import PluginHost, install

        install(PluginHost(registry))  # the ComfyUI modules the typical packs import
        started = time.perf_counter()
        for pack in sorted(folder.iterdir()):
            spec = importlib.util.spec_from_file_location(
                pack.name, pack / "__init__.py", submodule_search_locations=[str(pack)])
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[pack.name] = module
            spec.loader.exec_module(module)
        return {"total": time.perf_counter() - started}
    from nodes.plugins import PluginSettings, load_plugins

    started = time.perf_counter()
    reports = load_plugins(registry, PluginSettings(folders=(folder,)))
    total = time.perf_counter() - started
    assert all(r.status == "loaded" and len(r.nodes) == 3 for r in reports), reports
    return {"total": total, "packs": [r.seconds for r in reports]}


def run_child(folder: Path, reference: bool) -> dict[str, float | list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    args = [sys.executable, __file__, "--child", str(folder)]
    if reference:
        args.append("--reference")
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(typical: bool, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "custom_nodes"
        write_packs(folder, typical)
        run_child(folder, False)  # warm-up: bytecode caches written
        totals, firsts, others, references = [], [], [], []
        for _ in range(repeats):
            result = run_child(folder, False)
            packs = result["packs"]
            assert isinstance(packs, list)
            totals.append(float(result["total"]))  # type: ignore[arg-type]
            firsts.append(packs[0])
            others += packs[1:]
            references.append(float(run_child(folder, True)["total"]))  # type: ignore[arg-type]
    kind = "typical (imports folder_paths, comfy.utils, nodes)" if typical else "trivial"
    total, reference = statistics.median(totals), statistics.median(references)
    print(f"{PACKS} {kind} packs, 3 V1 nodes each, {repeats} fresh processes:")
    print(f"  load_plugins total     median {total * 1000:7.1f} ms  "
          f"({total / PACKS * 1000:.2f} ms per pack, everything included)")
    print(f"  first pack             median {statistics.median(firsts) * 1000:7.2f} ms")
    print(f"  each further pack      median {statistics.median(others) * 1000:7.2f} ms, "
          f"max {max(others) * 1000:.2f} ms")
    print(f"  plain importlib (ref.) median {reference * 1000:7.1f} ms  "
          f"({reference / PACKS * 1000:.2f} ms per pack); "
          f"load_plugins / reference = {total / reference:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", type=Path, default=None)
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.reference)))
        return
    for typical in (False, True):
        measure(typical, args.repeats)


if __name__ == "__main__":
    main()
