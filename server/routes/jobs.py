"""The jobs API (ComfyUI's ``/jobs``), plus cancelling any job by id."""

from __future__ import annotations

from aiohttp import web

from executor.jobs import JobStatus
from server.errors import BadRequestError, NotFoundError
from server.job_store import SORT_COLUMNS
from server.job_views import API_STATUSES, job_detail, job_item
from server.routes.common import query_int, reply
from server.state import QUEUE

routes = web.RouteTableDef()


def _statuses(request: web.Request) -> list[JobStatus]:
    raw = request.query.get("status")
    if not raw:
        return [s for group in API_STATUSES.values() for s in group]
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in API_STATUSES]
    if unknown or not names:
        raise BadRequestError("invalid_parameter", "unknown status",
                              f"{unknown}; choose from {sorted(API_STATUSES)}")
    return [s for n in names for s in API_STATUSES[n]]


def _sort(request: web.Request) -> tuple[str, bool]:
    sort_by = request.query.get("sort_by", "created_at")
    order = request.query.get("sort_order", "desc")
    if sort_by not in SORT_COLUMNS:
        raise BadRequestError("invalid_parameter", "unknown sort_by",
                              f"{sort_by!r}; choose from {sorted(SORT_COLUMNS)}")
    if order not in ("asc", "desc"):
        raise BadRequestError("invalid_parameter", "sort_order must be asc or desc",
                              repr(order))
    return sort_by, order == "desc"


@routes.get("/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    statuses, (sort_by, descending) = _statuses(request), _sort(request)
    limit = query_int(request, "limit", minimum=0, maximum=10_000)
    offset = query_int(request, "offset", default=0, minimum=0) or 0
    records, total = await request.app[QUEUE].list_jobs(
        statuses, workflow_id=request.query.get("workflow_id") or None, sort_by=sort_by,
        descending=descending, limit=limit, offset=offset)
    return reply({"jobs": [job_item(r) for r in records],
                  "pagination": {"offset": offset, "limit": limit, "total": total,
                                 "has_more": offset + len(records) < total}})


@routes.get("/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    record = await request.app[QUEUE].get(job_id)
    if record is None:
        raise NotFoundError("job_not_found", "No job with this id", job_id)
    return reply(job_detail(record))


@routes.post("/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    """Cancel one pending or running job; no other job is touched. 409 if it has ended."""
    job_id = request.match_info["job_id"]
    outcome = await request.app[QUEUE].cancel(job_id)
    return reply({"prompt_id": job_id, "status": outcome})
