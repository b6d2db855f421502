"""ModelComputeDtype and TorchCompileModel: how the network runs, not what it computes."""

from __future__ import annotations

from typing import Any

import torch

from diffusion import model_patches as mp
from nodes.api import MODEL, Combo, Node, Output, RunContext
from nodes.patches.common import check_choice, model_input, patched
from nodes.payloads import DiffusionModel

DTYPES: dict[str, torch.dtype | None] = {
    "default": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class ModelComputeDtype(Node):
    """Runs the model's network in another dtype (weights and inputs cast per call)."""

    display_name = "ModelComputeDtype"
    category = "advanced/debug/model"
    inputs = (model_input(),
              Combo("dtype", choices=tuple(DTYPES),
                    tooltip="The compute dtype (default: the one the model is loaded in)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, dtype: str) -> tuple[Any, ...]:
        check_choice(self.type_name, "dtype", dtype, tuple(DTYPES))
        chosen = DTYPES[dtype]
        if chosen is None:
            return (model,)
        return (patched(model, mp.ComputeDtype(chosen)),)


class TorchCompileModel(Node):
    """Runs the model's network compiled by torch.compile (the first run compiles, which takes
    a while; the same images up to rounding)."""

    category = "_for_testing"
    experimental = True
    inputs = (model_input(),
              Combo("backend", choices=mp.COMPILE_BACKENDS,
                    tooltip="torch.compile's backend (cudagraphs needs a CUDA device)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, backend: str) -> tuple[Any, ...]:
        check_choice(self.type_name, "backend", backend, mp.COMPILE_BACKENDS)
        return (patched(model, mp.TorchCompile(backend)),)


MODEL_RUN_NODES: list[type[Node]] = [ModelComputeDtype, TorchCompileModel]
