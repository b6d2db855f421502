"""``latentgraph run``: run one workflow file, show progress, print outputs and a summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from executor.errors import PromptError
from executor.events import Event, NodeProgress, NodeStarted
from executor.jobs import JobOutcome, JobRequest
from latentgraph.app import build_engine, build_registry, default_model_folders, folders_under
from latentgraph.cli_plugins import load_cli_plugins
from nodes.api import Folders, Registry

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or the workflow file, shown without a traceback."""


class ProgressBar:
    """Draws a one-line progress bar on a terminal for nodes that report progress."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.types: dict[str, str] = {}
        self.drawn = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeStarted):
            self.types[event.node_id] = event.node_type
            self.end_line()
        elif isinstance(event, NodeProgress) and self.enabled and event.max > 0:
            filled = int(30 * event.value / event.max)
            label = f"{event.node_id} {self.types.get(event.node_id, '')}"
            self.stream.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] "
                              f"{event.value:g}/{event.max:g}")
            self.stream.flush()
            self.drawn = True

    def end_line(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def load_workflow(path: Path, registry: Registry) -> tuple[dict[str, Any], dict[str, Any]]:
    """(API prompt, extra_pnginfo) from a file in either format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read workflow {str(path)!r}: {exc}") from exc
    from executor.ui_workflow import WorkflowConversionError, convert_ui_workflow, is_ui_workflow

    if isinstance(data, dict) and is_ui_workflow(data):
        try:
            return convert_ui_workflow(data, registry), {"workflow": data}
        except WorkflowConversionError as exc:
            raise UsageError(f"cannot convert UI workflow {str(path)!r}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        extra = data.get("extra_data", {}).get("extra_pnginfo", {})
        return data["prompt"], extra if isinstance(extra, dict) else {}
    if not isinstance(data, dict):
        raise UsageError(f"workflow {str(path)!r} is not a JSON object")
    return data, {}


def _find_node(prompt: dict[str, Any], ref: str) -> str:
    if ref in prompt:
        return ref
    titled = [nid for nid, n in prompt.items()
              if isinstance(n, dict) and (n.get("_meta") or {}).get("title") == ref]
    if len(titled) == 1:
        return titled[0]
    if titled:
        raise UsageError(f"--set: title {ref!r} names several nodes {titled}; use an id")
    raise UsageError(f"--set: no node with id or title {ref!r}")


def apply_overrides(prompt: dict[str, Any], overrides: list[str]) -> None:
    """Apply ``NODE.INPUT=VALUE`` overrides; VALUE is parsed as JSON, else taken as text."""
    for item in overrides:
        target, sep, raw = item.partition("=")
        node_ref, dot, input_name = target.rpartition(".")
        if not sep or not dot or not node_ref or not input_name:
            raise UsageError(f"--set expects NODE.INPUT=VALUE, got {item!r}")
        node_id = _find_node(prompt, node_ref)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        prompt[node_id].setdefault("inputs", {})[input_name] = value


def format_validation_error(error: PromptError) -> str:
    """A readable report: node id, class, input, message, expected and received."""
    lines = [f"error: {error.message}" + (f" ({error.details})" if error.details and
                                          not error.node_errors else "")]
    for node_id, entry in error.node_errors.items():
        for issue in entry["errors"]:
            info = issue.get("extra_info", {})
            where = f"node {node_id} ({entry['class_type']})"
            if info.get("input_name"):
                where += f" input {info['input_name']!r}"
            lines.append(f"  {where}: {issue['message']} — {issue['details']}")
            if info.get("input_config") is not None:
                lines.append(f"      expected: {json.dumps(info['input_config'])}")
            for key in ("received_value", "received_type"):
                if key in info:
                    lines.append(f"      received: {info[key]!r}")
    return "\n".join(lines)


def output_paths(result: JobOutcome, folders: Folders) -> list[Path]:
    roots = {"output": folders.output, "temp": folders.temp, "input": folders.input}
    paths = []
    for ui in result.outputs.values():
        for items in ui.values():
            for item in items:
                if isinstance(item, dict) and "filename" in item:
                    root = roots.get(item.get("type", "output"), folders.output)
                    paths.append(root / item.get("subfolder", "") / item["filename"])
    return paths


def _report(result: JobOutcome, folders: Folders, args: argparse.Namespace, seconds: float) -> None:
    out = sys.stdout
    if args.json:
        json.dump({"status": result.status, "outputs": result.outputs,
                   "summaries": result.summaries, "executed": result.executed,
                   "cached": result.cached,
                   "reasons": {k: v.value for k, v in result.reasons.items()},
                   "error": result.failure.to_dict() if result.failure else None},
                  out, indent=2, default=str)
        out.write("\n")
        return
    for path in output_paths(result, folders):
        out.write(f"{path}\n")
    for node_id, summary in result.summaries.items():
        out.write(f"node {node_id}: {'; '.join(summary)}\n")
    if args.explain:
        for node_id, reason in result.reasons.items():
            out.write(f"  {node_id:>8} {result.timings.get(node_id, 0.0):8.3f}s  {reason.value}\n")
    out.write(f"{result.status}: {len(result.executed)} nodes executed, "
              f"{len(result.cached)} reused, {seconds:.2f} s\n")


def _failure_text(result: JobOutcome) -> str:
    if result.status == "interrupted":
        return f"interrupted at node {result.interrupted_at}"
    failure = result.failure
    assert failure is not None
    return (f"error: node {failure.node_id} ({failure.node_type}) failed: "
            f"{failure.exception_type}: {failure.message}\n" + "".join(failure.traceback))


def run_command(args: argparse.Namespace, registry: Registry | None) -> int:
    folders = folders_under(args.base_dir, args.output_dir)
    model_folders = default_model_folders(folders, args.models_dir)
    registry = registry if registry is not None else build_registry(
        folders, model_folders, noise_compat=args.comfy_noise)
    try:
        load_cli_plugins(registry, args, args.base_dir, sys.stderr)
    except ValueError as exc:  # a malformed --node-pack
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_INVALID
    try:
        prompt, extra = load_workflow(args.workflow, registry)
        apply_overrides(prompt, args.overrides)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_INVALID
    engine = build_engine(registry, folders, model_folders=model_folders)
    bar = ProgressBar(sys.stderr)
    request = JobRequest(uuid.uuid4().hex, prompt, tuple(args.targets) if args.targets else None,
                         args.strict, frozenset(args.force), extra)
    started = time.perf_counter()
    try:
        result = engine.execute(request, bar)
    except PromptError as exc:
        sys.stderr.write(format_validation_error(exc) + "\n")
        return EXIT_INVALID
    bar.end_line()
    if result.node_errors:
        sys.stderr.write("warning: some outputs were skipped:\n" + format_validation_error(
            PromptError("partial", "outputs failed validation", node_errors=result.node_errors)
        ) + "\n")
    _report(result, folders, args, time.perf_counter() - started)
    if not result.ok:
        sys.stderr.write(_failure_text(result) + "\n")
        return EXIT_FAILED
    return EXIT_OK
