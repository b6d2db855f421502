"""Fixtures of the end-to-end workflow tests."""

from __future__ import annotations

from tests.workflows.support import tiny_checkpoints, workspace

__all__ = ["tiny_checkpoints", "workspace"]
