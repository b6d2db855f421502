"""Stub nodes for server tests: the executor's stubs plus nodes that write files and previews."""

from __future__ import annotations

import io
import threading
from typing import Any, ClassVar

from PIL import Image

from nodes.api import (
    CachePolicy,
    ClientImage,
    FilenamePrefix,
    Int,
    Link,
    Node,
    NodeResult,
    Output,
    Registry,
    RunContext,
)
from tests.executor.stub_nodes import NUMBER, Runs, make_registry


def png_bytes(color: tuple[int, int, int, int] = (200, 10, 10, 255), size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


class SaveNumber(Node):
    """Writes a tiny PNG to the output folder and shows it (like SaveImage)."""

    output_node = True
    inputs = (Link("value", NUMBER), FilenamePrefix("filename_prefix", default="stub"))

    def run(self, ctx: RunContext, value: float, filename_prefix: str) -> NodeResult:
        assert ctx.folders is not None
        name = f"{filename_prefix}_{ctx.job_id[:8]}_{ctx.node_id}.png"
        (ctx.folders.output / name).write_bytes(png_bytes())
        return NodeResult((), {"images": [{"filename": name, "subfolder": "", "type": "output"}]})


class Previewer(Node):
    """Reports ``steps`` progress steps, each with an encoded PNG preview."""

    inputs = (Link("a", NUMBER), Int("steps", default=2, min=1, max=100))
    outputs = (Output(NUMBER),)

    def run(self, ctx: RunContext, a: float, steps: int) -> tuple[Any, ...]:
        for i in range(steps):
            ctx.progress(i + 1, steps, ("PNG", png_bytes()))
        return (a,)


class SendImages(Node):
    """Sends ``count`` 600x300 images to the client at once (as SaveImageWebsocket does)."""

    output_node = True
    cache = CachePolicy.NEVER
    inputs = (Link("a", NUMBER), Int("count", default=2, min=1, max=100))

    def run(self, ctx: RunContext, a: float, count: int) -> NodeResult:
        for i in range(count):
            ctx.progress(i, count, ClientImage(Image.new("RGB", (600, 300), (i * 40, 0, 0))))
        return NodeResult()


class Hold(Node):
    """Waits until the test opens ``gate`` (checking for cancellation while it waits)."""

    inputs = (Link("a", NUMBER), Int("token", default=0, min=0, max=10**9))
    outputs = (Output(NUMBER),)
    gate: ClassVar[threading.Event] = threading.Event()
    entered: ClassVar[threading.Semaphore] = threading.Semaphore(0)

    def run(self, ctx: RunContext, a: float, token: int) -> tuple[Any, ...]:
        self.entered.release()
        while not self.gate.wait(0.01):
            ctx.check_cancelled()
        ctx.check_cancelled()
        return (a,)


class ReadMissing(Node):
    """Fails like a loader whose file is gone: the error names an absolute server path."""

    output_node = True
    inputs = (Link("value", NUMBER),)

    def run(self, ctx: RunContext, value: float) -> NodeResult:
        assert ctx.folders is not None
        raise FileNotFoundError(f"[Errno 2] No such file: '{ctx.folders.input / 'gone.png'}'")


def server_registry(runs: Runs | None = None) -> Registry:
    """A registry of the executor's stubs plus the server's."""
    registry = make_registry(runs or Runs())
    Hold.gate = threading.Event()
    Hold.entered = threading.Semaphore(0)
    registry.register_all([SaveNumber, Previewer, SendImages, Hold, ReadMissing],
                          module="tests.server.stub_pack")
    return registry


def show_prompt(value: float = 1.0, b: int = 1) -> dict[str, Any]:
    return {
        "1": {"class_type": "Constant", "inputs": {"value": value}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": b}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }


def save_prompt(value: float = 1.0) -> dict[str, Any]:
    return {
        "1": {"class_type": "Constant", "inputs": {"value": value}},
        "2": {"class_type": "SaveNumber", "inputs": {"value": ["1", 0]}},
    }


def fail_prompt() -> dict[str, Any]:
    return {
        "1": {"class_type": "Constant", "inputs": {"value": 3}},
        "2": {"class_type": "Fail", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }


def hold_prompt(token: int = 0) -> dict[str, Any]:
    return {
        "1": {"class_type": "Constant", "inputs": {"value": 5}},
        "2": {"class_type": "Hold", "inputs": {"a": ["1", 0], "token": token}},
        "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }
