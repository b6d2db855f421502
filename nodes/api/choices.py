"""Choice lists computed from the schema context on every request, for ``Combo(choices=…)``.

A plugin's model picker is ``Combo("lora_name", choices=ModelFolderFiles("loras"))``: no
binding step, no built-in pack imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodes.api.context import SchemaContext
from nodes.api.inputs import SchemaChoices


@dataclass(frozen=True)
class ModelFolderFiles(SchemaChoices):
    """The model files of one model folder (``checkpoints``, ``loras``, …)."""

    folder: str

    def __call__(self, schema: SchemaContext) -> list[str]:
        try:
            return schema.model_files.files(self.folder)
        except KeyError:  # a folder these model folders do not know lists nothing
            return []


@dataclass(frozen=True)
class SamplerNames(SchemaChoices):
    """Every sampler name the node packs registered."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        return schema.sampling.sampler_names()


@dataclass(frozen=True)
class SchedulerNames(SchemaChoices):
    """Every scheduler name the node packs registered."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        return schema.sampling.scheduler_names()
