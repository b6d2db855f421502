"""Full-size IP-Adapter layouts on the meta device: the published adapters' shapes (SD1.5 base,
light, plus, plus-face, full-face, ViT-G; SDXL ViT-H base, plus, plus-face, ViT-G base) in the
original layout are what diffusers' own converters (``_convert_ip_adapter_image_proj_to_diffusers``
and ``_convert_ip_adapter_attn_to_diffusers`` on a full-size UNet, strict state-dict loads)
accept; our opener detects each from the file's keys and shapes alone, checks it against the
model family, and refuses truncated, FaceID and wrong-family files by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffusion.ipadapter import (
    IPAdapterConfig,
    IPAdapterModel,
    check_fits,
    cross_attention_slots,
    open_ipadapter_file,
)
from diffusion.ipadapter.model import ResamplerConfig
from diffusion.loading import UnknownModelError
from diffusion.loading.files import TensorFile
from diffusion.unet import family_config
from diffusion.vision import VIT_BIGG_14, VIT_H_14

diffusers = pytest.importorskip("diffusers")

H_EMBED, G_EMBED = VIT_H_14.projection_dim, VIT_BIGG_14.projection_dim  # 1024, 1280
H_HIDDEN = VIT_H_14.width  # 1280: plus and full-face read ViT-H hidden states


def published(name: str) -> tuple[str, IPAdapterConfig]:
    """(family, config) of a published adapter, as its file's shapes describe it."""
    family = "sdxl" if "sdxl" in name else "sd1"
    cfg = family_config(family)  # type: ignore[arg-type]
    layers = tuple((s.key, s.inner) for s in cross_attention_slots(cfg))
    token = cfg.context_dim
    if name in ("ip-adapter_sd15", "ip-adapter_sd15_light", "ip-adapter_sdxl_vit-h"):
        return family, IPAdapterConfig("base", H_EMBED, token, 4, layers)
    if name in ("ip-adapter_sd15_vit-G", "ip-adapter_sdxl"):
        return family, IPAdapterConfig("base", G_EMBED, token, 4, layers)
    if name == "ip-adapter-full-face_sd15":
        return family, IPAdapterConfig("full", H_HIDDEN, token, None, layers)
    dim, heads = (1280, 20) if family == "sdxl" else (768, 12)
    resampler = ResamplerConfig(dim=dim, depth=4, heads=heads, num_queries=16, ff_mult=4)
    return family, IPAdapterConfig("plus", H_HIDDEN, token, 16, layers, resampler)


NAMES = ["ip-adapter_sd15", "ip-adapter_sd15_light", "ip-adapter_sd15_vit-G",
         "ip-adapter-plus_sd15", "ip-adapter-plus-face_sd15", "ip-adapter-full-face_sd15",
         "ip-adapter_sdxl_vit-h", "ip-adapter_sdxl", "ip-adapter-plus_sdxl_vit-h",
         "ip-adapter-plus-face_sdxl_vit-h"]


def manifest(config: IPAdapterConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in IPAdapterModel(config).state_dict().items()}


def nested_meta(shapes: dict[str, tuple[int, ...]]) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, shape in shapes.items():
        part, _, rest = key.partition(".")
        out[part][rest] = torch.empty(shape, device="meta")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_published_layout_is_what_diffusers_converters_load(name: str,
                                                            unet_reference_config) -> None:
    family, config = published(name)
    shapes = manifest(config)
    state = nested_meta(shapes)
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**unet_reference_config(
            family_config(family)))  # type: ignore[arg-type]
        projection = unet._convert_ip_adapter_image_proj_to_diffusers(
            state["image_proj"], low_cpu_mem_usage=False)
        processors = unet._convert_ip_adapter_attn_to_diffusers([state],
                                                               low_cpu_mem_usage=False)
    with_ip = [p for p in processors.values() if hasattr(p, "to_k_ip")]
    assert len(with_ip) == len(config.layers)  # every cross-attention layer, none left over
    assert type(projection).__name__ == {"base": "ImageProjection",
                                         "full": "IPAdapterFullImageProjection",
                                         "plus": "IPAdapterPlusImageProjection"}[config.kind]
    opened = open_ipadapter_file(TensorFile(Path(name + ".safetensors"), shapes))
    assert opened is not None and opened.config == config
    slots = cross_attention_slots(family_config(family))  # type: ignore[arg-type]
    check_fits(opened.config, slots, family_config(family).context_dim, name)  # type: ignore


def test_wrong_family_names_both() -> None:
    _, sdxl = published("ip-adapter-plus_sdxl_vit-h")
    sd1 = family_config("sd1")
    with pytest.raises(ValueError, match=r"plus IP-Adapter for SDXL .*the model is SD1\.x "
                                         r"\(768-wide context, 16 cross-attention layers\)"):
        check_fits(sdxl, cross_attention_slots(sd1), sd1.context_dim, "adapter")


def test_truncated_adapter_is_refused_naming_the_keys() -> None:
    _, config = published("ip-adapter-plus_sd15")
    shapes = manifest(config)
    del shapes["image_proj.layers.2.0.to_kv.weight"]
    del shapes["ip_adapter.17.to_v_ip.weight"]
    with pytest.raises(UnknownModelError) as info:
        open_ipadapter_file(TensorFile(Path("cut.bin"), shapes))
    message = str(info.value)
    assert "cut.bin" in message and "missing (2)" in message
    assert "ipadapter.image_proj.layers.2.0.to_kv.weight" in message
    assert "ipadapter.ip_adapter.17.to_v_ip.weight" in message


def test_faceid_adapters_are_refused_by_name() -> None:
    _, config = published("ip-adapter_sd15")
    shapes = manifest(config)
    lora = {**shapes, "ip_adapter.1.to_q_lora.down.weight": (128, 320)}
    with pytest.raises(UnknownModelError, match="FaceID IP-Adapter.*InsightFace"):
        open_ipadapter_file(TensorFile(Path("faceid.bin"), lora))
    portrait = {k: v for k, v in shapes.items() if not k.startswith("image_proj.")}
    portrait |= {"image_proj.proj.0.weight": (1024, 512), "image_proj.proj.2.weight": (3072, 1024),
                 "image_proj.norm.weight": (768,)}
    with pytest.raises(UnknownModelError, match="portrait"):
        open_ipadapter_file(TensorFile(Path("portrait.bin"), portrait))
