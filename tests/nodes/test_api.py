"""The node contract: coercion table, V1 definitions, registry rules."""

from __future__ import annotations

import math
from typing import Any

import pytest

from nodes.api import (
    CONDITIONING,
    LATENT,
    MODEL,
    Boolean,
    CoercionError,
    Combo,
    DuplicateNodeError,
    Float,
    Hidden,
    Int,
    Link,
    Node,
    Output,
    Registry,
    RunContext,
    String,
    UnknownNodeError,
    socket_type,
    types_match,
)

INT = Int("n")
FLOAT = Float("f")
BOOL = Boolean("b")
STRING = String("s")

ACCEPTED = [
    (INT, 20, 20), (INT, 20.0, 20), (INT, "20", 20), (INT, " 20 ", 20), (INT, "20.0", 20),
    (INT, "1e3", 1000), (INT, 2**64 - 1, 2**64 - 1), (INT, str(2**64 - 1), 2**64 - 1),
    (INT, -3, -3),
    (FLOAT, 1, 1.0), (FLOAT, 2.5, 2.5), (FLOAT, "2.5", 2.5), (FLOAT, "3", 3.0),
    (BOOL, True, True), (BOOL, False, False), (BOOL, "true", True), (BOOL, "false", False),
    (BOOL, "False", False), (BOOL, "TRUE", True), (BOOL, 0, False), (BOOL, 1, True),
    (STRING, "x", "x"), (STRING, 5, "5"), (STRING, 2.5, "2.5"), (STRING, "", ""),
]
REFUSED = [
    (INT, 20.5), (INT, "20.5"), (INT, "abc"), (INT, True), (INT, None), (INT, [1]),
    (INT, float("nan")), (INT, float("inf")), (INT, "inf"), (INT, {"a": 1}),
    (FLOAT, True), (FLOAT, "x"), (FLOAT, None), (FLOAT, float("nan")), (FLOAT, "-inf"),
    (BOOL, "yes"), (BOOL, "no"), (BOOL, "False "), (BOOL, 2), (BOOL, None), (BOOL, 1.0),
    (STRING, None), (STRING, True), (STRING, ["a"]), (STRING, {"a": 1}),
]


@pytest.mark.parametrize(("inp", "raw", "expected"), ACCEPTED,
                         ids=[f"{c[0].type_name}-{c[1]!r}" for c in ACCEPTED])
def test_coercion_accepts(inp: Any, raw: Any, expected: Any) -> None:
    value = inp.coerce(raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("inp", "raw"), REFUSED,
                         ids=[f"{c[0].type_name}-{c[1]!r}" for c in REFUSED])
def test_coercion_refuses(inp: Any, raw: Any) -> None:
    with pytest.raises(CoercionError):
        inp.coerce(raw)


def test_false_string_is_never_true() -> None:
    assert Boolean("b").coerce("false") is False


def test_range_and_combo_checks() -> None:
    steps = Int("steps", default=20, min=1, max=10_000)
    assert steps.check(0).code == "value_smaller_than_min"
    assert steps.check(10_001).code == "value_bigger_than_max"
    assert steps.check(20) is None
    combo = Combo("sampler", choices=lambda: ["euler", "heun"])
    assert combo.check("euler") is None
    problem = combo.check("dpm")
    assert problem is not None and problem.code == "value_not_in_list"
    assert "['euler', 'heun']" in problem.details
    assert math.isclose(Float("f", min=0.0, max=1.0).coerce("1"), 1.0)


