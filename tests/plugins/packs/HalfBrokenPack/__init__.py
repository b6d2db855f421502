"""One node whose INPUT_TYPES raises (left out alone) and one that works."""


class BadInputs:
    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("cannot list my inputs")

    RETURN_TYPES = ()
    FUNCTION = "run"

    def run(self):
        return ()


class GoodNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "ok"})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "tests/isolation"

    def run(self, text):
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"BadInputs": BadInputs, "GoodNode": GoodNode}
