"""Server settings: folders, binding, security and limits. Built by the CLI or by tests."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

COMFYUI_VERSION = "0.3.64"  # the ComfyUI release whose API and nodes we follow
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CRASH_POLICIES = ("interrupt", "requeue")
MODEL_FOLDERS = (
    "checkpoints", "clip", "clip_vision", "configs", "controlnet", "diffusion_models",
    "embeddings", "loras", "text_encoders", "unet", "upscale_models", "vae", "vae_approx",
)


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs besides the engine and the registry."""

    base_dir: Path
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    user_dir: Path
    models_dir: Path
    db_path: Path
    # Search paths per model folder (first wins a name), from the composition root's model
    # folders (extra_model_paths.yaml, the embedded demo model); a folder not named here lists
    # ``models_dir / folder``.
    model_roots: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8188
    token: str | None = None
    insecure_no_auth: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()
    max_upload_bytes: int = 100 * 2**20
    max_body_bytes: int = 16 * 2**20  # JSON bodies (/prompt, /run …) and userdata files
    max_json_depth: int = 64
    start_empty_if_damaged: bool = False  # a damaged job database is set aside (a copy kept)
    max_image_pixels: int = 64 * 2**20
    history_limit: int = 10_000
    on_crash: str = "interrupt"
    run_timeout_s: float = 600.0
    preview_interval_s: float = 0.1
    preview_method: str = "none"  # none|auto|latent2rgb|taesd; a prompt may ask for another
    frontend_root: Path | None = None  # the official frontend's static folder (None: our editor)
    template_folders: tuple[Path, ...] = ()  # installed workflow templates (server.templates)
    shutdown_grace_s: float = 30.0
    ws_queue_limit: int = 10_000
    version: str = "0.1.0"
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.on_crash not in CRASH_POLICIES:
            raise ValueError(f"unknown on_crash {self.on_crash!r}; choose one of {CRASH_POLICIES}")
        if self.history_limit < 1:
            raise ValueError(f"history_limit must be at least 1, got {self.history_limit}")
        if self.max_body_bytes < 1 or self.max_json_depth < 1:
            raise ValueError(f"max_body_bytes ({self.max_body_bytes}) and max_json_depth "
                             f"({self.max_json_depth}) must be at least 1")

    @classmethod
    def under(cls, base_dir: Path, models_dir: Path | None = None, **options: object
              ) -> ServerSettings:
        """Settings for a base folder holding input/, output/, temp/, user/, models/, jobs.db."""
        base = Path(base_dir).resolve()
        folders = {
            "input_dir": base / "input", "output_dir": base / "output",
            "temp_dir": base / "temp", "user_dir": base / "user",
            "models_dir": Path(models_dir).resolve() if models_dir else base / "models",
        }
        for path in folders.values():
            path.mkdir(parents=True, exist_ok=True)
        (folders["user_dir"] / "default").mkdir(exist_ok=True)
        return cls(base_dir=base, db_path=base / "jobs.db", **folders, **options)  # type: ignore[arg-type]

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    @property
    def body_limit(self) -> int:
        """The size limit of a JSON or userdata body: ``max_body_bytes``, and never more than
        ``max_upload_bytes`` (ComfyUI's limit of every request)."""
        return min(self.max_body_bytes, self.max_upload_bytes)

    def model_search_paths(self, folder: str) -> tuple[Path, ...]:
        """Where ``/models/{folder}`` looks, in order."""
        return tuple(self.model_roots.get(folder, (self.models_dir / folder,)))

    def folder(self, kind: str) -> Path:
        """The root of an ``input|output|temp`` file type."""
        roots = {"input": self.input_dir, "output": self.output_dir, "temp": self.temp_dir}
        return roots[kind]
