"""How stored jobs look on the wire: ComfyUI's queue items, history entries and jobs API items.

``client_id`` is never shown and secrets were never stored.
"""

from __future__ import annotations

from typing import Any

from server.job_store import API_STATUSES, SUCCESS, JobRecord

_STATUS_NAMES = {ours: api for api, group in API_STATUSES.items() for ours in group}
MEDIA_KEYS = ("images", "video", "audio", "gifs", "animated")
_3D_SUFFIXES = (".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply")


def number(value: float) -> int | float:
    """A priority as ComfyUI shows it: integral numbers without ``.0``."""
    return int(value) if float(value).is_integer() else value


def api_status(status: str) -> str:
    return _STATUS_NAMES[status]


def queue_item(record: JobRecord) -> list[Any]:
    """``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""
    return [number(record.number), record.prompt_id, record.prompt, record.extra_data,
            record.outputs_to_execute]


def execution_status(record: JobRecord) -> dict[str, Any]:
    result = record.result or {}
    ok = record.status == SUCCESS
    return {"status_str": "success" if ok else "error", "completed": ok,
            "messages": result.get("messages", [])}


def history_entry(record: JobRecord) -> dict[str, Any]:
    result = record.result or {}
    return {"prompt": queue_item(record), "outputs": result.get("outputs", {}),
            "status": execution_status(record), "meta": result.get("meta", {})}


def _outputs_count(outputs: dict[str, Any]) -> int:
    return sum(len(items) for ui in outputs.values() if isinstance(ui, dict)
               for items in ui.values() if isinstance(items, list))


def _previewable(key: str, item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if key in MEDIA_KEYS:
        return True
    fmt = str(item.get("format", ""))
    name = str(item.get("filename", "")).lower()
    return fmt.startswith(("video/", "audio/")) or name.endswith(_3D_SUFFIXES)


def preview_output(outputs: dict[str, Any]) -> dict[str, Any] | None:
    """The first previewable output item, preferring ``type: output`` ones."""
    found: list[dict[str, Any]] = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for key, items in ui.items():
            for item in items if isinstance(items, list) else []:
                if _previewable(key, item):
                    found.append({**item, "nodeId": node_id, "mediaType": key})
    preferred = [f for f in found if f.get("type") == "output"]
    return (preferred or found or [None])[0]


def job_item(record: JobRecord) -> dict[str, Any]:
    result = record.result or {}
    outputs = result.get("outputs", {})
    status = api_status(record.status)
    item = {
        "id": record.prompt_id, "status": status, "priority": number(record.number),
        "outputs_count": _outputs_count(outputs), "create_time": record.create_time,
        "workflow_id": record.workflow_id, "execution_start_time": record.start_time,
        "execution_end_time": record.end_time,
        "execution_error": result.get("error") if status == "failed" else None,
        "preview_output": preview_output(outputs),
    }
    return {k: v for k, v in item.items() if v is not None}


def job_detail(record: JobRecord) -> dict[str, Any]:
    """A job with everything recorded: outputs, messages, timings, cache reasons, the error."""
    result = record.result or {}
    detail = job_item(record)
    detail.update({
        "outputs": result.get("outputs", {}),
        "execution_status": execution_status(record),
        "workflow": {"prompt": record.prompt, "extra_data": record.extra_data},
        "outputs_to_execute": record.outputs_to_execute,
        "timings": result.get("timings", {}),
        "reasons": result.get("reasons", {}),
        "executed": result.get("executed", []),
        "cached": result.get("cached", []),
        "node_errors": result.get("node_errors", {}),
        "error": result.get("error"),
    })
    return detail
