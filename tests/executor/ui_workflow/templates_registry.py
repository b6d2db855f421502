"""Stub declarations of ComfyUI core nodes, for converting real UI workflows in tests.

Class names, input names, input order, widget options and outputs follow ComfyUI's nodes.py and
comfy_extras (recent versions), because positional ``widgets_values`` only map correctly when
the widget order matches. Nodes never run here. Combos whose options are files or change with
every ComfyUI release (model pickers, CLIP loader types) use a callable: tests treat them as
free strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from nodes.api import (
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    CONTROL_NET,
    GUIDER,
    IMAGE,
    LATENT,
    MASK,
    MODEL,
    NOISE,
    SAMPLER,
    SIGMAS,
    VAE,
    Boolean,
    Combo,
    Float,
    Input,
    Int,
    Link,
    Node,
    Output,
    Registry,
    Socket,
    String,
)
from nodes.api.sockets import socket_type

MAX_RESOLUTION = 16384
SEED_MAX = 0xFFFFFFFFFFFFFFFF
INT_SOCKET = socket_type("INT")
STRING_SOCKET = socket_type("STRING")

SAMPLERS = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc",
    "uni_pc_bh2",
)
SCHEDULERS = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
)
LATENT_UPSCALE = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
IMAGE_UPSCALE = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP = ("disabled", "center")


def _files() -> Sequence[str]:
    """Stands for a folder listing: the options are whatever files a machine has."""
    return ()


def is_free_combo(declared: Input) -> bool:
    """Whether a combo's options are a file listing or version-dependent (any string)."""
    return isinstance(declared, Combo) and callable(declared.choices)


def files(name: str, **kw: object) -> Combo:
    return Combo(name, choices=_files, **kw)  # type: ignore[arg-type]


def link(name: str, socket: type[Socket], **kw: object) -> Link:
    return Link(name, socket=socket, **kw)  # type: ignore[arg-type]


def seed(name: str) -> Int:
    return Int(name, default=0, min=0, max=SEED_MAX, control_after_generate=True)


def text(name: str, default: str = "", **kw: object) -> Input:
    return String(name, default=default, **kw)  # type: ignore[arg-type]


def steps(default: int = 20, high: int = 10000) -> Int:
    return Int("steps", default=default, min=1, max=high)


def cfg(name: str = "cfg", default: float = 8.0) -> Float:
    return Float(name, default=default, min=0.0, max=100.0, step=0.1, round=0.01)


def dim(name: str, default: int, low: int = 16, step: int = 8) -> Int:
    return Int(name, default=default, min=low, max=MAX_RESOLUTION, step=step)


def unit(name: str, default: float, step: float = 0.01) -> Float:
    return Float(name, default=default, min=0.0, max=1.0, step=step)


def out(*sockets: type[Socket] | tuple[type[Socket], str]) -> tuple[Output, ...]:
    made = []
    for s in sockets:
        made.append(Output(s[0], s[1]) if isinstance(s, tuple) else Output(s))
    return tuple(made)


def declare(
    name: str,
    inputs: Sequence[Input],
    outputs: tuple[Output, ...] = (),
    *,
    display: str | None = None,
    output_node: bool = False,
) -> type[Node]:
    body = {
        "type_name": name,
        "display_name": display,
        "inputs": tuple(inputs),
        "outputs": outputs,
        "output_node": output_node,
        "__doc__": f"Stub of ComfyUI's {name}.",
    }
    return type(name, (Node,), body)


