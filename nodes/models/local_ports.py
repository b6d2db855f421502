"""The local implementations of the model ports, and their builder (``local_ports``).

``ctx.models`` is the ``ModelManager`` (one per engine: a file is opened once, weights are read on
demand under a memory budget), ``ctx.model_files`` the ``ModelFolders`` the pickers list,
``ctx.text`` a :class:`SharedText` holding the CLIP tokenizer (built on first use, once).
Nodes never build these themselves; the composition root wires them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from diffusion.dtypes import keeps_half
from diffusion.memory import ModelManager, device_dtype_policy
from diffusion.text.tokenizer import CLIPTokenizer
from nodes.api import Ports
from nodes.models.extra_paths import add_extra_paths
from nodes.models.folders import ModelFolders
from nodes.models.sources import open_model_file

logger = logging.getLogger(__name__)

_DEFAULT_RAM_SHARE = 0.5
IDLE_SHARE = 16  # idle models keep at most budget / IDLE_SHARE while a sampler runs (CPU)


class TokenizerCache:
    """The CLIP tokenizer, built on first use (reading its vocabulary takes ~0.5 s), once.

    It is itself a ``TextTokenizer`` (``bos_id``, ``eos_id``, ``encode``), so a CLIP payload can
    hold it while the loader that made the payload stays cheap.
    """

    def __init__(self, factory: Callable[[], CLIPTokenizer] = CLIPTokenizer) -> None:
        self._factory = factory
        self._tokenizer: CLIPTokenizer | None = None
        self._lock = threading.Lock()
        self.builds = 0

    def get(self) -> CLIPTokenizer:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._factory()
                self.builds += 1
            return self._tokenizer

    @property
    def bos_id(self) -> int:
        return self.get().bos_id

    @property
    def eos_id(self) -> int:
        return self.get().eos_id

    def encode(self, text: str) -> list[int]:
        return self.get().encode(text)


class SharedText:
    """The ``TextSource`` port: the one CLIP tokenizer every CLIP payload of the engine uses."""

    def __init__(self, tokenizer: TokenizerCache | None = None) -> None:
        self.tokenizer = tokenizer or TokenizerCache()

    def clip_tokenizer(self) -> TokenizerCache:
        return self.tokenizer


def model_folders(models_dir: Path, extra_paths: Sequence[Path] = ()) -> ModelFolders:
    """ComfyUI's layout under ``models_dir`` plus each ``extra_model_paths.yaml`` given."""
    folders = ModelFolders.under(models_dir)
    for path in extra_paths:
        add_extra_paths(folders, path)
    return folders


def default_budget(device: torch.device) -> int:
    """Half the accelerator's memory, or half the RAM on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory * _DEFAULT_RAM_SHARE)
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    total = pages * os.sysconf("SC_PAGE_SIZE") if pages > 0 else 8 << 30
    return int(total * _DEFAULT_RAM_SHARE)


def local_ports(
    folders: ModelFolders,
    *,
    device: torch.device | str | None = None,
    budget_bytes: int | None = None,
    dtype: torch.dtype | None = None,
    text: SharedText | None = None,
    keep_half: bool | None = None,
    sampling_idle_bytes: int | None | Literal["auto"] = "auto",
) -> Ports:
    """The ports of a local engine: a ModelManager on ``device`` (default: CUDA when present),
    ``folders``, the shared tokenizer and the device description.

    ``dtype`` None: per component and family (``diffusion.dtypes``: fp32 on CPU). ``keep_half``
    None: fp16/bf16 weights stay as stored and are upcast per layer on CPU
    (``diffusion.dtypes.keeps_half``). ``sampling_idle_bytes`` (see ``ModelManager``) "auto":
    where half weights are kept, a sixteenth of the budget (when a sampler starts, idle text
    encoders, VAEs and other UNets beyond that are dropped, least recently used first; mapping
    them again from the page cache is nearly free), else None (kept until the budget is needed).
    """
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    budget = budget_bytes if budget_bytes is not None else default_budget(target)
    keep = keeps_half(target) if keep_half is None else keep_half
    idle = ((budget // IDLE_SHARE if keep else None) if sampling_idle_bytes == "auto"
            else sampling_idle_bytes)
    manager = ModelManager(budget_bytes=budget, device=target,
                           dtype=dtype or device_dtype_policy(target), opener=open_model_file,
                           keep_half=keep, sampling_idle_bytes=idle)
    logger.info("model manager on %s, budget %.1f GiB, half weights %s, idle while sampling %s",
                target, budget / 2**30, "kept" if keep else "converted", idle)
    return Ports(models=manager, model_files=folders, text=text or SharedText(),
                 devices=lambda: describe_devices(target))


def describe_devices(device: torch.device) -> list[dict[str, Any]]:
    """ComfyUI's ``/system_stats`` device entries for the compute device."""
    entry: dict[str, Any] = {"name": str(device), "type": device.type, "index": device.index}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        entry.update(vram_total=total, vram_free=free, torch_vram_total=total,
                     torch_vram_free=free, name=torch.cuda.get_device_name(device))
    else:
        entry.update(vram_total=0, vram_free=0, torch_vram_total=0, torch_vram_free=0)
    return [entry]
