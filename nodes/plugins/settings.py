"""Where node packs come from and which may load: one frozen, picklable value, so any process
(the server, ``latentgraph run``, a worker) loads the same packs the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CUSTOM_NODES = "custom_nodes"


@dataclass(frozen=True)
class PluginSettings:
    """``folders``: custom-nodes folders, scanned in order (``<base>/custom_nodes`` first, then
    each ``--custom-nodes DIR``); ``modules``: ``--node-pack`` specs (``MODULE`` or
    ``MODULE:FUNCTION``), always loaded; ``disable_custom_nodes``: skip every folder pack except
    those named in ``allow`` (ComfyUI's ``--disable-all-custom-nodes`` with its whitelist)."""

    folders: tuple[Path, ...] = ()
    modules: tuple[str, ...] = ()
    disable_custom_nodes: bool = False
    allow: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_base(cls, base: Path, extra_folders: Iterable[Path] = (),
                 modules: Iterable[str] = (), *, disable_custom_nodes: bool = False,
                 allow: Iterable[str] = ()) -> PluginSettings:
        """``<base>/custom_nodes`` (when it exists) plus the given folders."""
        folders = [Path(base) / CUSTOM_NODES, *(Path(f) for f in extra_folders)]
        unique = list(dict.fromkeys(f.resolve() for f in folders))
        return cls(tuple(unique), tuple(modules), disable_custom_nodes, frozenset(allow))

    def allows(self, pack: str) -> bool:
        return not self.disable_custom_nodes or pack in self.allow

    @property
    def empty(self) -> bool:
        return not self.modules and not any(f.is_dir() for f in self.folders)
