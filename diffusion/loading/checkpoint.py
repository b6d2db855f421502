"""``load_checkpoint(path)``: a single-file SD1.x / SD2.x / SDXL checkpoint into our modules."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import torch
from torch import Tensor, nn

from diffusion import latent_format
from diffusion.latent_format import LatentFormat
from diffusion.loading.arena import HostArena
from diffusion.loading.detect import (
    UNET_PREFIX,
    VAE_PREFIX,
    CheckpointLayout,
    Shapes,
    TextSlot,
    detect_layout,
)
from diffusion.loading.diffusers_folder import (
    SD2_TEXT_TRUNCATED,
    is_diffusers_folder,
    read_diffusers_folder,
)
from diffusion.loading.errors import UnknownModelError
from diffusion.loading.files import TensorSource, read_tensor_file
from diffusion.meta_init import meta_init_skipped
from diffusion.text.clip import CLIPTextModel, OpenCLIPTextModel, TextEncoderConfig
from diffusion.unet.model import UNetModel
from diffusion.vae.model import AutoencoderKL
from diffusion.weight_cast import CAST_TYPES, cast_weights

logger = logging.getLogger(__name__)

Prediction = Literal["eps", "v"]
V_PRED_KEY = "v_pred"  # ComfyUI's marker: an empty tensor saved with v-prediction models
ZSNR_KEY = "ztsnr"  # ComfyUI's marker for zero-terminal-SNR models (read by nodes.models.sources)
_METADATA_PREDICTION_KEYS = ("modelspec.prediction_type", "prediction_type")
# Keys real files carry that are not weights of our modules: DDPM schedule buffers (top-level,
# no dot), EMA copies, transformers' position_ids buffer.
_IGNORED = re.compile(r"^[^.]+$|^model_ema\.|\.embeddings\.position_ids$")
SD2_TEXT_PREFIX = "cond_stage_model.model."


def optional_default(key: str, shape: tuple[int, ...]) -> Tensor | None:
    """A stand-in for a weight some valid files omit; ``None`` when the key is required.

    ``logit_scale`` (OpenCLIP's contrastive temperature) never affects text encoding; SD2's
    ``text_projection`` only feeds a pooled output SD2 does not use (diffusers drops it).
    """
    if key.endswith(".logit_scale"):
        return torch.tensor(math.log(100.0))
    if key == SD2_TEXT_PREFIX + "text_projection" and len(shape) == 2 and shape[0] == shape[1]:
        return torch.eye(shape[0])
    return None


@dataclass
class Checkpoint:
    path: Path
    layout: CheckpointLayout
    unet: UNetModel
    vae: AutoencoderKL | None
    text_encoders: dict[str, tuple[TextSlot, nn.Module]]
    prediction: Prediction
    latent_format: LatentFormat


SD2_V_STAT_KEY = UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
SD2_V_STAT_THRESHOLD = 0.09
"""ComfyUI's rule for SD2.x files that do not say: v-prediction when the population standard
deviation of this bias exceeds 0.09 (768-v training spreads it; 512 eps models keep it narrow)."""


def _said_prediction(shapes: Shapes, metadata: Mapping[str, str]) -> Prediction | None:
    if V_PRED_KEY in shapes:
        return "v"
    for key in _METADATA_PREDICTION_KEYS:
        value = metadata.get(key, "").lower()
        if value in ("v", "v_prediction", "v-prediction"):
            return "v"
        if value in ("eps", "epsilon"):
            return "eps"
        if value:
            logger.warning("ignoring unknown %s=%r", key, value)
    return None


def read_one(source: TensorSource, key: str) -> Tensor | None:
    """One tensor of ``source``, or None when it has no such key."""
    if key not in source.shapes:
        return None
    return next(iter(source.tensors([key])))[1]


def prediction_type(shapes: Shapes, metadata: Mapping[str, str], *,
                    family: str | None = None, in_channels: int | None = None,
                    adm_in_channels: int | None = None,
                    read: Callable[[str], Tensor | None] | None = None) -> Prediction:
    """What the file says (``v_pred`` key or safetensors metadata in ``shapes`` / ``metadata``);
    for an SD2.x UNet with 4 input channels that says nothing, ComfyUI's weight statistic
    (``SD2_V_STAT_KEY``, which ``read`` returns, or None when absent); else eps. An SD2.x UNet
    with an ADM input (SD2.1 unCLIP) is always v-prediction, as ComfyUI's ``SD21UNCLIP``; so is
    the SD x4 upscaler (ComfyUI's ``SD_X4Upscaler`` fixes it)."""
    if family == "sd_x4_upscaler" or (family == "sd2" and adm_in_channels is not None):
        return "v"
    said = _said_prediction(shapes, metadata)
    if said is not None:
        return said
    if read is None or family != "sd2" or in_channels != 4:
        return "eps"
    bias = read(SD2_V_STAT_KEY)
    if bias is None:
        return "eps"
    spread = float(bias.float().std(unbiased=False))
    detected: Prediction = "v" if spread > SD2_V_STAT_THRESHOLD else "eps"
    logger.info("SD2.x file without a prediction marker: %s detected from the weights "
                "(std %.4f vs %.2f)", detected, spread, SD2_V_STAT_THRESHOLD)
    return detected


def _text_module(slot: TextSlot, cfg: TextEncoderConfig) -> nn.Module:
    return CLIPTextModel(cfg) if slot.kind == "clip" else OpenCLIPTextModel(cfg)


def build_modules(layout: CheckpointLayout) -> dict[str, nn.Module]:
    """Our modules for ``layout`` keyed by checkpoint prefix, on the current default device
    (on meta, without running the layers' initialisation: ``diffusion.meta_init``)."""
    with meta_init_skipped():
        modules: dict[str, nn.Module] = {UNET_PREFIX: UNetModel(layout.unet)}
        if layout.vae is not None:
            modules[VAE_PREFIX] = AutoencoderKL(layout.vae)
        for slot, cfg in layout.text:
            modules[slot.prefix] = _text_module(slot, cfg)
    return modules


def expected_shapes(modules: Mapping[str, nn.Module]) -> dict[str, tuple[int, ...]]:
    return {
        prefix + key: tuple(value.shape)
        for prefix, module in modules.items()
        for key, value in module.state_dict().items()
    }


def check_layout(path: Path | str, found: Shapes, expected: Shapes) -> None:
    """Raises ``UnknownModelError`` naming missing, unexpected and mis-shaped keys."""
    prefixes = {k.split(".")[0] for k in expected}
    relevant = {k: v for k, v in found.items() if not _IGNORED.search(k)}
    missing = sorted(
        k for k in set(expected) - set(relevant) if optional_default(k, expected[k]) is None
    )
    unexpected = sorted(k for k in set(relevant) - set(expected) if k.split(".")[0] in prefixes)
    shaped = sorted(k for k in set(expected) & set(relevant) if tuple(relevant[k]) != expected[k])
    if missing or unexpected or shaped:
        parts = [
            f"{label} ({len(keys)}): {keys[:4]}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shaped))
            if keys
        ]
        raise UnknownModelError(
            f"{path}: layout does not match the detected model; " + "; ".join(parts)
        )
    ignored = sorted(set(found) - set(expected))
    if ignored:
        logger.debug(
            "%s: ignoring %d keys outside the model (%s ...)", path, len(ignored), ignored[:3]
        )


HALF_DTYPES = (torch.float16, torch.bfloat16)
_SLOT_PAD = 64  # bytes per tensor the arena may skip for alignment


def _kept(tensor: Tensor, dtype: torch.dtype, keep_half: bool) -> bool:
    """Whether ``tensor`` is used as read: already ``dtype``, or half precision kept."""
    return tensor.dtype == dtype or (keep_half and dtype.is_floating_point
                                     and tensor.dtype in HALF_DTYPES)


def _arena_bytes(shapes: Mapping[str, tuple[int, ...]], dtype: torch.dtype) -> int:
    return sum(math.prod(shape) * dtype.itemsize + _SLOT_PAD for shape in shapes.values())


def _read_state(prefix: str, expected: Mapping[str, tuple[int, ...]], source: TensorSource,
                dtype: torch.dtype, keep_half: bool) -> tuple[dict[str, Tensor], list[Tensor]]:
    """The module's state from ``source`` and the tensors kept as read (zero-copy views).

    Converted tensors are written straight into their final storage, one ``HostArena`` per
    module (no intermediate copy); the source view of each is dropped right after.
    """
    present = [k for k in expected if k in source.shapes]
    state: dict[str, Tensor] = {}
    kept: list[Tensor] = []
    arena: HostArena | None = None
    for key, tensor in source.tensors(present):
        if _kept(tensor, dtype, keep_half):
            kept.append(tensor)
            state[key[len(prefix) :]] = tensor
            continue
        if arena is None:
            arena = HostArena(_arena_bytes(expected, dtype))
        state[key[len(prefix) :]] = arena.take(tuple(tensor.shape), dtype).copy_(tensor)
    for key in expected.keys() - set(present):
        default = optional_default(key, expected[key])
        assert default is not None, key  # check_layout let only optional keys be absent
        logger.info("%s: %s absent; using a neutral default", source.path, key)
        state[key[len(prefix) :]] = default.to(dtype)
    return state, kept


def stored_nbytes(module: nn.Module, prefix: str, source: TensorSource, dtype: torch.dtype, *,
                  keep_half: bool = False) -> int:
    """Bytes the meta-built ``module`` will occupy once ``load_into`` has filled it: ``dtype``
    per element, or the stored size of fp16/bf16 tensors kept with ``keep_half`` (when
    ``source`` can tell stored dtypes from its header)."""
    stored = getattr(source, "dtype_of", None)
    total = 0
    for name, sub in module.named_modules():
        castable = type(sub) in CAST_TYPES  # other modules' half tensors are converted
        own = [*sub.named_parameters(recurse=False), *sub.named_buffers(recurse=False)]
        for key, tensor in own:
            full = prefix + (f"{name}.{key}" if name else key)
            size = dtype.itemsize
            if keep_half and castable and callable(stored) and full in source.shapes:
                file_dtype = stored(full)
                size = file_dtype.itemsize if file_dtype in HALF_DTYPES else size
            total += tensor.numel() * size
    return total


def load_into(modules: Mapping[str, nn.Module], source: TensorSource, dtype: torch.dtype, *,
              keep_half: bool = False) -> None:
    """Streams tensors from ``source`` into the meta-built ``modules`` (assign, no double copy).

    A tensor stored in ``dtype`` is used as read: for a safetensors file, a view of its private
    memory map (file-backed, no copy). With ``keep_half`` an fp16/bf16 tensor is kept too and the
    module computes in ``dtype`` by upcasting per layer (``diffusion.weight_cast``). Any other
    tensor is converted once into an arena (``diffusion.loading.arena``). Kept file pages are
    faulted in here, so the file is read once, during the load.
    """
    for prefix, module in modules.items():
        expected = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
        state, kept = _read_state(prefix, expected, source, dtype, keep_half)
        populate = getattr(source, "populate", None)
        if callable(populate):
            populate(kept)
        module.load_state_dict(state, strict=True, assign=True)
        module.eval().requires_grad_(False)
        if any(t.dtype != dtype and t.is_floating_point() for t in kept):
            cast_weights(module, dtype)


def _read_source(path: Path) -> TensorSource:
    if path.is_dir():
        if not is_diffusers_folder(path):
            raise UnknownModelError(f"{path}: folder is not a diffusers pipeline (no unet/)")
        return read_diffusers_folder(path)
    return read_tensor_file(path)


def _text_slots(layout: CheckpointLayout, metadata: Mapping[str, str]) -> CheckpointLayout:
    """diffusers stores SD2's ViT-H without its last layer: its penultimate layer comes last."""
    if metadata.get(SD2_TEXT_TRUNCATED) != "1":
        return layout
    text = tuple(
        (dataclasses.replace(slot, layer=-1) if slot.prefix == SD2_TEXT_PREFIX else slot, cfg)
        for slot, cfg in layout.text
    )
    return dataclasses.replace(layout, text=text)


class ExtraComponent(Protocol):
    """A component a checkpoint holds beside the layout's modules (SD2.1 unCLIP's CLIP vision
    tower): it builds, sizes and loads itself."""

    def prefixes(self) -> dict[str, str]: ...

    def empty(self, name: str) -> nn.Module: ...

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32) -> int: ...

    def load(self, name: str, *, dtype: torch.dtype = torch.float32) -> nn.Module: ...


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose layout is detected and checked; weights are read per component.

    Components are named ``"unet"``, ``"vae"`` and the text slots (``"clip_l"``, ``"clip_g"``,
    ``"clip_h"``), plus ``extras`` by name (``"clip_vision"``).
    """

    source: TensorSource
    layout: CheckpointLayout
    prediction: Prediction
    latent_format: LatentFormat
    extras: Mapping[str, ExtraComponent] = field(default_factory=dict)

    def prefixes(self) -> dict[str, str]:
        """Component name -> key prefix in the file."""
        out = {"unet": UNET_PREFIX}
        if self.layout.vae is not None:
            out["vae"] = VAE_PREFIX
        out.update({slot.name: slot.prefix for slot, _ in self.layout.text})
        for name, extra in self.extras.items():
            out[name] = extra.prefixes()[name]
        return out

    def empty(self, name: str) -> nn.Module:
        """Component ``name`` built on the meta device: its parameter names and shapes, no
        weights."""
        if name in self.extras:
            return self.extras[name].empty(name)
        prefixes = self.prefixes()
        if name not in prefixes:
            raise KeyError(f"component {name!r} not in {self.source.path}; has {sorted(prefixes)}")
        with torch.device("meta"):
            return build_modules(self.layout)[prefixes[name]]

    supports_keep_half: ClassVar[bool] = True  # ``load``/``nbytes`` take ``keep_half``

    def nbytes(self, name: str, *, dtype: torch.dtype = torch.float32,
               keep_half: bool = False) -> int:
        """Bytes component ``name`` occupies once loaded as ``dtype`` (computed on meta); with
        ``keep_half``, its fp16/bf16 tensors count at their stored size (not for ``extras``,
        which are always converted to ``dtype``)."""
        if name in self.extras:
            return self.extras[name].nbytes(name, dtype=dtype)
        return stored_nbytes(self.empty(name), self.prefixes()[name], self.source, dtype,
                             keep_half=keep_half)

    def load(self, name: str, *, dtype: torch.dtype = torch.float32,
             keep_half: bool = False) -> nn.Module:
        """Builds component ``name`` and reads only its tensors (``load_into``)."""
        if name in self.extras:
            return self.extras[name].load(name, dtype=dtype)
        prefixes = self.prefixes()
        if name not in prefixes:
            raise KeyError(f"component {name!r} not in {self.source.path}; has {sorted(prefixes)}")
        with torch.device("meta"):
            module = build_modules(self.layout)[prefixes[name]]
        load_into({prefixes[name]: module}, self.source, dtype, keep_half=keep_half)
        return module


def open_checkpoint(path: str | Path) -> OpenedCheckpoint:
    """Reads a checkpoint's header (or a diffusers folder's), detects and checks its layout."""
    source = _read_source(Path(path))
    try:
        layout = _text_slots(detect_layout(source.shapes), source.metadata)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{source.path}: {exc}") from exc
    with torch.device("meta"):
        check_layout(source.path, source.shapes, expected_shapes(build_modules(layout)))
    fmt = latent_format.family_latent_format(layout.family)
    prediction = prediction_type(source.shapes, source.metadata, family=layout.family,
                                 in_channels=layout.unet.in_channels,
                                 adm_in_channels=layout.unet.adm_in_channels,
                                 read=lambda key: read_one(source, key))
    return OpenedCheckpoint(source, layout, prediction, fmt)


def load_checkpoint(path: str | Path, *, dtype: torch.dtype = torch.float32,
                    keep_half: bool = False) -> Checkpoint:
    """Loads a single-file checkpoint (.safetensors, or .ckpt/.pt read weights-only) or a
    diffusers pipeline folder.

    The family and every configuration come from the keys and shapes; the prediction type from the
    ``v_pred`` marker key or safetensors metadata. fp16/bf16 weights are converted to ``dtype``,
    or with ``keep_half`` kept as stored and upcast per layer (``load_into``).
    """
    opened = open_checkpoint(path)
    modules = {name: opened.load(name, dtype=dtype, keep_half=keep_half)
               for name in opened.prefixes()}
    text = {slot.name: (slot, modules[slot.name]) for slot, _ in opened.layout.text}
    unet, vae = modules["unet"], modules.get("vae")
    assert isinstance(unet, UNetModel) and (vae is None or isinstance(vae, AutoencoderKL))
    logger.info(
        "loaded %s: %s, %d text encoders", opened.source.path, opened.layout.family, len(text)
    )
    return Checkpoint(
        opened.source.path, opened.layout, unet, vae, text, opened.prediction, opened.latent_format
    )
