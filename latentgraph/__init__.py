"""Latentgraph: the composition root (CLI, app wiring)."""
