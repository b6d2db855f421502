"""Fetch the editor's pinned third-party files into ``web/vendor/`` (stdlib only, no Node).

The package, its tarball URL and its sha512 ``integrity`` come from ``web/package-lock.json``
(written by npm). The tarball is downloaded, checked against the integrity hash, and only the
files the editor serves are unpacked into ``web/vendor/litegraph/``. A stamp file records the
integrity, so a second run does nothing. If ``npm ci`` already filled ``web/node_modules``,
those files are copied instead (npm checked them). Exit status 0 on success, 1 on failure.

    python scripts/fetch_web_deps.py [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("fetch_web_deps")

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
PACKAGE = "@comfyorg/litegraph"
TARGET = WEB / "vendor" / "litegraph"
STAMP = ".integrity"
# tarball member (under package/) -> path under TARGET
WANTED = {
    "dist/litegraph.es.js": "litegraph.es.js",
    "dist/css/litegraph.css": "css/litegraph.css",
    "LICENSE": "LICENSE",
    "package.json": "package.json",
}
REQUIRED = ("litegraph.es.js", "css/litegraph.css")
MAX_TARBALL_BYTES = 64 * 2**20


class FetchError(RuntimeError):
    """The pinned package could not be fetched or did not match its integrity hash."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    resolved: str
    integrity: str


def read_pin(lock_path: Path, name: str = PACKAGE) -> Pin:
    """The locked version, tarball URL and integrity of ``name``."""
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    entry = lock.get("packages", {}).get(f"node_modules/{name}")
    if not isinstance(entry, dict):
        raise FetchError(f"{name!r} is not in {lock_path}")
    missing = [k for k in ("version", "resolved", "integrity") if not entry.get(k)]
    if missing:
        raise FetchError(f"{name!r} in {lock_path} lacks {missing}")
    if not str(entry["resolved"]).startswith("https://"):
        raise FetchError(f"refusing a non-https tarball URL {entry['resolved']!r}")
    return Pin(name, entry["version"], entry["resolved"], entry["integrity"])


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise unless ``data`` matches an SRI string such as ``sha512-<base64>``."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise FetchError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise FetchError(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def download(url: str) -> bytes:
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https checked)
        data = response.read(MAX_TARBALL_BYTES + 1)
    if len(data) > MAX_TARBALL_BYTES:
        raise FetchError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
    return data


def unpack(tarball: bytes, target: Path) -> None:
    """Write the wanted regular files of an npm tarball into ``target``."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/")
            if name not in WANTED or not member.isfile():
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            out = target / WANTED[name]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(source.read())


def copy_from_node_modules(package_dir: Path, target: Path) -> None:
    for name, dest in WANTED.items():
        source = package_dir / name
        if source.is_file():
            (target / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / dest)


def installed(target: Path, pin: Pin) -> bool:
    stamp = target / STAMP
    return stamp.is_file() and stamp.read_text().strip() == pin.integrity and all(
        (target / name).is_file() for name in REQUIRED)


def fetch(lock_path: Path = WEB / "package-lock.json", target: Path = TARGET, *,
          force: bool = False) -> Path:
    """Make ``target`` hold the pinned files; returns it."""
    pin = read_pin(lock_path)
    if not force and installed(target, pin):
        log.info("%s %s already in %s", pin.name, pin.version, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    staging.chmod(0o755)
    try:
        modules = lock_path.parent / "node_modules" / pin.name
        manifest = modules / "package.json"
        if manifest.is_file() and json.loads(manifest.read_text())["version"] == pin.version:
            log.info("copying %s %s from %s", pin.name, pin.version, modules)
            copy_from_node_modules(modules, staging)
        else:
            tarball = download(pin.resolved)
            check_integrity(tarball, pin.integrity)
            unpack(tarball, staging)
        missing = [name for name in REQUIRED if not (staging / name).is_file()]
        if missing:
            raise FetchError(f"{pin.name} {pin.version} lacks {missing}")
        (staging / STAMP).write_text(pin.integrity + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log.info("%s %s ready in %s", pin.name, pin.version, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch even if already present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fetch_web_deps: %(message)s")
    try:
        fetch(force=args.force)
    except (FetchError, OSError, ValueError, tarfile.TarError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