def _loaders() -> list[type[Node]]:
    clip_loader_extra = [Combo("device", choices=("default", "cpu"), optional=True, advanced=True)]
    return [
        declare("CheckpointLoaderSimple", [files("ckpt_name")], out(MODEL, CLIP, VAE),
                display="Load Checkpoint"),
        declare("UNETLoader", [files("unet_name"), Combo("weight_dtype", choices=(
            "default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"))], out(MODEL),
            display="Load Diffusion Model"),
        declare("VAELoader", [files("vae_name")], out(VAE), display="Load VAE"),
        declare("CLIPLoader", [files("clip_name"), files("type"), *clip_loader_extra],
                out(CLIP), display="Load CLIP"),
        declare("DualCLIPLoader", [files("clip_name1"), files("clip_name2"), files("type"),
                                   *clip_loader_extra], out(CLIP), display="DualCLIPLoader"),
        declare("TripleCLIPLoader", [files(f"clip_name{i}") for i in (1, 2, 3)], out(CLIP)),
        declare("QuadrupleCLIPLoader", [files(f"clip_name{i}") for i in (1, 2, 3, 4)],
                out(CLIP)),
        declare("CLIPVisionLoader", [files("clip_name")], out(CLIP_VISION),
                display="Load CLIP Vision"),
        declare("ControlNetLoader", [files("control_net_name")], out(CONTROL_NET),
                display="Load ControlNet Model"),
        declare("LoraLoader", [
            link("model", MODEL), link("clip", CLIP), files("lora_name"),
            Float("strength_model", default=1.0, min=-100.0, max=100.0, step=0.01),
            Float("strength_clip", default=1.0, min=-100.0, max=100.0, step=0.01),
        ], out(MODEL, CLIP), display="Load LoRA"),
        declare("LoraLoaderModelOnly", [
            link("model", MODEL), files("lora_name"),
            Float("strength_model", default=1.0, min=-100.0, max=100.0, step=0.01),
        ], out(MODEL)),
        declare("LoadImage", [Combo("image", choices=_files, image_upload=True)],
                out(IMAGE, MASK), display="Load Image"),
    ]


def _conditioning() -> list[type[Node]]:
    cond = link("conditioning", CONDITIONING)
    return [
        declare("CLIPTextEncode", [text("text", multiline=True, dynamic_prompts=True),
                                   link("clip", CLIP)], out(CONDITIONING),
                display="CLIP Text Encode (Prompt)"),
        declare("CLIPTextEncodeFlux", [
            link("clip", CLIP), text("clip_l", multiline=True, dynamic_prompts=True),
            text("t5xxl", multiline=True, dynamic_prompts=True),
            Float("guidance", default=3.5, min=0.0, max=100.0, step=0.1),
        ], out(CONDITIONING)),
        declare("CLIPSetLastLayer", [link("clip", CLIP), Int(
            "stop_at_clip_layer", default=-1, min=-24, max=-1, step=1)], out(CLIP)),
        declare("ConditioningCombine", [link("conditioning_1", CONDITIONING),
                                        link("conditioning_2", CONDITIONING)],
                out(CONDITIONING)),
        declare("ConditioningZeroOut", [cond], out(CONDITIONING)),
        declare("FluxGuidance", [cond, Float("guidance", default=3.5, min=0.0, max=100.0,
                                             step=0.1)], out(CONDITIONING)),
        declare("ReferenceLatent", [cond, link("latent", LATENT, optional=True)],
                out(CONDITIONING)),
        declare("ControlNetApplyAdvanced", [
            link("positive", CONDITIONING), link("negative", CONDITIONING),
            link("control_net", CONTROL_NET), link("image", IMAGE),
            Float("strength", default=1.0, min=0.0, max=10.0, step=0.01),
            unit("start_percent", 0.0, 0.001), unit("end_percent", 1.0, 0.001),
            link("vae", VAE, optional=True),
        ], out((CONDITIONING, "positive"), (CONDITIONING, "negative")),
            display="Apply ControlNet"),
        declare("InstructPixToPixConditioning", [
            link("positive", CONDITIONING), link("negative", CONDITIONING), link("vae", VAE),
            link("pixels", IMAGE)],
            out((CONDITIONING, "positive"), (CONDITIONING, "negative"), (LATENT, "latent"))),
        declare("InpaintModelConditioning", [
            link("positive", CONDITIONING), link("negative", CONDITIONING), link("vae", VAE),
            link("pixels", IMAGE), link("mask", MASK), Boolean("noise_mask", default=True)],
            out((CONDITIONING, "positive"), (CONDITIONING, "negative"), (LATENT, "latent"))),
        declare("CLIPVisionEncode", [link("clip_vision", CLIP_VISION), link("image", IMAGE),
                                     Combo("crop", choices=("center", "none"))],
                out(CLIP_VISION_OUTPUT)),
        declare("unCLIPConditioning", [
            cond, link("clip_vision_output", CLIP_VISION_OUTPUT),
            Float("strength", default=1.0, min=-10.0, max=10.0, step=0.01),
            unit("noise_augmentation", 0.0)], out(CONDITIONING)),
        declare("T5TokenizerOptions", [link("clip", CLIP),
                                       Int("min_padding", default=0, min=0, max=10000),
                                       Int("min_length", default=0, min=0, max=10000)],
                out(CLIP)),
    ]


