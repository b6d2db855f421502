"""The node-pack options shared by ``serve`` and ``run``, and loading the packs they name.

Packs load from ``<base-dir>/custom_nodes/``, every ``--custom-nodes DIR`` and every
``--node-pack MODULE[:FUNCTION]`` (and ``LATENTGRAPH_NODE_PACKS``, comma-separated); a pack
that fails is reported in the start-up table and the command goes on with the others.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nodes.api import PackReport, Registry

if TYPE_CHECKING:
    from nodes.plugins.settings import PluginSettings

NODE_PACKS_ENV = "LATENTGRAPH_NODE_PACKS"


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--custom-nodes", dest="custom_nodes", action="append", default=[],
                        type=Path, metavar="DIR",
                        help="also load the node packs in this folder (repeatable; "
                             "BASE_DIR/custom_nodes is always scanned)")
    parser.add_argument("--node-pack", action="append", default=[],
                        metavar="MODULE[:FUNCTION]",
                        help="also load this importable module as a node pack: its "
                             "register(registry), NODE_CLASS_MAPPINGS or comfy_entrypoint "
                             f"(or FUNCTION(registry)); also {NODE_PACKS_ENV}")
    parser.add_argument("--disable-custom-nodes", action="store_true",
                        help="load no pack from the custom-nodes folders except those "
                             "named by --allow-custom-node")
    parser.add_argument("--allow-custom-node", dest="allow_custom_nodes", action="append",
                        default=[], metavar="NAME",
                        help="with --disable-custom-nodes: load this pack anyway (repeatable)")


def plugin_settings(args: argparse.Namespace, base: Path) -> PluginSettings:
    """The packs the options (and ``LATENTGRAPH_NODE_PACKS``) name, as one picklable value: the
    server and its worker process load the same packs from it."""
    from nodes.plugins.settings import PluginSettings

    modules = [p for p in os.environ.get(NODE_PACKS_ENV, "").split(",") if p]
    return PluginSettings.for_base(
        base, args.custom_nodes, [*modules, *args.node_pack],
        disable_custom_nodes=args.disable_custom_nodes, allow=args.allow_custom_nodes)


def load_and_report(registry: Registry, settings: PluginSettings,
                    stream: TextIO | None = None) -> list[PackReport]:
    """Load the packs ``settings`` name into ``registry``; prints ComfyUI's import-time table
    (to ``stream``, default stderr: stdout is for results, and ``serve``'s first stdout line
    is its URL) when there are any."""
    if settings.empty:
        return []
    from nodes.plugins import format_import_times, load_plugins

    reports = load_plugins(registry, settings)
    table = format_import_times(reports)
    if table:
        out = stream or sys.stderr
        out.write(table + "\n")
        out.flush()
    return reports


def load_cli_plugins(registry: Registry, args: argparse.Namespace, base: Path,
                     stream: TextIO | None = None) -> list[PackReport]:
    """Load the packs the options name into ``registry``, printing the import-time table."""
    return load_and_report(registry, plugin_settings(args, base), stream)
