"""Content-addressed cache keys, stable across processes and independent of node ids.

A node's key is the SHA-256 of a canonical encoding of (node type, node version, coerced
constants by input name, fingerprint, and for each linked input the ancestor's key and slot).
Ancestors' keys fold in their own ancestors, so a key names the whole computation upstream.
Never Python's ``hash()``: it is salted per process.

The node id enters the key only for nodes that read it (``Hidden.UNIQUE_ID``). Job metadata a
node only embeds (prompt, workflow) never does.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping
from typing import Any

from executor.validate import BoundNode


class Uncacheable(ValueError):
    """A value that has no stable encoding (NaN, objects): the node is not cacheable."""


def _encode(value: Any, out: list[bytes]) -> None:
    """Append a canonical, type-tagged encoding of JSON-like data to ``out``."""
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(raw) + raw)
        return
    if kind is int:
        out.append(b"i%d;" % value)
        return
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if item is None:
            out.append(b"N")
        elif item is True or item is False:
            out.append(b"T" if item else b"F")
        elif isinstance(item, int):
            out.append(b"i%d;" % item)
        elif isinstance(item, float):
            if math.isnan(item):
                raise Uncacheable("NaN has no stable cache encoding")
            out.append(b"f" + struct.pack(">d", item))
        elif isinstance(item, str):
            raw = item.encode("utf-8", "surrogatepass")
            out.append(b"s%d:" % len(raw) + raw)
        elif isinstance(item, bytes):
            out.append(b"y%d:" % len(item) + item)
        elif isinstance(item, (list, tuple)):
            out.append(b"l%d:" % len(item))
            stack.extend(reversed(item))
        elif isinstance(item, Mapping):
            keys = sorted(item, key=str)
            out.append(b"d%d:" % len(keys))
            for key in reversed(keys):
                stack.append(item[key])
                stack.append(str(key))
        else:
            raise Uncacheable(f"{type(item).__name__} has no stable cache encoding")


def canonical_bytes(value: Any) -> bytes:
    parts: list[bytes] = []
    _encode(value, parts)
    return b"".join(parts)


def _token(value: Any) -> str:
    """A canonical, type-tagged text for one constant (length-prefixed strings)."""
    kind = type(value)
    if kind is str:
        return f"s{len(value)}:{value}"
    if kind is int:
        return f"i{value}"
    if kind is float:
        if value != value:
            raise Uncacheable("NaN has no stable cache encoding")
        return f"f{value.hex()}"
    if kind is bool:
        return "T" if value else "F"
    if value is None:
        return "N"
    return "x" + canonical_bytes(value).hex()


def inputs_key(node: BoundNode, keys: Mapping[str, str | None]) -> str | None:
    """The key of everything but external state: type, version, constants, ancestors' keys.

    ``keys`` holds the keys of the node's ancestors by node id; ``None`` when one of them has
    no key (the node then has none either). Strings are length-prefixed, so the text below
    is unambiguous. Kept tight: it runs for every node of every job.
    """
    cls = node.cls
    parts = [cls.type_name, str(cls.version)]
    constants = node.constants
    for name in sorted(constants):
        parts.append(f"{name}={_token(constants[name])}")
    parts.append("\x1d")
    links = node.links
    for name in sorted(links):
        ref = links[name]
        parent = keys.get(ref.node_id)
        if parent is None:
            return None
        parts.append(f"{name}={parent}:{ref.slot}")
    parts.append("\x1d")
    if cls.uses_node_id():
        parts.append(_token(node.node_id))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(in_key: str, fingerprint: Any, fingerprinted: bool) -> str:
    """The full key: the inputs key, plus the fingerprint for fingerprinted nodes.

    Keeping both lets a job say whether inputs or only external state changed.
    """
    if not fingerprinted:
        return in_key
    return hashlib.sha256(in_key.encode("ascii") + canonical_bytes(fingerprint)).hexdigest()
