"""ComfyUI's ``comfy_api``: the V3 node API under ``comfy_api.latest``."""
