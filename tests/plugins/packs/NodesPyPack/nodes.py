import nodes
from nodes import MAX_RESOLUTION, NODE_CLASS_MAPPINGS as COMFY_NODES


class ResolutionInfo:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"width": ("INT", {"default": 512, "min": 64,
                                               "max": MAX_RESOLUTION, "step": 8})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "info"
    CATEGORY = "tests/nodes_py"

    def info(self, width):
        return {"ui": {"module": [nodes.__name__], "max": [nodes.MAX_RESOLUTION],
                       "has_ksampler": ["KSampler" in COMFY_NODES],
                       "sees_itself": ["ResolutionInfo" in nodes.NODE_CLASS_MAPPINGS],
                       "width": [width]}}


NODE_CLASS_MAPPINGS = {"ResolutionInfo": ResolutionInfo}
NODE_DISPLAY_NAME_MAPPINGS = {"ResolutionInfo": "Resolution Info"}
