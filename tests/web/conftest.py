"""Browser tests: the real server as a subprocess, Debian's Chromium driven by Playwright.

One browser for the session, a fresh context (empty localStorage, no cookies) per test. The
server runs ``latentgraph serve`` on a free port over a temporary base folder holding a tiny
random-weight checkpoint, with ``tests.server.slow_pack`` (a cancellable Sleep node) and
``tests.web.web_pack`` (a failing node) loaded.
Without /usr/bin/chromium (or playwright) the tests are skipped, except in CI (``CI`` or
``LATENTGRAPH_REQUIRE_BROWSER`` set, as ``.ci/run`` does), where that fails the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
URL_LINE = re.compile(r"latentgraph serving on (http://\S+)")
START_TIMEOUT_S = 60.0
REQUIRE_ENV = "LATENTGRAPH_REQUIRE_BROWSER"  # set by .ci/run: no browser fails, never skips


@dataclass
class Server:
    """A running ``latentgraph serve`` process."""

    process: subprocess.Popen[str]
    url: str
    base: Path
    token: str | None = None
    lines: list[str] = field(default_factory=list)

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url.rstrip("/") + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def read(self, path: str) -> bytes:
        request = urllib.request.Request(self.url.rstrip("/") + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(base: Path, *, token: str | None = None,
                 packs: tuple[str, ...] = ("tests.server.slow_pack:register",
                                           "tests.web.web_pack:register"),
                 port_arg: str = "0", extra_args: tuple[str, ...] = ()) -> Server:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LATENTGRAPH_TOKEN", None)
    if token:
        env["LATENTGRAPH_TOKEN"] = token
    args = [sys.executable, "-m", "latentgraph.cli", "serve", "--port", port_arg,
            "--base-dir", str(base)]
    for pack in packs:
        args += ["--node-pack", pack]
    args += extra_args
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = URL_LINE.search(line)
        if match:
            server = Server(process, match.group(1), base, token, lines)
            _drain(process, lines)
            return server
    process.kill()
    raise RuntimeError("latentgraph serve did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    """Keep reading the server's output so its pipe never fills."""
    import threading

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()


def make_checkpoint(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "latentgraph.cli", "make-checkpoint", "--arch", "sd15",
                    "--tiny", str(path)], cwd=ROOT, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("web-server")
    make_checkpoint(base / "models" / "checkpoints" / "tiny.safetensors")
    running = start_server(base)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    required = bool(os.environ.get(REQUIRE_ENV) or os.environ.get("CI"))
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "playwright is not installed (pip install -e '.[test]')"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield chromium
        chromium.close()


class PageErrors(list[str]):
    """Uncaught errors of a page (a test fails if any happened)."""


def open_editor(browser: Any, url: str, errors: PageErrors, *, setup: Any = None) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 820}, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    if setup is not None:
        setup(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    return page


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    errors = PageErrors()
    editor = open_editor(browser, server.url, errors)
    yield editor
    editor.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path
