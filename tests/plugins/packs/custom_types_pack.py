"""A single-file pack: custom type names flowing only between its own nodes."""


class MakeVec2:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("FLOAT", {"default": 0.0}), "y": ("FLOAT", {"default": 0.0})}}

    RETURN_TYPES = ("VEC2",)
    FUNCTION = "make"
    CATEGORY = "tests/custom"

    def make(self, x, y):
        return ((x, y),)


class AddVec2:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("VEC2",), "b": ("VEC2",)}}

    RETURN_TYPES = ("VEC2", "BOOL")
    RETURN_NAMES = ("sum", "is_zero")
    FUNCTION = "add"
    CATEGORY = "tests/custom"

    def add(self, a, b):
        total = (a[0] + b[0], a[1] + b[1])
        return (total, total == (0.0, 0.0))


class ShowVec2:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"v": ("VEC2",)}, "optional": {"flag": ("BOOL",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "show"
    CATEGORY = "tests/custom"

    def show(self, v, flag=None):
        return {"ui": {"vec": [list(v)], "flag": [flag]}}


NODE_CLASS_MAPPINGS = {"MakeVec2": MakeVec2, "AddVec2": AddVec2, "ShowVec2": ShowVec2}
