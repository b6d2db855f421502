"""ComfyUI's ``comfy.model_management`` for node packs: devices, interruption and memory.

Interruption is the running job's cancellation: ``throw_exception_if_processing_interrupted``
raises :class:`InterruptProcessingException` (a ``NodeInterrupted``, so the job ends as
interrupted) once the job is cancelled; a node looping on it stops at its next check. Models
are made resident by the engine's model manager when used, so ``load_models_gpu`` and friends
have nothing to do.
"""

from __future__ import annotations

import enum
import gc
from typing import Any

import torch

from nodes.api import NodeInterrupted
from nodes.plugins.runtime import active


class InterruptProcessingException(NodeInterrupted):
    """The job was cancelled (ComfyUI's interrupt)."""


class VRAMState(enum.Enum):
    DISABLED = 0
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


class CPUState(enum.Enum):
    GPU = 0
    CPU = 1
    MPS = 2


OOM_EXCEPTION = torch.cuda.OutOfMemoryError
vram_state = VRAMState.NORMAL_VRAM if torch.cuda.is_available() else VRAMState.DISABLED
cpu_state = CPUState.GPU if torch.cuda.is_available() else CPUState.CPU
current_loaded_models: list[Any] = []


def get_torch_device() -> torch.device:
    """The compute device the running job's models live on."""
    node = active()
    if node is not None:
        try:
            return torch.device(node.ctx.models.device)
        except Exception:  # an engine without a model port: the default device
            pass
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def text_encoder_device() -> torch.device:
    return get_torch_device()


def text_encoder_offload_device() -> torch.device:
    return torch.device("cpu")


def vae_device() -> torch.device:
    return get_torch_device()


def vae_offload_device() -> torch.device:
    return torch.device("cpu")


def unet_dtype(device: Any = None, model_params: int = 0, **kwargs: Any) -> torch.dtype:
    return torch.float16 if get_torch_device().type == "cuda" else torch.float32


def vae_dtype(device: Any = None, allowed_dtypes: Any = None) -> torch.dtype:
    return torch.float32


def is_device_cpu(device: Any) -> bool:
    return torch.device(device).type == "cpu"


def is_device_mps(device: Any) -> bool:
    return torch.device(device).type == "mps"


def is_device_cuda(device: Any) -> bool:
    return torch.device(device).type == "cuda"


def should_use_fp16(device: Any = None, model_params: int = 0, prioritize_performance: bool =
                    True, manual_cast: bool = False) -> bool:
    return torch.device(device or get_torch_device()).type == "cuda"


def should_use_bf16(*args: Any, **kwargs: Any) -> bool:
    return False


def processing_interrupted() -> bool:
    node = active()
    if node is None:
        return False
    try:
        node.ctx.check_cancelled()
    except NodeInterrupted:
        return True
    return False


def throw_exception_if_processing_interrupted() -> None:
    node = active()
    if node is None:
        return
    try:
        node.ctx.check_cancelled()
    except NodeInterrupted as exc:
        raise InterruptProcessingException(str(exc)) from None


def interrupt_current_processing(value: bool = True) -> None:
    """Asks for the running job to stop is the server's job (``POST /interrupt``); a node
    cannot cancel its own job here."""


def soft_empty_cache(force: bool = False) -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_models_gpu(models: Any, memory_required: int = 0, force_patch_weights: bool = False,
                    minimum_memory_required: Any = None, force_full_load: bool = False) -> None:
    """Nothing to do: the engine's model manager makes models resident when they are used."""


def load_model_gpu(model: Any) -> None:
    """Nothing to do (see :func:`load_models_gpu`)."""


def unload_all_models() -> None:
    node = active()
    if node is not None:
        node.ctx.models.unload_all()


def cleanup_models(keep_clone_weights_loaded: bool = False) -> None:
    gc.collect()


def free_memory(memory_required: int, device: Any, keep_loaded: Any = ()) -> list[Any]:
    return []


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> Any:
    device = torch.device(dev or get_torch_device())
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return (free, free) if torch_free_too else free
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            fields = dict(line.split(":", 1) for line in info)
        free = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        free = 0
    return (free, free) if torch_free_too else free


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> Any:
    device = torch.device(dev or get_torch_device())
    if device.type == "cuda":
        _, total = torch.cuda.mem_get_info(device)
    else:
        import os

        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (total, total) if torch_total_too else total


def cast_to_device(tensor: torch.Tensor, device: Any, dtype: Any, copy: bool = False
                   ) -> torch.Tensor:
    return tensor.to(device=device, dtype=dtype, copy=copy)


def module_size(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def xformers_enabled() -> bool:
    return False


def xformers_enabled_vae() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True


def sage_attention_enabled() -> bool:
    return False


def directml_enabled() -> bool:
    return False


def mps_mode() -> bool:
    return False


def get_autocast_device(dev: Any) -> str:
    return torch.device(dev).type


def supports_dtype(device: Any, dtype: torch.dtype) -> bool:
    return True


def extra_reserved_memory() -> int:
    return 0


def maximum_vram_for_weights(device: Any = None) -> int:
    return int(get_total_memory(device))
