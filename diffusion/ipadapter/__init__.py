"""IP-Adapter (SD1.x and SDXL: base, light, plus, plus-face, full-face, ViT-G) through the
UNet's attention processors, with the IPAdapter plugin's weight types and embeds scaling."""

from __future__ import annotations

from diffusion.ipadapter.apply import (
    COMBINE_METHODS,
    AdapterImages,
    Application,
    attention_processor,
    check_fits,
    combine_embeds,
    project_images,
)
from diffusion.ipadapter.attention import EMBEDS_SCALING, IPAdapterAttention, LayerImage
from diffusion.ipadapter.files import IPADAPTER_COMPONENT, IPAdapterFile, open_ipadapter_file
from diffusion.ipadapter.layers import (
    CrossAttentionSlot,
    cross_attention_slots,
    spatial_transformer_count,
)
from diffusion.ipadapter.model import IPAdapterConfig, IPAdapterModel, detect_ipadapter
from diffusion.ipadapter.weights import WEIGHT_TYPES, LayerWeight, WeightSchedule

__all__ = [
    "COMBINE_METHODS", "EMBEDS_SCALING", "IPADAPTER_COMPONENT", "WEIGHT_TYPES", "AdapterImages",
    "Application", "CrossAttentionSlot", "IPAdapterAttention", "IPAdapterConfig", "IPAdapterFile",
    "IPAdapterModel", "LayerImage", "LayerWeight", "WeightSchedule", "attention_processor",
    "check_fits", "combine_embeds", "cross_attention_slots", "detect_ipadapter",
    "open_ipadapter_file", "project_images", "spatial_transformer_count",
]
