"""INPUT_IS_LIST and OUTPUT_IS_LIST: ComfyUI's list semantics."""


class MakeList:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "make"
    CATEGORY = "tests/lists"

    def make(self, count):
        return (list(range(1, count + 1)),)


class Double:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "double"
    CATEGORY = "tests/lists"

    def double(self, value):
        return (value * 2,)


class SumList:
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT", {"forceInput": True}),
                             "offset": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "total"
    OUTPUT_NODE = True
    CATEGORY = "tests/lists"

    def total(self, values, offset):
        assert isinstance(values, list) and isinstance(offset, list)
        total = sum(values) + offset[0]
        return {"ui": {"values": list(values), "total": [total]}, "result": (total,)}


NODE_CLASS_MAPPINGS = {"MakeList": MakeList, "Double": Double, "SumList": SumList}
