"""VALIDATE_INPUTS: a refusal string, input_types, and a combo value the node validates."""


class EvenOnly:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"number": ("INT", {"default": 2, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "tests/validate"

    @classmethod
    def VALIDATE_INPUTS(cls, number):
        if number % 2:
            return f"number must be even, got {number}"
        return True

    def run(self, number):
        return (number,)


class NumbersOnly:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("*",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "tests/validate"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        if input_types.get("x") not in ("INT", "FLOAT"):
            return f"x must be a number, got {input_types.get('x')}"
        return True

    def run(self, x):
        return {"ui": {"x": [x]}}


class FreeCombo:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"choice": (["a", "b"],)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "tests/validate"

    @classmethod
    def VALIDATE_INPUTS(cls, choice):
        return True  # any value is fine: the list is only the editor's suggestion

    def run(self, choice):
        return {"ui": {"choice": [choice]}}


NODE_CLASS_MAPPINGS = {"EvenOnly": EvenOnly, "NumbersOnly": NumbersOnly,
                       "FreeCombo": FreeCombo}
