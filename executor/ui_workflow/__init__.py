"""ComfyUI UI workflow (what the editor saves) → API-format prompt (what ``/prompt`` queues).

- ``convert``: the entry points (``is_ui_workflow``, ``convert_ui_workflow``), one API node per
  real node;
- ``graph``: the parsed workflow: graphs, links, subgraph definitions, scopes;
- ``resolve``: following links through Reroutes, bypassed nodes and subgraph boundaries;
- ``widgets``: widget values mapped onto the registry's inputs.

Used by the server and the CLI only; the run loop sees API prompts.
"""

from __future__ import annotations

from executor.ui_workflow.convert import (
    WorkflowConversionError,
    convert_ui_workflow,
    is_ui_workflow,
)

__all__ = ["WorkflowConversionError", "convert_ui_workflow", "is_ui_workflow"]
