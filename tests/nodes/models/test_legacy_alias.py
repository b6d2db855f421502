"""The misspelled ``"ConditioningAverage "`` (trailing space) of older ComfyUI workflows resolves
to ConditioningAverage: validated and run like it, never listed in /object_info."""

from __future__ import annotations

import torch

from executor.validate import validate_prompt
from nodes.api import Registry
from nodes.conditioning.ops import ConditioningAverage
from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader

ALIAS = "ConditioningAverage "


def test_the_alias_is_accepted_but_never_listed(env: ModelEnv) -> None:
    registry = env.registry
    assert ALIAS in registry and registry.get(ALIAS) is ConditioningAverage
    assert ALIAS not in registry.object_info() and ALIAS not in registry.names()
    assert registry.node_info(ALIAS)["name"] == "ConditioningAverage"
    assert ALIAS not in Registry()  # an alias of a node that is not registered is unknown


def test_a_prompt_using_the_alias_validates_and_runs(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")

    def prompt(class_type: str) -> dict[str, object]:
        return {"1": loader("m.safetensors"), "2": encode("a cat", ["1", 1]),
                "3": encode("a dog", ["1", 1]),
                "4": {"class_type": class_type, "inputs": {
                    "conditioning_to": ["2", 0], "conditioning_from": ["3", 0],
                    "conditioning_to_strength": 0.25}}}

    validated = validate_prompt({**prompt(ALIAS), "p": {"class_type": "Probe",
                                                        "inputs": {"value": ["4", 0]}}},
                                env.registry)
    assert validated.nodes["4"].cls is ConditioningAverage
    old = env.probe(prompt(ALIAS), "4")
    new = env.probe(prompt("ConditioningAverage"), "4")
    assert torch.equal(old[0].cross_attn, new[0].cross_attn)
