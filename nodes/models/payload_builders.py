"""MODEL, CLIP and VAE payloads from opened files' handles: cheap, no weights read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from diffusion.guidance.unclip import NoiseAugmentor, unclip_augmentor
from diffusion.loading import OpenedCheckpoint
from diffusion.loading.checkpoint import Prediction, read_one
from diffusion.loading.detect import TEXT_SLOTS, TextSlot
from diffusion.memory import ModelHandle
from diffusion.sampling.model_sampling import ModelSamplingDiscrete
from diffusion.sampling.model_sampling import Prediction as SamplingPrediction
from diffusion.text.encode import OPEN_CLIP_PAD
from diffusion.text.prompt import TextTokenizer
from diffusion.text.tokenizer import EOS_ID
from diffusion.unet.config import Family
from nodes.api import Blocked
from nodes.models.sources import ComponentFile, unet_info
from nodes.payloads import Clip, DiffusionModel, TextEncoderRef, Vae

_PREDICTION: dict[Prediction, SamplingPrediction] = {"eps": "eps", "v": "v_prediction"}
_OPEN_CLIP_G_WIDTH = 1280


def model_payload(handle: ModelHandle) -> DiffusionModel:
    """The MODEL of a UNet handle: sampling (eps / v, zsnr) as the file declares it; an SD2.x
    UNet with an ADM input is SD2.1 unCLIP, with the file's noise augmentation."""
    info = unet_info(handle.opened)
    sampling = ModelSamplingDiscrete(prediction=_PREDICTION[info.prediction], zsnr=info.zsnr)
    augmentor = _unclip_augmentor(handle, info.family, info.adm_in_channels)
    return DiffusionModel(handle, sampling, info.latent_format, info.family, info.in_channels,
                          noise_augmentor=augmentor)


def _unclip_augmentor(handle: ModelHandle, family: Family,
                      adm_in_channels: int | None) -> NoiseAugmentor | None:
    if family != "sd2" or adm_in_channels is None:
        return None
    source = getattr(handle.opened, "source", None)
    return unclip_augmentor(adm_in_channels // 2,
                            lambda key: None if source is None else read_one(source, key))


def encoder_ref(slot: TextSlot, handle: ModelHandle) -> TextEncoderRef:
    pad = EOS_ID if slot.kind == "clip" else OPEN_CLIP_PAD
    return TextEncoderRef(slot.name, handle, slot.layer, slot.final_norm, pad)


def checkpoint_clip(
    handles: Mapping[str, ModelHandle], tokenizer: TextTokenizer, embeddings: Sequence[Path],
    source: str,
) -> Clip | Blocked:
    """The CLIP of a full checkpoint, or a blocker saying it has no text encoders."""
    opened = handles["unet"].opened
    assert isinstance(opened, OpenedCheckpoint)
    slots = [slot for slot, _cfg in opened.layout.text]
    if not slots:
        return Blocked(f"{source} has no text encoders; load one with CLIPLoader")
    encoders = tuple(encoder_ref(slot, handles[slot.name]) for slot in slots)
    return Clip(encoders, tokenizer, opened.layout.family, None, tuple(embeddings))


def checkpoint_vae(handles: Mapping[str, ModelHandle], source: str) -> Vae | Blocked:
    if "vae" not in handles:
        return Blocked(f"{source} has no VAE; load one with VAELoader")
    opened = handles["vae"].opened
    family = opened.layout.family if isinstance(opened, OpenedCheckpoint) else None
    return Vae(handles["vae"], family)


def text_file(handle: ModelHandle, what: str) -> ComponentFile:
    opened = handle.opened
    if not isinstance(opened, ComponentFile) or opened.text_config is None:
        raise ValueError(f"{what}: {handle.key.path} is not a CLIP text-encoder file")
    return opened


def single_clip_family(opened: ComponentFile) -> Family:
    """CLIPLoader "stable_diffusion": CLIP-L is SD1, bigG the SDXL refiner, else SD2's ViT-H."""
    assert opened.text_config is not None
    if opened.text_kind == "clip":
        return "sd1"
    return "sdxl_refiner" if opened.text_config.width == _OPEN_CLIP_G_WIDTH else "sd2"


def file_clip(
    handles: Sequence[ModelHandle], family: Family, tokenizer: TextTokenizer,
    embeddings: Sequence[Path],
) -> Clip:
    """A CLIP from standalone text-encoder files, filling ``family``'s slots by kind."""
    slots = TEXT_SLOTS[family]
    by_kind = {text_file(h, "clip").text_kind: h for h in handles}
    encoders = tuple(encoder_ref(slot, by_kind[slot.kind]) for slot in slots)
    return Clip(encoders, tokenizer, family, None, tuple(embeddings))
