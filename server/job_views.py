"""How stored jobs look on the wire: ComfyUI's queue items, history entries and jobs API items.

``STATUS_WORDS`` is the one table from our ``JobStatus`` to the words of each wire format.
``client_id`` is never shown and secrets were never stored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from executor.jobs import JobOutcome, JobStatus
from server.finished_job import FinishedJob
from server.job_store import JobRecord


class StatusWords(NamedTuple):
    comfy: str  # ComfyUI history ``status.status_str``
    jobs_api: str  # the jobs API's ``status``


STATUS_WORDS: dict[JobStatus, StatusWords] = {
    JobStatus.PENDING: StatusWords("error", "pending"),
    JobStatus.RUNNING: StatusWords("error", "in_progress"),
    JobStatus.SUCCESS: StatusWords("success", "completed"),
    JobStatus.FAILED: StatusWords("error", "failed"),
    JobStatus.INTERRUPTED: StatusWords("error", "cancelled"),
    JobStatus.CANCELLED: StatusWords("error", "cancelled"),
    JobStatus.LOST: StatusWords("error", "failed"),
}
API_STATUSES: dict[str, tuple[JobStatus, ...]] = {}  # jobs API word -> our statuses
for _status, _words in STATUS_WORDS.items():
    API_STATUSES[_words.jobs_api] = (*API_STATUSES.get(_words.jobs_api, ()), _status)
MEDIA_KEYS = ("images", "video", "audio", "gifs", "animated")
_3D_SUFFIXES = (".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply")


def number(value: float) -> int | float:
    """A priority as ComfyUI shows it: integral numbers without ``.0``."""
    return int(value) if float(value).is_integer() else value


def api_status(status: JobStatus) -> str:
    return STATUS_WORDS[status].jobs_api


def queue_item(record: JobRecord) -> list[Any]:
    """``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""
    return [number(record.number), record.prompt_id, record.prompt, record.extra_data,
            record.outputs_to_execute]


def _finished(record: JobRecord) -> FinishedJob:
    return record.result or FinishedJob(JobOutcome(record.prompt_id, record.status))


def execution_status(record: JobRecord) -> dict[str, Any]:
    return {"status_str": STATUS_WORDS[record.status].comfy,
            "completed": record.status is JobStatus.SUCCESS,
            "messages": _finished(record).messages}


def output_meta(outputs: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's history ``meta``: where each output node's UI came from."""
    return {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
            for n in outputs}


def history_entry(record: JobRecord) -> dict[str, Any]:
    outputs = _finished(record).outcome.outputs
    return {"prompt": queue_item(record), "outputs": outputs,
            "status": execution_status(record), "meta": output_meta(outputs)}


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
    best = preferred or found
    return best[0] if best else None


def job_item(record: JobRecord) -> dict[str, Any]:
    finished = _finished(record)
    outputs = finished.outcome.outputs
    status = api_status(record.status)
    item = {
        "id": record.prompt_id, "status": status, "priority": number(record.number),
        "outputs_count": _outputs_count(outputs), "create_time": record.create_time,
        "workflow_id": record.workflow_id, "execution_start_time": record.start_time,
        "execution_end_time": record.end_time,
        "execution_error": finished.error if status == "failed" else None,
        "preview_output": preview_output(outputs),
    }
    return {k: v for k, v in item.items() if v is not None}


def job_detail(record: JobRecord) -> dict[str, Any]:
    """A job with everything recorded: outputs, messages, timings, cache reasons, the error."""
    finished = _finished(record)
    outcome = finished.outcome
    detail = job_item(record)
    detail.update({
        "outputs": outcome.outputs,
        "execution_status": execution_status(record),
        "workflow": {"prompt": record.prompt, "extra_data": record.extra_data},
        "outputs_to_execute": record.outputs_to_execute,
        "timings": outcome.timings,
        "reasons": {k: v.value for k, v in outcome.reasons.items()},
        "executed": outcome.executed,
        "cached": outcome.cached,
        "node_errors": outcome.node_errors,
        "notes": outcome.notes,
        "peak_rss_bytes": outcome.peak_rss_bytes,
        "error": finished.error,
    })
    return detail


def run_answer(record: JobRecord) -> dict[str, Any]:
    """What ``POST /run`` answers for a job that ended."""
    finished = _finished(record)
    outcome = finished.outcome
    return {"outputs": outcome.outputs, "summaries": outcome.summaries,
            "timings": outcome.timings, "reasons": {k: v.value for k, v in outcome.reasons.items()},
            "executed": outcome.executed, "cached": outcome.cached, "error": finished.error}
