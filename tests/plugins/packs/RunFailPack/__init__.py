"""A node that raises when it runs."""


class Explodes:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"message": ("STRING", {"default": "kaboom"})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "tests/isolation"

    def run(self, message):
        raise ValueError(message)


NODE_CLASS_MAPPINGS = {"Explodes": Explodes}
