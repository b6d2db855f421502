from .anytype import AlwaysEqualProxy, any_type


class AnyPassthrough:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"value": (any_type, {})}}

    RETURN_TYPES = (any_type,)
    RETURN_NAMES = ("value",)
    FUNCTION = "run"
    CATEGORY = "tests/wildcards"

    def run(self, value):
        return (value,)


class DescribeAny:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"value": (AlwaysEqualProxy("*"),)}}

    RETURN_TYPES = ()
    FUNCTION = "describe"
    OUTPUT_NODE = True
    CATEGORY = "tests/wildcards"

    def describe(self, value):
        if isinstance(value, dict):
            kind = "dict:" + ",".join(sorted(value))
        elif isinstance(value, list):
            kind = f"list[{len(value)}]"
        else:
            kind = type(value).__name__
        return {"ui": {"text": [kind]}}


class IntOrFloat:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"number": ("INT,FLOAT", {"forceInput": True})}}

    RETURN_TYPES = ("INT,FLOAT",)
    FUNCTION = "twice"
    CATEGORY = "tests/wildcards"

    def twice(self, number):
        return (number * 2,)


NODE_CLASS_MAPPINGS = {"AnyPassthrough": AnyPassthrough, "DescribeAny": DescribeAny,
                       "IntOrFloat": IntOrFloat}
NODE_DISPLAY_NAME_MAPPINGS = {"AnyPassthrough": "Any (passthrough)"}
