"""State set in INPUT_TYPES and read by FUNCTION (INPUT_TYPES must run before the first run)."""


class StateFromInputTypes:
    @classmethod
    def INPUT_TYPES(cls):
        cls.options = {"small": 1, "large": 10}
        return {"required": {"size": (list(cls.options),)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "tests/state"

    def run(self, size):
        return {"ui": {"value": [self.options[size]]}, "result": (self.options[size],)}


NODE_CLASS_MAPPINGS = {"StateFromInputTypes": StateFromInputTypes}
