"""Helpers shared by the route modules: JSON in and out, query parameters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.errors import BadRequestError
from server.json_text import to_json
from server.request_body import read_json_body
from server.state import PARSER, SETTINGS


async def read_json(request: web.Request, *, empty: Any = None) -> Any:
    """The body parsed as JSON whatever the Content-Type says (``empty`` for no body); size,
    nesting and text are checked (``server.request_body``)."""
    settings = request.app[SETTINGS]
    return await read_json_body(request, settings.body_limit, settings.max_json_depth,
                                empty=empty, parser=request.app[PARSER])


async def read_object(request: web.Request, *, empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for no body when ``empty``)."""
    body = await read_json(request, empty={} if empty else None)
    if not isinstance(body, dict):
        raise BadRequestError("invalid_body", "The request body must be a JSON object",
                              f"got {type(body).__name__}")
    return body


def reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json(data), status=status, content_type="application/json")


def empty_ok() -> web.Response:
    return web.Response(status=200)


def query_int(request: web.Request, name: str, *, default: int | None = None,
              minimum: int = 0, maximum: int = 10**9) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError("invalid_parameter", f"{name} must be an integer",
                              f"{name}={raw!r}") from None
    if not minimum <= value <= maximum:
        raise BadRequestError("invalid_parameter", f"{name} is out of range",
                              f"{name}={value}; expected {minimum}..{maximum}")
    return value


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise BadRequestError("invalid_parameter", f"{name} must be true or false",
                          f"{name}={raw!r}")


def id_list(body: dict[str, Any], key: str) -> list[str] | None:
    """``body[key]`` as a list of ids (``None`` when absent)."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise BadRequestError("invalid_body", f"{key} must be a list of ids",
                              f"got {type(value).__name__}")
    return [str(v) for v in value]
