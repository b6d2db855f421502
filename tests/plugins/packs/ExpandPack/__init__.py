"""Node expansion with ComfyUI's GraphBuilder: a node that becomes a chain of other nodes."""
from comfy_execution.graph_utils import GraphBuilder

RUNS = []


class AddOne:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "add"
    CATEGORY = "tests/expand"

    def add(self, value):
        RUNS.append(value)
        return (value + 1,)


class Seed:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "seed"
    CATEGORY = "tests/expand"

    def seed(self, value):
        return (value,)


class RepeatAddOne:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True}),
                             "times": ("INT", {"default": 3, "min": 1, "max": 20})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "expand"
    CATEGORY = "tests/expand"

    def expand(self, value, times):
        graph = GraphBuilder()
        current = graph.node("Seed", value=value)
        for _ in range(times):
            current = graph.node("AddOne", value=current.out(0))
        return {"result": (current.out(0),), "expand": graph.finalize()}


class ShowInt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "show"
    CATEGORY = "tests/expand"

    def show(self, value):
        return {"ui": {"value": [value]}}


NODE_CLASS_MAPPINGS = {"AddOne": AddOne, "Seed": Seed, "RepeatAddOne": RepeatAddOne,
                       "ShowInt": ShowInt}
