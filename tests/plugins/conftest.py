"""Fixtures of the plugin-pack tests: a workspace with tiny checkpoints and an engine whose
registry holds the built-in pack plus ``tests.plugins.port_pack``."""

from __future__ import annotations

from tests.workflows.support import tiny_checkpoints, workspace

__all__ = ["tiny_checkpoints", "workspace"]
