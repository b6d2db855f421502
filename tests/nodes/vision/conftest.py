"""Fixtures: tiny checkpoints (one set per session) and a model environment per test."""

from __future__ import annotations

from tests.nodes.models.support import env, tiny

__all__ = ["env", "tiny"]
