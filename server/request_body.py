"""Request bodies: read with a size limit, JSON parsed and checked off the event loop.

- A body longer than ``max_body_bytes`` (``serve --max-body-mb``, default 16) is refused with
  413 ``body_too_large`` as soon as its ``Content-Length`` (or the bytes read so far) pass the
  limit; nothing more is buffered.
- JSON is parsed in a worker thread, so other requests (and the websocket) keep their latency
  while a large prompt is read; then, still in that thread, every container and string is
  walked once:
  - nesting deeper than ``max_json_depth`` (default 64; ComfyUI's workflows need about 10) is
    400 ``json_too_deep`` naming the limit and where it was passed;
  - a lone surrogate (``"\\ud800"``: not Unicode text, so SQLite and the file system refuse it)
    anywhere, keys included, is 400 ``invalid_text`` naming the field (``prompt.3.inputs.text``).
- Python's JSON parser holds the GIL, so a thread alone does not keep the loop responsive
  (large bodies are parsed in a helper process, ``server.json_parser``):
  millions of tiny values (16 MB of ``0,``) take ~0.6 s to parse, all of it blocking. Bodies
  are therefore also limited to ``MAX_VALUES`` JSON values (1,000,000; ComfyUI's largest
  official workflow has 14,533), counted cheaply before parsing: 413 ``json_too_many_values``.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from nodes.api.text import lone_surrogate
from server.errors import BadRequestError, PayloadTooLargeError

if TYPE_CHECKING:
    from server.json_parser import JsonParser

# A lone surrogate can only come from a \uD800-\uDFFF escape or from raw ED A0..BF bytes (JSON
# bytes are decoded with "surrogatepass"); a body with neither needs no string check.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")  # two regexes: each scans by its literal
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
MAX_VALUES = 1_000_000


def too_large(limit: int, what: str = "request body") -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "body_too_large", f"The {what} is too large",
        f"more than {limit} bytes; the server's limit is set with --max-body-mb",
        {"limit_bytes": limit})


async def read_limited(request: web.Request, limit: int) -> bytearray:
    """The whole body, refused (413) once it passes ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return body


def field_name(path: tuple[Any, ...]) -> str:
    """``prompt.3.inputs.text``: printable, lone surrogates escaped, cut at 200 characters."""
    name = ".".join(str(part) for part in path) or "(the body)"
    name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name if len(name) <= 200 else f"{name[:200]}…"


def _bad_text(path: tuple[Any, ...], index: int) -> BadRequestError:
    field = field_name(path)
    return BadRequestError("invalid_text", "The request has text that is not valid Unicode",
                           f"{field}: a lone surrogate at index {index}", {"field": field})


def _check_text(text: Any, path: tuple[Any, ...]) -> None:
    if isinstance(text, str):
        index = lone_surrogate(text)
        if index is not None:
            raise _bad_text(path, index)


def check_json(value: Any, max_depth: int, *, strings: bool = True) -> None:
    """Refuse nesting deeper than ``max_depth`` and (with ``strings``) lone surrogates."""
    if strings:
        _check_text(value, ())
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > max_depth:
            raise BadRequestError(
                "json_too_deep", f"The JSON nests more than {max_depth} levels deep",
                f"at {field_name(path)}; the limit is {max_depth} levels",
                {"max_depth": max_depth, "field": field_name(path)})
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if strings:
                _check_text(key, (*path, key))
                _check_text(child, (*path, key))
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, (*path, key)))


def count_values(raw: bytes | bytearray, *, strings: bool = True) -> int:
    """An upper bound of the values in a JSON text: separators and openings (outside strings,
    unless ``strings``: a cruder bound, and much faster)."""
    bare = raw if strings else _STRING.sub(b"", raw)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1


def _maybe_surrogate(raw: bytes | bytearray) -> bool:
    return bool(_ESCAPED_SURROGATE.search(raw) or _RAW_SURROGATE.search(raw))


def _check_count(raw: bytes | bytearray, max_values: int) -> None:
    # every value takes at least two bytes ("0,"); the crude bound settles almost every body
    if len(raw) < 2 * max_values or count_values(raw) <= max_values:
        return
    found = count_values(raw, strings=False)
    if found > max_values:
        raise PayloadTooLargeError(
            "json_too_many_values", f"The JSON has more than {max_values} values",
            f"about {found} values; the limit is {max_values} (a large workflow has 15,000)",
            {"max_values": max_values})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | bytearray, max_depth: int, max_values: int = MAX_VALUES) -> Any:
    """Parse and check a JSON body (runs in a worker thread)."""
    _check_count(raw, max_values)
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequestError("json_too_deep", f"The JSON nests more than {max_depth} levels "
                              "deep", f"the limit is {max_depth} levels",
                              {"max_depth": max_depth}) from None
    except ValueError as exc:
        raise BadRequestError("invalid_json", "The request body is not valid JSON",
                              str(exc)[:200]) from None
    check_json(value, max_depth, strings=_maybe_surrogate(raw))
    return value


async def read_json_body(request: web.Request, limit: int, max_depth: int, *,
                         empty: Any = None, parser: JsonParser | None = None) -> Any:
    """The body parsed as JSON whatever the Content-Type says (``empty`` for no body), by
    ``parser`` (large bodies in its helper process) or else in a thread."""
    raw = await read_limited(request, limit)
    if not raw or raw.isspace():
        if empty is not None:
            return empty
        raise BadRequestError("invalid_json", "The request body is empty", "expected JSON")
    if parser is not None:
        return await parser.parse(raw, max_depth)
    return await asyncio.get_running_loop().run_in_executor(None, parse_json, raw, max_depth)
