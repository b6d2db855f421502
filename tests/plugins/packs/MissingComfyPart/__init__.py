"""A pack reaching into a part of ComfyUI Latentgraph does not provide."""
import comfy.ldm.modules.attention  # noqa: F401

NODE_CLASS_MAPPINGS = {}
