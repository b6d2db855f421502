"""The ``latentgraph`` command. ``main(argv)`` is callable in-process (tests need no subprocess)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from nodes.api import Registry

HELP = argparse.ArgumentDefaultsHelpFormatter  # every --help shows the defaults


def version() -> str:
    try:
        return metadata.version("latentgraph")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def add_noise_compat(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--comfy-noise", choices=("current", "legacy"), default="current",
        help="seeding of the CPU step noise of ancestral samplers, ddpm and lcm: 'current' as "
             "ComfyUI releases after v0.3.64 (seed + 1), 'legacy' as v0.3.64 and older (seed)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentgraph", description="Node-graph workflow engine for latent diffusion.",
        formatter_class=HELP,
    )
    parser.add_argument("--version", action="version", version=f"latentgraph {version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a workflow file (ComfyUI API or UI format) once and exit",
        formatter_class=HELP,
    )
    run.add_argument("workflow", type=Path, help="workflow JSON file")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE",
        help="override an input of a node (by id or title); VALUE is JSON or plain text",
    )
    run.add_argument("--output-dir", type=Path, default=None, help="where outputs are written")
    run.add_argument("--base-dir", type=Path, default=Path.cwd(),
                     help="folder holding input/, output/, temp/ and models/")
    run.add_argument("--models-dir", type=Path, default=None,
                     help="ComfyUI-style models folder (None: BASE_DIR/models)")
    run.add_argument("--target", dest="targets", action="append", default=None,
                     metavar="NODE", help="run only this node and what it needs (repeatable)")
    run.add_argument("--force", action="append", default=[], metavar="NODE",
                     help="re-execute this node even if cached (repeatable)")
    run.add_argument("--strict", action="store_true",
                     help="refuse to run if any requested output fails validation")
    run.add_argument("--explain", action="store_true",
                     help="list why each node ran or was reused")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    add_noise_compat(run)
    from latentgraph.cli_plugins import add_plugin_arguments

    add_plugin_arguments(run)
    from latentgraph.cli_serve import add_serve_parser

    add_serve_parser(commands)
    from latentgraph.cli_db import add_db_parser

    add_db_parser(commands)
    from latentgraph.cli_tools import add_make_checkpoint_parser

    add_make_checkpoint_parser(commands)
    from latentgraph.cli_train import add_train_demo_parser

    add_train_demo_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, registry: Registry | None = None) -> int:
    """Entry point; returns the exit status. ``registry`` replaces the built-in one (tests)."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "run":
        from latentgraph.cli_run import run_command

        return run_command(args, registry)
    if args.command == "serve":
        from latentgraph.cli_serve import serve_command

        return serve_command(args, registry)
    if args.command == "db":
        from latentgraph.cli_db import db_command

        return db_command(args)
    if args.command == "make-checkpoint":
        from latentgraph.cli_tools import make_checkpoint_command

        return make_checkpoint_command(args)
    if args.command == "train-demo":
        from latentgraph.cli_train import train_demo_command

        return train_demo_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
