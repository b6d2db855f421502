"""The one JSON encoding of the server: the wire (HTTP, websocket) and the job store."""

from __future__ import annotations

import json
from typing import Any


def to_json(value: Any) -> str:
    """Compact JSON; objects JSON does not know are written as their ``str``."""
    return json.dumps(value, separators=(",", ":"), default=str)
