"""Validation without an engine: a registry, the folders and model folders, a memory budget.

A backend whose nodes run in another process (``executor.process_backend``) validates here, in
the server's process, with the registry the server builds anyway for ``/object_info``: no model
is loaded, nothing waits for the worker process, and ``POST /prompt`` answers with ComfyUI's
``node_errors`` while the worker is busy, hung or restarting. The worker validates each job
again before it runs it (its registry is the one that runs the nodes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.validate import ValidatedPrompt, validate_prompt
from nodes.api import FingerprintContext, Folders, ModelFiles, Registry
from nodes.api.memory import MemoryReport, no_budget
from nodes.api.ports import UnwiredModelFiles


@dataclass(frozen=True)
class PromptValidator:
    """``validate`` as ``Engine.validate`` does it, from the same parts."""

    registry: Registry
    folders: Folders | None = None
    model_files: ModelFiles = field(default_factory=UnwiredModelFiles)
    memory: MemoryReport = no_budget

    def fingerprint_context(self, node_id: str) -> FingerprintContext:
        return FingerprintContext(node_id=node_id, folders=self.folders,
                                  model_files=self.model_files,
                                  sampling=self.registry.schema.sampling)

    def validate(self, prompt: Mapping[str, Any], *, targets: Sequence[str] | None = None,
                 strict: bool = False) -> ValidatedPrompt:
        """Validate a prompt; raises ``executor.errors.PromptError`` when nothing can run."""
        return validate_prompt(prompt, self.registry, targets=targets, strict=strict,
                               fingerprint_context=self.fingerprint_context,
                               memory=self.memory())
