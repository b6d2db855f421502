"""Lazy inputs with check_lazy_status: only the chosen branch is evaluated."""

RUNS = []


class RecordRun:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("STRING", {"default": "a"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "record"
    CATEGORY = "tests/lazy"

    def record(self, tag):
        RUNS.append(tag)
        return (tag,)


class LazySwitch:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"switch": ("BOOLEAN", {"default": True}),
                             "on_true": ("*", {"lazy": True}),
                             "on_false": ("*", {"lazy": True})}}

    RETURN_TYPES = ("*",)
    FUNCTION = "pick"
    CATEGORY = "tests/lazy"

    def check_lazy_status(self, switch, on_true=None, on_false=None):
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def pick(self, switch, on_true=None, on_false=None):
        return (on_true if switch else on_false,)


class ShowString:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"forceInput": True})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "show"
    CATEGORY = "tests/lazy"

    def show(self, text):
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"RecordRun": RecordRun, "LazySwitch": LazySwitch,
                       "ShowString": ShowString}
