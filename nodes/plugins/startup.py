"""The start-up table of node packs, as ComfyUI prints it: import time per pack, slowest last,
with failed and disabled packs marked; then one line per failed pack saying why."""

from __future__ import annotations

from collections.abc import Iterable

from nodes.api.packs import DISABLED, FAILED, PackReport


def format_import_times(reports: Iterable[PackReport]) -> str:
    """``""`` when there are no packs."""
    reports = list(reports)
    if not reports:
        return ""
    lines = ["Import times for custom nodes:"]
    for report in sorted(reports, key=lambda r: r.seconds):
        mark = {FAILED: " (IMPORT FAILED)", DISABLED: " (DISABLED)"}.get(report.status, "")
        left_out = f" ({len(report.left_out)} nodes left out)" if report.left_out and \
            report.status != DISABLED else ""
        lines.append(f"  {report.seconds:6.3f} seconds{mark}: {report.path}{left_out}")
    for report in reports:
        if report.status == FAILED and report.error is not None:
            lines.append(f"Cannot import {report.path}: {report.error.exception_type}: "
                         f"{report.error.message}")
    return "\n".join(lines)
