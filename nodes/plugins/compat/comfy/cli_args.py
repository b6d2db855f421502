"""ComfyUI's ``comfy.cli_args``: the ``args`` namespace packs read, with ComfyUI's defaults
(nothing is parsed from our command line; the output and input folders are the server's)."""

from __future__ import annotations

import argparse
import enum
from typing import Any


class LatentPreviewMethod(str, enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"


class _Args(argparse.Namespace):
    def __getattr__(self, name: str) -> Any:  # any flag a newer ComfyUI added: off
        if name.startswith("__"):
            raise AttributeError(name)
        return None


args = _Args(
    listen="127.0.0.1", port=8188, preview_method=LatentPreviewMethod.Latent2RGB,
    preview_size=512, output_directory=None, input_directory=None, temp_directory=None,
    user_directory=None, disable_metadata=False, disable_smart_memory=False, cpu=False,
    lowvram=False, novram=False, highvram=False, gpu_only=False, force_fp16=False,
    force_fp32=False, fp16_vae=False, bf16_vae=False, fp32_vae=False, dont_upcast_attention=False,
    use_split_cross_attention=False, use_quad_cross_attention=False,
    use_pytorch_cross_attention=True, disable_xformers=True, deterministic=False,
    verbose="INFO", multi_user=False, enable_cors_header=None, max_upload_size=100,
    extra_model_paths_config=None, cuda_device=None, disable_all_custom_nodes=False,
    front_end_version="latentgraph", front_end_root=None, cache_lru=0, cache_classic=True,
)