class KSamplerLike(Node):
    """Denoises a latent."""

    display_name = "KSampler"
    category = "sampling"
    inputs = (
        Link("model", MODEL, tooltip="The model."),
        Int("seed", default=0, min=0, max=2**64 - 1, control_after_generate=True),
        Int("steps", default=20, min=1, max=10000),
        Float("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
        Combo("sampler_name", choices=("euler", "heun")),
        Link("positive", CONDITIONING),
        Link("latent_image", LATENT),
        Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
        String("note", default="", multiline=True, optional=True),
        Boolean("flag", default=False, label_on="on", optional=True),
    )
    outputs = (Output(LATENT, tooltip="The denoised latent."),)
    hidden = frozenset({Hidden.PROMPT, Hidden.UNIQUE_ID})


def test_v1_definition_is_generated_from_the_declaration() -> None:
    registry = Registry()
    registry.register(KSamplerLike, module="custom_nodes.pack")
    info = registry.node_info("KSamplerLike")
    assert info["input"]["required"]["model"] == ["MODEL", {"tooltip": "The model."}]
    assert info["input"]["required"]["seed"] == [
        "INT", {"default": 0, "min": 0, "max": 18446744073709551615,
                "control_after_generate": True}]
    assert info["input"]["required"]["cfg"] == [
        "FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}]
    assert info["input"]["required"]["sampler_name"] == [["euler", "heun"], {}]
    assert info["input"]["optional"] == {
        "note": ["STRING", {"default": "", "multiline": True}],
        "flag": ["BOOLEAN", {"default": False, "label_on": "on"}],
    }
    assert info["input"]["hidden"] == {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"}
    assert info["input_order"]["required"] == [
        "model", "seed", "steps", "cfg", "sampler_name", "positive", "latent_image", "denoise"]
    assert info["input_order"]["optional"] == ["note", "flag"]
    assert info["output"] == ["LATENT"] and info["output_name"] == ["LATENT"]
    assert info["output_is_list"] == [False]
    assert info["output_tooltips"] == ["The denoised latent."]
    for key, value in {"name": "KSamplerLike", "display_name": "KSampler",
                       "description": "Denoises a latent.", "category": "sampling",
                       "python_module": "custom_nodes.pack", "output_node": False}.items():
        assert info[key] == value


def test_widget_order_and_extra_values() -> None:
    widgets = [i.name for i in KSamplerLike.inputs if i.is_widget]
    assert widgets == ["seed", "steps", "cfg", "sampler_name", "denoise", "note", "flag"]
    assert KSamplerLike.input("seed").extra_widget_values() == 1
    assert Combo("image", choices=(), image_upload=True).extra_widget_values() == 1
    assert not Int("x", force_input=True).is_widget


def test_registry_rules() -> None:
    registry = Registry()
    registry.register(KSamplerLike)
    registry.register(KSamplerLike)  # the same class again is harmless
    other = type("KSamplerLike", (Node,), {"type_name": "KSamplerLike"})
    with pytest.raises(DuplicateNodeError, match="already registered"):
        registry.register(other)
    with pytest.raises(UnknownNodeError, match="'Nope' does not exist"):
        registry.get("Nope")
    with pytest.raises(TypeError):
        registry.register(object)  # type: ignore[arg-type]
    bad = type("Bad", (Node,), {"inputs": (Int("a"), Int("a"))})
    with pytest.raises(ValueError, match=r"\['a'\] twice"):
        registry.register(bad)
    assert registry.instance("KSamplerLike") is registry.instance("KSamplerLike")
    assert Registry().names() == []  # no global state shared between registries


class RunMissesAnInput(Node):
    inputs = (Int("steps", default=1), Float("cfg", default=1.0))

    def run(self, ctx: RunContext, steps: int) -> tuple[Any, ...]:
        return ()


class RunNeedsAnUndeclared(Node):
    inputs = (Int("steps", default=1),)

    def run(self, ctx: RunContext, steps: int, seed: int) -> tuple[Any, ...]:
        return ()


class RunTakesTheRestByKeyword(Node):
    inputs = (Int("steps", default=1), Float("cfg", default=1.0))

    def run(self, ctx: RunContext, steps: int, extra: int = 0, **rest: Any) -> tuple[Any, ...]:
        return ()


class RunWithoutContext(Node):
    inputs = ()

    def run() -> tuple[Any, ...]:  # type: ignore[override]
        return ()


def test_run_signature_is_checked_against_the_declaration_at_registration() -> None:
    registry = Registry()
    with pytest.raises(TypeError, match=r"'RunMissesAnInput': run\(\) does not take declared "
                                        r"input 'cfg'"):
        registry.register(RunMissesAnInput)
    with pytest.raises(TypeError, match=r"'RunNeedsAnUndeclared': run\(\) needs 'seed'"):
        registry.register(RunNeedsAnUndeclared)
    with pytest.raises(TypeError, match="must take the run context first"):
        registry.register(RunWithoutContext)
    registry.register(RunTakesTheRestByKeyword)  # **rest takes cfg; extra has a default
    assert registry.names() == ["RunTakesTheRestByKeyword"]


def test_socket_types_match_like_comfyui() -> None:
    assert types_match("MODEL", "MODEL") and not types_match("MODEL", "CLIP")
    assert types_match("*", "CLIP") and types_match("LATENT", "*")
    assert types_match("IMAGE,MASK", "MASK") and not types_match("IMAGE,MASK", "LATENT")
    custom = socket_type("UPSCALE_MODEL_X")
    assert custom.type_name == "UPSCALE_MODEL_X"
    with pytest.raises(ValueError):
        socket_type("")
