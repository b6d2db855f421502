"""ExecutionBlocker: a gate that blocks its consumers, silently or with a message."""
from comfy_execution.graph import ExecutionBlocker


class Gate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1}),
                             "open": ("BOOLEAN", {"default": True}),
                             "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "gate"
    CATEGORY = "tests/blocker"

    def gate(self, value, open, message):
        if open:
            return (value,)
        return (ExecutionBlocker(message or None),)


class ShowBlocked:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "show"
    CATEGORY = "tests/blocker"

    def show(self, value):
        return {"ui": {"value": [value]}}


NODE_CLASS_MAPPINGS = {"Gate": Gate, "ShowBlocked": ShowBlocked}
