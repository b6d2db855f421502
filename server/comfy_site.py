"""The official ComfyUI frontend as an optional UI (``latentgraph serve --frontend comfyui``).

The frontend is GPL-3.0 and never shipped with latentgraph: the user installs
``comfyui-frontend-package`` and we serve its ``static/`` folder as ComfyUI does (found through
``importlib.resources``, like ComfyUI's ``FrontendManager.default_frontend_path``). ``/`` is its
``index.html``; its other files are served by path, after every API route, with their type,
``nosniff`` and ``no-cache`` (ComfyUI's headers for ``.js``/``.css``). No directory listings,
nothing outside the folder (one containment helper, links resolved).

Our own front-end extension (``comfy_extensions/about.js``, listed by ``/extensions``) adds a
"latentgraph <version>" badge to the About panel, whose core badge always reads "ComfyUI" and
``/system_stats``' ``comfyui_version``; the frontend's own ``extensions/core`` modules are
served at ``/extensions/core/…`` as ComfyUI serves them.

First-run defaults, so that a fresh base folder answers every request the frontend makes at
start with a 200 (a stock ComfyUI answers several of them 404, which the frontend tolerates but
logs as console errors): the default user's ``workflows/`` and ``subgraphs/`` folders, an empty
node-template list ``comfy.templates.json`` and an empty ``user.css`` are created when missing
(never overwritten), ``/user.css``, which index.html links, is an empty stylesheet and
``/favicon.ico`` is the frontend's own icon.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from aiohttp import web

from nodes.api.paths import PathRefusedError, resolve_inside
from server.errors import NotFoundError

PACKAGE = "comfyui_frontend_package"
PIN_HINT = "comfyui-frontend-package==1.27.10"  # the version ComfyUI v0.3.64 requires
EXTENSIONS_DIR = Path(__file__).resolve().parent / "comfy_extensions"
EXTENSION_PACK = "latentgraph"
SITE_TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
    ".css": "text/css", ".map": "application/json", ".json": "application/json",
    ".png": "image/png", ".jpg": "image/jpeg", ".svg": "image/svg+xml", ".ico": "image/x-icon",
    ".webp": "image/webp", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject", ".txt": "text/plain", ".wasm": "application/wasm",
}


class FrontendMissingError(ValueError):
    """``--frontend comfyui`` without the frontend package installed."""


def find_comfyui_frontend() -> Path:
    """The installed frontend's ``static/`` folder, or ``FrontendMissingError`` saying how to
    install it."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise FrontendMissingError(
            "the official ComfyUI frontend is not installed; install it into this environment "
            f"with: python -m pip install {PIN_HINT} (it is GPL-3.0 and not part of "
            "latentgraph), or serve our own editor (leave out --frontend comfyui)")
    root = Path(str(resources.files(PACKAGE) / "static"))
    if not (root / "index.html").is_file():
        raise FrontendMissingError(f"the installed {PACKAGE} has no static/index.html "
                                   f"(looked in {root}); reinstall it: "
                                   f"python -m pip install --force-reinstall {PIN_HINT}")
    return root.resolve()


def site_file(root: Path, tail: str) -> tuple[Path, str]:
    """The file ``tail`` names under the site root, and its type; 404 otherwise."""
    suffix = Path(tail).suffix.lower()
    if suffix not in SITE_TYPES:
        raise NotFoundError("not_found", "No such file", tail)
    try:
        path = resolve_inside(root, tail, what="path")
    except PathRefusedError:
        raise NotFoundError("not_found", "No such file", tail) from None
    if not path.is_file():
        raise NotFoundError("not_found", "No such file", tail)
    return path, SITE_TYPES[suffix]


def _file_response(path: Path, content_type: str) -> web.FileResponse:
    if content_type.startswith("text/") or content_type == "application/json":
        content_type += "; charset=utf-8"
    return web.FileResponse(path, headers={
        "Content-Type": content_type, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache"})


def extension_folders(root: Path | None) -> dict[str, Path]:
    """Front-end folders served at ``/extensions/{pack}/`` besides the node packs': ours, and
    the frontend's own ``core`` modules. Empty without the official frontend."""
    if root is None:
        return {}
    folders = {EXTENSION_PACK: EXTENSIONS_DIR}
    if (root / "extensions" / "core").is_dir():
        folders["core"] = root / "extensions" / "core"
    return folders


FIRST_RUN_FILES = {"comfy.templates.json": "[]\n", "user.css": ""}
FIRST_RUN_FOLDERS = ("workflows", "subgraphs")


def seed_user_folder(user_root: Path) -> None:
    """The first-run defaults of the module docstring, in the default user's folder."""
    for name in FIRST_RUN_FOLDERS:
        (user_root / name).mkdir(parents=True, exist_ok=True)
    for name, text in FIRST_RUN_FILES.items():
        path = user_root / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")


def add_comfy_site(app: web.Application, root: Path) -> None:
    """Serve the frontend at ``/`` and its files by path (add after every API route)."""

    async def index(request: web.Request) -> web.StreamResponse:
        return _file_response(root / "index.html", "text/html")

    async def favicon(request: web.Request) -> web.StreamResponse:  # browsers ask for it
        return _file_response(*site_file(root, "assets/favicon.ico"))

    async def user_css(request: web.Request) -> web.StreamResponse:
        return web.Response(text="", content_type="text/css",
                            headers={"Cache-Control": "no-cache"})

    async def static(request: web.Request) -> web.StreamResponse:
        return _file_response(*site_file(root, request.match_info["tail"]))

    app.router.add_get("/", index)
    app.router.add_get("/user.css", user_css)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/{tail:.+}", static)
