"""Link socket types: the wire types that flow between nodes.

A socket type is a class whose ``type_name`` is the ComfyUI type string. Declaring inputs and
outputs with these classes (not bare strings) lets editors and type checkers find every use.
Plugins that bring their own types call :func:`socket_type`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

ANY_TYPE = "*"


class Socket:
    """Base class of all link socket types."""

    type_name: ClassVar[str] = ANY_TYPE


def socket_type(name: str, doc: str = "") -> type[Socket]:
    """Make a socket class for a type name that is not built in (plugins, tests)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"socket type name must be a non-empty string, got {name!r}")
    return type(name, (Socket,), {"type_name": name, "__doc__": doc or f"{name} socket."})


class ANY(Socket):
    """Matches every type (ComfyUI's ``*``)."""

    type_name = ANY_TYPE


class MODEL(Socket):
    """A diffusion model handle (UNet plus its sampling configuration and patches)."""

    type_name = "MODEL"


class CLIP(Socket):
    """A text encoder handle with its tokenizer."""

    type_name = "CLIP"


class VAE(Socket):
    """A VAE handle."""

    type_name = "VAE"


class CONDITIONING(Socket):
    """A list of conditioning entries (embeddings plus area, mask, strength …)."""

    type_name = "CONDITIONING"


class LATENT(Socket):
    """Latent samples with an optional noise mask and batch index."""

    type_name = "LATENT"


class IMAGE(Socket):
    """A batch of images, (B, H, W, C) floats in [0, 1]."""

    type_name = "IMAGE"


class MASK(Socket):
    """A batch of masks, (B, H, W) floats in [0, 1]."""

    type_name = "MASK"


class CONTROL_NET(Socket):
    """A ControlNet or T2I-Adapter handle."""

    type_name = "CONTROL_NET"


class CLIP_VISION(Socket):
    """A CLIP vision encoder handle."""

    type_name = "CLIP_VISION"


class CLIP_VISION_OUTPUT(Socket):
    """The output of a CLIP vision encoder."""

    type_name = "CLIP_VISION_OUTPUT"


class STYLE_MODEL(Socket):
    """A T2I-Adapter style model handle."""

    type_name = "STYLE_MODEL"


class UPSCALE_MODEL(Socket):
    """An image upscaling model handle."""

    type_name = "UPSCALE_MODEL"


class SAMPLER(Socket):
    """A sampler function with its options."""

    type_name = "SAMPLER"


class SIGMAS(Socket):
    """A 1-D schedule of noise levels."""

    type_name = "SIGMAS"


class NOISE(Socket):
    """A seeded initial-noise generator."""

    type_name = "NOISE"


class GUIDER(Socket):
    """A guidance function (model plus conditioning)."""

    type_name = "GUIDER"


class HOOKS(Socket):
    """A group of weight hooks (LoRAs or models as LoRAs, with keyframes) for conditioning."""

    type_name = "HOOKS"


class HOOK_KEYFRAMES(Socket):
    """Keyframes scheduling the strength of weight hooks over the sampling run."""

    type_name = "HOOK_KEYFRAMES"


class TIMESTEPS_RANGE(Socket):
    """A (start, end) part of the sampling schedule, as fractions."""

    type_name = "TIMESTEPS_RANGE"


class FLOATS(Socket):
    """A list of floating-point values (one per keyframe, frame …)."""

    type_name = "FLOATS"


class LATENT_OPERATION(Socket):
    """A function from latents to latents (sharpen, tonemap …), applied by a latent or a
    guidance node."""

    type_name = "LATENT_OPERATION"


class INT(Socket):
    """An integer value passed along a link (primitive nodes, image sizes)."""

    type_name = "INT"


class FLOAT(Socket):
    """A floating-point value passed along a link."""

    type_name = "FLOAT"


class STRING(Socket):
    """A text value passed along a link."""

    type_name = "STRING"


class BOOLEAN(Socket):
    """A true/false value passed along a link."""

    type_name = "BOOLEAN"


@lru_cache(maxsize=4096)
def types_match(output_type: str, input_type: str) -> bool:
    """Whether an output of ``output_type`` may feed an input of ``input_type``.

    As in ComfyUI, a type string may be a comma-separated set; two sets match when they overlap,
    and ``*`` matches anything.
    """
    if ANY_TYPE in (output_type, input_type):
        return True
    outs = {t.strip() for t in output_type.split(",")}
    ins = {t.strip() for t in input_type.split(",")}
    return ANY_TYPE in outs or ANY_TYPE in ins or bool(outs & ins)
