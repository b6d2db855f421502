"""Full-size key layouts on the meta device (nothing allocated): every control file format the
loader accepts, with manifests taken from diffusers (its models built from the published
configs, and its single-file converter for the original ``control_model.`` layout). A file
missing tensors is refused naming them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffusion.control import ControlNetConfig, ControlNetModel, open_control_file
from diffusion.control.files import ControlFile
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorFile
from diffusion.unet import family_config

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint  # noqa: E402

SDXL_CONTROLNET = {  # diffusers/controlnet-canny-sdxl-1.0 and its -mid / -small variants
    "full": (("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"), [1, 2, 10]),
    "mid": (("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"), [0, 0, 1]),
    "small": (("DownBlock2D", "DownBlock2D", "DownBlock2D"), [0, 0, 0]),
}
SDXL_COMMON = {
    "block_out_channels": [320, 640, 1280], "attention_head_dim": [5, 10, 20],
    "use_linear_projection": True, "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
    "cross_attention_dim": 2048,
}
SD1_CONTROLNET = {"cross_attention_dim": 768, "attention_head_dim": 8}
SD2_CONTROLNET = {"cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20],
                  "use_linear_projection": True}


def _meta(factory):
    with torch.device("meta"):
        return factory()


def _shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _open(shapes: dict[str, tuple[int, ...]], name: str = "model.safetensors") -> ControlFile:
    opened = open_control_file(TensorFile(Path(name), dict(shapes)))
    assert opened is not None
    return opened


@pytest.mark.parametrize(("family", "ref_config"), [("sd1", SD1_CONTROLNET),
                                                    ("sd2", SD2_CONTROLNET)])
def test_original_controlnet_layout_is_diffusers_converters(family, ref_config) -> None:
    ours = _meta(lambda: ControlNetModel(ControlNetConfig(family_config(family))))
    checkpoint = {"control_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_controlnet_checkpoint(checkpoint, {"layers_per_block": 2})
    ref = _meta(lambda: diffusers.ControlNetModel(**ref_config))
    assert len(converted) == len(checkpoint)  # nothing dropped, nothing merged
    assert _shapes(ref) == {k: tuple(v.shape) for k, v in converted.items()}
    for prefix in ("control_model.", ""):  # .pth with prefix, fp16 safetensors without
        opened = _open({prefix + k: tuple(v.shape) for k, v in ours.state_dict().items()})
        assert opened.component == "controlnet" and opened.family == family
        assert opened.config == ours.config


@pytest.mark.parametrize("variant", sorted(SDXL_CONTROLNET))
def test_diffusers_sdxl_controlnet_layouts(variant) -> None:
    blocks, depths = SDXL_CONTROLNET[variant]
    ref = _meta(lambda: diffusers.ControlNetModel(down_block_types=blocks,
                                                  transformer_layers_per_block=depths,
                                                  **SDXL_COMMON))
    opened = _open(_shapes(ref))
    assert opened.family == "sdxl" and opened.config.union_types is None
    unet = opened.config.unet
    assert unet.transformer_depth == tuple(d if b != "DownBlock2D" else 0
                                           for b, d in zip(blocks, depths, strict=True)
                                           for _ in range(2))
    assert unet.transformer_depth_middle == depths[-1]
    ours = opened.empty("controlnet")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_diffusers_union_promax_layout() -> None:
    ref = _meta(lambda: diffusers.ControlNetUnionModel(
        down_block_types=SDXL_CONTROLNET["full"][0], transformer_layers_per_block=[1, 2, 10],
        num_control_type=8, conditioning_embedding_out_channels=(16, 32, 96, 256),  # xinsir's
        **SDXL_COMMON))
    opened = _open(_shapes(ref), "controlnet-union-promax-sdxl-1.0.safetensors")
    assert opened.config.union_types == 8
    ours = opened.empty("controlnet")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("adapter_type", "channels", "in_channels", "kind"), [
    ("full_adapter", [320, 640, 1280, 1280], 3, "full"),
    ("full_adapter", [320, 640, 1280, 1280], 1, "full"),
    ("light_adapter", [320, 640, 1280], 3, "light"),
    ("full_adapter_xl", [320, 640, 1280, 1280], 3, "full_xl"),
])
def test_diffusers_t2i_adapter_layouts(adapter_type, channels, in_channels, kind) -> None:
    blocks = 4 if adapter_type == "light_adapter" else 2
    ref = _meta(lambda: diffusers.T2IAdapter(
        in_channels=in_channels, channels=channels, num_res_blocks=blocks,
        downscale_factor=16 if kind == "full_xl" else 8, adapter_type=adapter_type))
    opened = _open(_shapes(ref))
    assert opened.component == "t2i_adapter"
    assert opened.config.kind == kind and opened.config.hint_channels == in_channels
    ours = opened.empty("t2i_adapter")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    original = _open(_shapes(ours))  # the original TencentARC key layout
    assert original.config == opened.config


def test_truncated_controlnet_names_missing_keys() -> None:
    ours = _meta(lambda: ControlNetModel(ControlNetConfig(family_config("sd1"))))
    shapes = {"control_model." + k: tuple(v.shape) for k, v in ours.state_dict().items()
              if not k.startswith("zero_convs.11.")}
    with pytest.raises(UnknownModelError, match=r"missing \(2\).*zero_convs\.11\.0"):
        _open(shapes, "truncated.safetensors")


def test_truncated_t2i_adapter_names_missing_keys() -> None:
    ref = _meta(lambda: diffusers.T2IAdapter(adapter_type="full_adapter"))
    shapes = {k: v for k, v in _shapes(ref).items()
              if not k.startswith("adapter.body.2.resnets.1.block2.")}
    with pytest.raises(UnknownModelError, match=r"missing \(2\).*'body\.5\.block2\.bias'"):
        _open(shapes, "truncated.safetensors")


def test_checkpoint_is_not_a_control_file() -> None:
    from diffusion.checkpoint_maker import layout_shapes
    assert open_control_file(TensorFile(Path("sd15.safetensors"), layout_shapes("sd15"))) is None
