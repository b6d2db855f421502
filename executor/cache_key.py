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
from collections.abc import Iterator, Mapping
from typing import Any

from executor.validate import BoundNode


class Uncacheable(ValueError):
    """A value that has no stable encoding (NaN, objects): the node is not cacheable."""


def _encode(value: Any, out: list[bytes]) -> None:
    """Append a canonical, type-tagged encoding of JSON-like data to ``out``."""
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


def _key_material(
    node: BoundNode, fingerprint: Any, parent_keys: Mapping[str, str]
) -> Iterator[Any]:
    yield node.cls.type_name
    yield node.cls.version
    yield sorted(node.constants.items())
    yield sorted((name, parent_keys[ref.node_id], ref.slot) for name, ref in node.links.items())
    yield fingerprint
    yield node.node_id if node.cls.uses_node_id() else None


def cache_key(node: BoundNode, fingerprint: Any, parent_keys: Mapping[str, str]) -> str:
    """The node's key given its fingerprint and its parents' keys (by node id)."""
    digest = hashlib.sha256(canonical_bytes(list(_key_material(node, fingerprint, parent_keys))))
    return digest.hexdigest()


def inputs_key(node: BoundNode, parent_keys: Mapping[str, str]) -> str:
    """The key without the fingerprint: tells "inputs changed" from "fingerprint changed"."""
    return cache_key(node, None, parent_keys)