def _sampling() -> list[type[Node]]:
    sampler = Combo("sampler_name", choices=SAMPLERS)
    scheduler = Combo("scheduler", choices=SCHEDULERS)
    model, pos, neg = link("model", MODEL), link("positive", CONDITIONING), link(
        "negative", CONDITIONING)
    latent = link("latent_image", LATENT)
    two_latents = out((LATENT, "output"), (LATENT, "denoised_output"))
    return [
        declare("KSampler", [model, seed("seed"), steps(), cfg(), sampler, scheduler, pos, neg,
                             latent, unit("denoise", 1.0)], out(LATENT), display="KSampler"),
        declare("KSamplerAdvanced", [
            model, Combo("add_noise", choices=("enable", "disable")), seed("noise_seed"),
            steps(), cfg(), sampler, scheduler, pos, neg, latent,
            Int("start_at_step", default=0, min=0, max=10000),
            Int("end_at_step", default=10000, min=0, max=10000),
            Combo("return_with_leftover_noise", choices=("disable", "enable")),
        ], out(LATENT), display="KSampler (Advanced)"),
        declare("KSamplerSelect", [sampler], out(SAMPLER)),
        declare("BasicScheduler", [model, scheduler, steps(), unit("denoise", 1.0)],
                out(SIGMAS)),
        declare("SDTurboScheduler", [model, Int("steps", default=1, min=1, max=10),
                                     unit("denoise", 1.0)], out(SIGMAS)),
        declare("Flux2Scheduler", [Int("steps", default=20, min=1, max=4096),
                                   dim("width", 1024, 16, 1), dim("height", 1024, 16, 1)],
                out(SIGMAS)),
        declare("RandomNoise", [seed("noise_seed")], out(NOISE)),
        declare("CFGGuider", [model, pos, neg, cfg()], out(GUIDER)),
        declare("BasicGuider", [model, link("conditioning", CONDITIONING)], out(GUIDER)),
        declare("DualCFGGuider", [
            model, link("cond1", CONDITIONING), link("cond2", CONDITIONING), neg,
            cfg("cfg_conds"), cfg("cfg_cond2_negative"),
            Combo("style", choices=("regular", "nested")),
        ], out(GUIDER)),
        declare("SamplerCustom", [
            model, Boolean("add_noise", default=True), seed("noise_seed"), cfg(), pos, neg,
            link("sampler", SAMPLER), link("sigmas", SIGMAS), latent], two_latents),
        declare("SamplerCustomAdvanced", [
            link("noise", NOISE), link("guider", GUIDER), link("sampler", SAMPLER),
            link("sigmas", SIGMAS), latent], two_latents),
        declare("ModelSamplingSD3", [model, Float("shift", default=3.0, min=0.0, max=100.0,
                                                  step=0.01)], out(MODEL)),
        declare("ModelSamplingAuraFlow", [model, Float("shift", default=1.73, min=0.0,
                                                       max=100.0, step=0.01)], out(MODEL)),
        declare("DifferentialDiffusion", [model, Float("strength", default=1.0, min=0.0,
                                                       max=1.0, step=0.01, optional=True)],
                out(MODEL)),
    ]


