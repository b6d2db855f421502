"""``docs/plugins.md``: its code compiles, the pack it shows registers and runs, and the files
it points authors to exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from nodes.api import Registry
from nodes.api.testing import StubContext

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_every_python_block_compiles() -> None:
    found = blocks()
    assert len(found) >= 2
    for index, code in enumerate(found):
        compile(code, f"docs/plugins.md block {index}", "exec")


def test_the_pack_shown_registers_and_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_pack"}
    exec(compile(blocks()[0], "docs/plugins.md", "exec"), namespace)  # noqa: S102
    registry = Registry()
    namespace["register"](registry)
    node = registry.get("Brightness")
    image = torch.full((1, 2, 2, 3), 0.5)  # (B, H, W, C)
    (out,) = node().run(StubContext(), image=image, factor=1.5)
    assert torch.allclose(out, torch.full_like(image, 0.75))


def test_the_files_the_guide_names_exist() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for path in ("custom_nodes/example_pack/", "tests/custom_nodes/test_pack_template.py",
                 "nodes/plugins/compat", "nodes/patches/"):
        assert path in text and (ROOT / path).exists(), path
