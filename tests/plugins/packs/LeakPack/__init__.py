"""A node that keeps 24 MiB per run in a class-level list (a leak), and one that only
allocates the same amount for the duration of its run."""
import torch

KEPT = []


class Leaky:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"run": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "go"
    OUTPUT_NODE = True
    CATEGORY = "tests/isolation"

    def go(self, run):
        KEPT.append(torch.ones(6 * 2**20))  # 24 MiB, touched
        return (run,)


class Tidy:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"run": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "go"
    OUTPUT_NODE = True
    CATEGORY = "tests/isolation"

    def go(self, run):
        scratch = torch.ones(6 * 2**20)
        return (run + int(scratch[0]) - 1,)


NODE_CLASS_MAPPINGS = {"Leaky": Leaky, "Tidy": Tidy}