def _latents_and_images() -> list[type[Node]]:
    samples, vae = link("samples", LATENT), link("vae", VAE)
    batch = Int("batch_size", default=1, min=1, max=4096)
    video = [dim("width", 848, 16, 16), dim("height", 480, 16, 16),
             Int("length", default=25, min=1, max=MAX_RESOLUTION, step=4), batch]
    return [
        declare("EmptyLatentImage", [dim("width", 512), dim("height", 512), batch],
                out(LATENT), display="Empty Latent Image"),
        declare("EmptySD3LatentImage", [dim("width", 1024, 16, 16),
                                        dim("height", 1024, 16, 16), batch], out(LATENT)),
        declare("EmptyFlux2LatentImage", [dim("width", 1024, 16, 16),
                                          dim("height", 1024, 16, 16), batch], out(LATENT)),
        declare("EmptyHunyuanLatentVideo", video, out(LATENT)),
        declare("EmptyHunyuanVideo15Latent", video, out(LATENT)),
        declare("VAEDecode", [samples, vae], out(IMAGE), display="VAE Decode"),
        declare("VAEEncode", [link("pixels", IMAGE), vae], out(LATENT), display="VAE Encode"),
        declare("VAEDecodeTiled", [
            samples, vae, Int("tile_size", default=512, min=64, max=4096, step=32),
            Int("overlap", default=64, min=0, max=4096, step=32),
            Int("temporal_size", default=64, min=8, max=4096, step=4),
            Int("temporal_overlap", default=8, min=4, max=4096, step=4)], out(IMAGE)),
        declare("LatentUpscale", [samples, Combo("upscale_method", choices=LATENT_UPSCALE),
                                  dim("width", 512, 0), dim("height", 512, 0),
                                  Combo("crop", choices=CROP)], out(LATENT),
                display="Upscale Latent"),
        declare("LatentUpscaleBy", [samples, Combo("upscale_method", choices=LATENT_UPSCALE),
                                    Float("scale_by", default=1.5, min=0.01, max=8.0,
                                          step=0.01)], out(LATENT)),
    ]


def _images() -> list[type[Node]]:
    image = link("image", IMAGE)
    return [
        declare("ImageScale", [image, Combo("upscale_method", choices=IMAGE_UPSCALE),
                               dim("width", 512, 0, 1), dim("height", 512, 0, 1),
                               Combo("crop", choices=CROP)], out(IMAGE)),
        declare("ImageScaleBy", [image, Combo("upscale_method", choices=IMAGE_UPSCALE),
                                 Float("scale_by", default=1.0, min=0.01, max=8.0, step=0.01)],
                out(IMAGE)),
        declare("ImageScaleToTotalPixels", [
            image, Combo("upscale_method", choices=IMAGE_UPSCALE),
            Float("megapixels", default=1.0, min=0.01, max=16.0, step=0.01),
            Int("resolution_steps", default=1, min=1, max=256)], out(IMAGE)),
        declare("ImagePadForOutpaint", [
            image, *(dim(side, 0, 0) for side in ("left", "top", "right", "bottom")),
            Int("feathering", default=40, min=0, max=MAX_RESOLUTION, step=1)],
            out(IMAGE, MASK)),
        declare("Canny", [image, Float("low_threshold", default=0.4, min=0.01, max=0.99,
                                       step=0.01),
                          Float("high_threshold", default=0.8, min=0.01, max=0.99, step=0.01)],
                out(IMAGE)),
        declare("FluxKontextImageScale", [image], out(IMAGE)),
        declare("GetImageSize", [image], out((INT_SOCKET, "width"), (INT_SOCKET, "height"),
                                             (INT_SOCKET, "batch_size"))),
        declare("SaveImage", [link("images", IMAGE), text("filename_prefix", "ComfyUI")],
                display="Save Image", output_node=True),
        declare("PreviewImage", [link("images", IMAGE)], display="Preview Image",
                output_node=True),
    ]


def _primitives() -> list[type[Node]]:
    return [
        declare("PrimitiveInt", [Int("value", default=0, min=-SEED_MAX, max=SEED_MAX,
                                     control_after_generate=True)], out(INT_SOCKET)),
        declare("PrimitiveStringMultiline", [text("value", multiline=True)],
                out(STRING_SOCKET)),
        declare("StringConcatenate", [text("string_a", multiline=True),
                                      text("string_b", multiline=True), text("delimiter")],
                out(STRING_SOCKET)),
    ]


def core_nodes() -> list[type[Node]]:
    """Every stub node class."""
    return [
        *_loaders(), *_conditioning(), *_sampling(), *_latents_and_images(), *_images(),
        *_primitives(),
    ]


def build_registry() -> Registry:
    registry = Registry()
    registry.register_all(core_nodes())
    return registry
