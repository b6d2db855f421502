"""What the model patch nodes share: the MODEL input, and applying a patch to a new payload."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from diffusion.guidance import ModelHooks
from nodes.api import MODEL, Link
from nodes.payloads import DiffusionModel


class ModelPatch(Protocol):
    """A ``diffusion.model_patches`` patch: adds itself to a model's hooks."""

    def add_to(self, hooks: ModelHooks) -> ModelHooks: ...


def model_input() -> Link:
    return Link("model", MODEL, tooltip="The model to patch (it is not changed; the patched "
                                        "model is a new one).")


def patched(model: DiffusionModel, patch: ModelPatch) -> DiffusionModel:
    """A new MODEL payload whose hooks are ``model``'s plus ``patch``; ``model`` is unchanged."""
    return dataclasses.replace(model, hooks=patch.add_to(model.hooks))





def check_choice(node: str, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{node}: input {name!r} must be one of {list(choices)}, got {value!r}")
__all__ = ["ModelPatch", "check_choice", "model_input", "patched"]
