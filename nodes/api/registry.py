"""The node Registry: an object built and passed in, never a module global."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nodes.api.context import Folders, SchemaContext
from nodes.api.node import Hidden, Node
from nodes.api.packs import PackReport
from nodes.api.ports import ModelFiles, UnwiredModelFiles
from nodes.api.sampling_table import SamplingTable

_HIDDEN_NAMES = {
    Hidden.PROMPT: "prompt",
    Hidden.EXTRA_PNGINFO: "extra_pnginfo",
    Hidden.UNIQUE_ID: "unique_id",
}


_PACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

LEGACY_ALIASES: Mapping[str, str] = MappingProxyType({
    # older ComfyUI releases registered it with a trailing space; shared workflows carry it
    "ConditioningAverage ": "ConditioningAverage",
})
"""Old node type names that prompts still use -> the registered name they stand for. ``get``
and ``in`` accept them (when the target is registered); ``names`` and ``object_info`` never
list them."""


class UnknownNodeError(KeyError):
    """A node type that no registered pack provides."""

    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name

    def __str__(self) -> str:
        return f"node type {self.type_name!r} does not exist"


class DuplicateNodeError(ValueError):
    """Two node classes claim one type name."""


class Registry:
    """Node classes by type name, with the module each came from, plus what node packs add
    besides nodes: samplers and schedulers (``samplers``) and front-end folders.

    Built-in nodes register exactly the way plugin packs do. ``folders`` and ``model_files``
    are what file and model pickers list (the :class:`SchemaContext` of every choice).
    """

    def __init__(self, *, folders: Folders | None = None,
                 model_files: ModelFiles | None = None) -> None:
        self._nodes: dict[str, type[Node]] = {}
        self._modules: dict[str, str] = {}
        self._instances: dict[str, Node] = {}
        self._web_dirs: dict[str, Path] = {}
        self._packs: dict[str, PackReport] = {}
        self.samplers = SamplingTable()
        self.schema = SchemaContext(folders=folders,
                                    model_files=model_files or UnwiredModelFiles(),
                                    sampling=self.samplers)

    def register(self, node: type[Node], *, module: str = "nodes") -> type[Node]:
        if not (isinstance(node, type) and issubclass(node, Node)):
            raise TypeError(f"register() takes a Node subclass, got {node!r}")
        _check_declaration(node)
        if node.type_name in self._nodes and self._nodes[node.type_name] is not node:
            raise DuplicateNodeError(
                f"node type {node.type_name!r} from {module!r} is already registered "
                f"by {self._modules[node.type_name]!r}"
            )
        self._nodes[node.type_name] = node
        self._modules[node.type_name] = module
        return node

    def register_all(self, nodes: list[type[Node]], *, module: str = "nodes") -> None:
        for node in nodes:
            self.register(node, module=module)

    def get(self, type_name: str) -> type[Node]:
        try:
            return self._nodes[self.canonical(type_name)]
        except (KeyError, TypeError):
            raise UnknownNodeError(str(type_name)) from None

    def canonical(self, type_name: str) -> str:
        """The registered name behind a legacy alias (:data:`LEGACY_ALIASES`); other names
        unchanged. An alias whose target is not registered stays unknown."""
        target = LEGACY_ALIASES.get(type_name) if isinstance(type_name, str) else None
        return target if target is not None and target in self._nodes else type_name

    def instance(self, type_name: str) -> Node:
        """The one instance of a node class (nodes keep no per-job state)."""
        if type_name not in self._instances:
            self._instances[type_name] = self.get(type_name)()
        return self._instances[type_name]

    def __contains__(self, type_name: object) -> bool:
        if not isinstance(type_name, str):
            return False
        return self.canonical(type_name) in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def names(self) -> list[str]:
        return list(self._nodes)

    def register_web_directory(self, pack: str, path: Path) -> None:
        """A folder of front-end files (ComfyUI's ``WEB_DIRECTORY``) a node pack exposes; the
        editor loads its ``.js`` files (``/extensions``)."""
        if not _PACK_NAME.fullmatch(pack):
            raise ValueError(f"web directory pack name {pack!r} must match {_PACK_NAME.pattern}")
        folder = Path(path).resolve()
        if not folder.is_dir():
            raise ValueError(f"web directory of pack {pack!r} is not a folder: {str(path)!r}")
        self._web_dirs[pack] = folder

    def web_directories(self) -> dict[str, Path]:
        return dict(self._web_dirs)

    def add_pack_report(self, report: PackReport) -> None:
        """How loading a node pack went (``nodes.plugins``); a later report of the same pack
        name replaces the earlier one."""
        self._packs[report.name] = report

    def pack_reports(self) -> list[PackReport]:
        """Every node pack's report, in loading order."""
        return list(self._packs.values())

    def object_info(self) -> dict[str, dict[str, Any]]:
        """ComfyUI's ``/object_info`` dict for every registered node."""
        return {name: self.node_info(name) for name in self._nodes}

    def node_info(self, type_name: str) -> dict[str, Any]:
        """ComfyUI's V1 definition dict for one node, generated from its declaration."""
        node = self.get(type_name)
        type_name = node.type_name
        schema = self.schema
        required = {i.name: i.v1(schema) for i in node.inputs if not i.optional}
        optional = {i.name: i.v1(schema) for i in node.inputs if i.optional}
        hidden = {_HIDDEN_NAMES[h]: h.value for h in Hidden if h in node.hidden}  # ComfyUI order
        sections: dict[str, dict[str, Any]] = {"required": required, "optional": optional,
                                               "hidden": hidden}
        present = {k: v for k, v in sections.items() if v or k == "required"}
        info: dict[str, Any] = {
            "input": present,
            "input_order": {k: list(v) for k, v in present.items()},
            "output": [o.type_name for o in node.outputs],
            "output_is_list": [o.is_list for o in node.outputs],
            "output_name": [o.display_name for o in node.outputs],
            "output_tooltips": [o.tooltip for o in node.outputs],
            "name": node.type_name,
            "display_name": node.display_name or node.type_name,
            "description": node.description(),
            "python_module": self._modules[type_name],
            "category": node.category,
            "output_node": node.output_node,
        }
        if node.deprecated:
            info["deprecated"] = True
        if node.experimental:
            info["experimental"] = True
        return node.extend_info(info)


def _check_declaration(node: type[Node]) -> None:
    names = [i.name for i in node.inputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"node {node.type_name!r} declares inputs {duplicates} twice")
    reserved = {"ctx"} & set(names)
    if reserved:
        raise ValueError(f"node {node.type_name!r}: input name {sorted(reserved)} is reserved")
    _check_run_signature(node, names)


def _check_run_signature(node: type[Node], names: list[str]) -> None:
    """``run(self, ctx, ...)`` must take every declared input by name and need nothing else."""
    params = list(inspect.signature(node.run).parameters.values())[1:]  # without self
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY,
                                            params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"node {node.type_name!r}: run() must take the run context first")
    named = {p.name: p for p in params[1:]
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    missing = [n for n in names if n not in named and not takes_any]
    if missing:
        raise TypeError(f"node {node.type_name!r}: run() does not take declared input "
                        f"{missing[0]!r} (declared: {names})")
    extra = [p.name for p in named.values() if p.name not in names and p.default is p.empty]
    if extra:
        raise TypeError(f"node {node.type_name!r}: run() needs {extra[0]!r}, which is not a "
                        f"declared input (declared: {names})")
