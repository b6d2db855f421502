"""scripts/fetch_web_deps.py with a local tarball (no network): integrity, unpacking, stamp."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_web_deps",
                                                  ROOT / "scripts" / "fetch_web_deps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fetch_web_deps = load_script()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def write_lock(path: Path, integrity: str, url: str = "https://example.invalid/lg.tgz") -> Path:
    path.write_text(json.dumps({"lockfileVersion": 3, "packages": {
        "node_modules/@comfyorg/litegraph": {"version": "0.17.2", "resolved": url,
                                             "integrity": integrity}}}))
    return path


GOOD = {"package/dist/litegraph.es.js": b"export const LiteGraph = 1;",
        "package/dist/css/litegraph.css": b".x{}", "package/LICENSE": b"MIT",
        "package/dist/litegraph.umd.js": b"not wanted", "package/../../evil.js": b"no"}


def test_the_committed_lock_pins_litegraph_exactly() -> None:
    pin = fetch_web_deps.read_pin(ROOT / "web" / "package-lock.json")
    assert pin.version == "0.17.2"
    assert pin.resolved == \
        "https://registry.npmjs.org/@comfyorg/litegraph/-/litegraph-0.17.2.tgz"
    assert pin.integrity.startswith("sha512-")
    manifest = json.loads((ROOT / "web" / "package.json").read_text())
    assert manifest["dependencies"] == {"@comfyorg/litegraph": "0.17.2"}


def test_fetch_checks_integrity_and_unpacks_only_wanted_files(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    data = tarball(GOOD)
    calls: list[str] = []
    monkeypatch.setattr(fetch_web_deps, "download", lambda url: calls.append(url) or data)
    lock = write_lock(tmp_path / "package-lock.json", sri(data))
    target = tmp_path / "vendor" / "litegraph"
    fetch_web_deps.fetch(lock, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) \
        == [".integrity", "LICENSE", "css/litegraph.css", "litegraph.es.js"]
    assert not (tmp_path / "evil.js").exists()
    fetch_web_deps.fetch(lock, target)  # already there: no second download
    assert len(calls) == 1


def test_a_tampered_tarball_is_refused_and_nothing_is_written(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    data = tarball(GOOD)
    monkeypatch.setattr(fetch_web_deps, "download", lambda url: data + b"x")
    lock = write_lock(tmp_path / "package-lock.json", sri(data))
    target = tmp_path / "vendor" / "litegraph"
    with pytest.raises(fetch_web_deps.FetchError, match="integrity mismatch"):
        fetch_web_deps.fetch(lock, target)
    assert not target.exists()
    assert list((tmp_path / "vendor").iterdir()) == []  # the staging folder is gone


def test_non_https_urls_are_refused(tmp_path: Path) -> None:
    lock = write_lock(tmp_path / "package-lock.json", "sha512-x", "http://example.invalid/a.tgz")
    with pytest.raises(fetch_web_deps.FetchError, match="non-https"):
        fetch_web_deps.read_pin(lock)
