"""``load_lora_file``: a LoRA file's tensors (on the CPU), metadata and identity.

Containers: ``.safetensors`` / ``.sft`` (read with safetensors) and ``.pt`` / ``.pth`` /
``.ckpt`` / ``.bin`` read with ``torch.load(weights_only=True)`` only: a pickle that needs
anything beyond tensors and plain containers is refused, never unpickled. The identity of a file
is (resolved path, size, mtime_ns), so patch identities never hash tensor bytes; an in-memory
state dict is identified by a digest of its tensors and metadata instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from diffusion.patching.lora.errors import LoraFileError
from diffusion.patching.patches import Identity, tensor_digest

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True, eq=False)
class LoraFile:
    """A LoRA file's tensors (CPU, the file's dtypes), string metadata and identity."""

    name: str  # the path, or a label for an in-memory state dict (for messages)
    tensors: Mapping[str, Tensor]
    metadata: Mapping[str, str]
    identity: Identity  # ("file", path, size, mtime_ns) or ("memory", sha256)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {key: tuple(t.shape) for key, t in self.tensors.items()}


def _only_tensors(obj: object, name: str) -> dict[str, Tensor]:
    """The flat ``{key: tensor}`` of a loaded pickle (top level or a nested ``state_dict``)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise LoraFileError(f"{name}: holds a {type(obj).__name__}, not a dict of tensors")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    dropped = sorted(str(k) for k, v in obj.items() if not isinstance(v, Tensor))
    if dropped:
        logger.debug("%s: ignoring %d non-tensor entries %s", name, len(dropped), dropped[:5])
    return tensors


def _read_pickle(path: Path) -> dict[str, Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise LoraFileError(
            f"{path}: refused, the pickle needs objects beyond tensors that would have to be "
            f"unpickled unsafely ({str(exc).splitlines()[0]}); convert it to safetensors with a "
            "trusted tool"
        ) from exc
    except (RuntimeError, EOFError, ValueError, KeyError) as exc:
        raise LoraFileError(f"{path}: not a readable torch file ({exc!r})") from exc
    return _only_tensors(obj, str(path))


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = safetensors.torch.load_file(str(path), device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise LoraFileError(f"{path}: not a readable safetensors file ({exc})") from exc
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def load_lora_file(path: str | Path) -> LoraFile:
    """Reads a LoRA / LyCORIS file; the container is chosen by extension, the format by keys."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"LoRA path={str(path)!r} is not a file")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        tensors, metadata = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        tensors, metadata = _read_pickle(path), {}
    else:
        raise LoraFileError(
            f"{path}: unknown extension {suffix!r}; expected one of "
            f"{sorted(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}"
        )
    stat = path.stat()
    logger.debug("read %s: %d tensors", path, len(tensors))
    identity = ("file", str(path), stat.st_size, stat.st_mtime_ns)
    return LoraFile(str(path), tensors, metadata, identity)


def _state_digest(tensors: Mapping[str, Tensor], metadata: Mapping[str, str]) -> str:
    hasher = hashlib.sha256(json.dumps(sorted(metadata.items())).encode())
    for key in sorted(tensors):
        hasher.update(f"{key}={tensor_digest(tensors[key])};".encode())
    return hasher.hexdigest()


def lora_from_state_dict(
    state: Mapping[str, Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    name: str = "<state dict>",
) -> LoraFile:
    """An in-memory LoRA; its identity is a digest of every tensor and the metadata."""
    bad = sorted(str(k) for k, v in state.items() if not isinstance(v, Tensor))
    if bad:
        raise TypeError(f"state dict values must be tensors; not for keys {bad[:5]}")
    tensors = {str(k): v.detach().to("cpu") for k, v in state.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    return LoraFile(name, tensors, meta, ("memory", _state_digest(tensors, meta)))


__all__ = ["LoraFile", "load_lora_file", "lora_from_state_dict"]
