"""Control models applied to conditioning entries, as ComfyUI's ``ControlBase`` subclasses run.

A ``ControlApplication`` (one ControlNet, Control-LoRA or T2I-Adapter with its hint, strength
and part of the schedule) rides on ``Cond.control``. Once per sampling run it is bound
(``RunControl.bind``): the percents become sigmas, a Control-LoRA rebuilds its ControlNet from
the sampled UNet, and the returned hook keeps the run's caches (the resized hint, an adapter's
features). The hook is called once per batched UNet forward with the rows, sigma, context and
ADM input of that forward and returns the residuals for it, or None outside its window. Several
applications on one entry (a chain) are summed by ``diffusion.guidance.batching``.

Models are reached through ``ModuleSource.use()`` (a ``ModelHandle`` fits): pinned on the
compute device only around each forward, like hooked UNets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor, nn

from diffusion.control.control_lora import ControlLoraWeights, build_control_lora
from diffusion.control.controlnet import ControlNetConfig, ControlNetModel
from diffusion.control.fit import check_adapter_fits, check_controlnet_fits
from diffusion.control.hint import broadcast_hint, resize_hint
from diffusion.control.t2i_adapter import AdapterConfig, adapter_residuals
from diffusion.guidance.cond import ControlHook, ControlInputs, ControlRun
from diffusion.unet.hooks import UNetResiduals
from diffusion.weight_cast import compute_dtype_of

COMPRESSION = 8  # hint pixels per latent cell


class ModuleSource(Protocol):
    """Where a control model's weights come from; ``use()`` pins it on the compute device."""

    def use(self) -> AbstractContextManager[nn.Module]: ...


@dataclass(frozen=True, eq=False)
class ResidentModule:
    """A module held directly (tests; a diff ControlNet merged at load)."""

    module: nn.Module

    def use(self) -> AbstractContextManager[nn.Module]:
        return nullcontext(self.module)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.module.state_dict().values())


@dataclass(frozen=True, eq=False)
class ControlNetSpec:
    """A loaded ControlNet (the CONTROL_NET payload). ``control_type``: a Union's types
    (SetUnionControlNetType); ``global_average_pooling``: shuffle ControlNets average their
    residuals over space (ComfyUI enables it for files named ``*_shuffle``)."""

    model: ModuleSource
    config: ControlNetConfig
    label: str
    control_type: tuple[int, ...] = ()
    global_average_pooling: bool = False

    @property
    def nbytes(self) -> int:
        return int(getattr(self.model, "nbytes", 0))


@dataclass(frozen=True, eq=False)
class ControlLoraSpec:
    """A Control-LoRA (its ControlNet is rebuilt from the sampled UNet every run)."""

    weights: ControlLoraWeights
    label: str

    @property
    def nbytes(self) -> int:
        return self.weights.nbytes


@dataclass(frozen=True, eq=False)
class AdapterSpec:
    """A loaded T2I-Adapter."""

    model: ModuleSource
    config: AdapterConfig
    label: str

    @property
    def nbytes(self) -> int:
        return int(getattr(self.model, "nbytes", 0))


ControlSpec = ControlNetSpec | ControlLoraSpec | AdapterSpec


@dataclass(frozen=True, eq=False)
class ControlApplication:
    """One control model on an entry: hint (B, C, H, W) in [0, 1], strength, schedule range."""

    spec: ControlSpec
    hint: Tensor
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0

    def __post_init__(self) -> None:
        if self.hint.ndim != 4:
            raise ValueError(f"hint must be (B, C, H, W), got {tuple(self.hint.shape)}")
        if not 0.0 <= self.start_percent <= 1.0 or not 0.0 <= self.end_percent <= 1.0:
            raise ValueError(f"start/end percent must be in [0, 1], got "
                             f"{self.start_percent!r}, {self.end_percent!r}")
        if not math.isfinite(self.strength):
            raise ValueError(f"strength={self.strength!r} is not finite")

    @property
    def nbytes(self) -> int:
        """The hint's bytes (the model's belong to its CONTROL_NET payload)."""
        return self.hint.numel() * self.hint.element_size()

    def bind(self, run: ControlRun) -> ControlHook:
        window = (run.model_sampling.percent_to_sigma(self.start_percent),
                  run.model_sampling.percent_to_sigma(self.end_percent))
        spec = self.spec
        if isinstance(spec, AdapterSpec):
            check_adapter_fits(spec.config, run.unet, spec.label)
            return BoundAdapter(self, spec, window)
        if isinstance(spec, ControlLoraSpec):
            return BoundControlNet(self, run, window, _control_lora_source(spec, run),
                                   (), False)
        check_controlnet_fits(spec.config, run.unet, spec.label)
        return BoundControlNet(self, run, window, spec.model.use, spec.control_type,
                               spec.global_average_pooling)


def _control_lora_source(spec: ControlLoraSpec, run: ControlRun
                         ) -> Callable[[], AbstractContextManager[nn.Module]]:
    """The run's Control-LoRA ControlNet, built on its first forward from the run's UNet."""
    unet = run.unet
    config = getattr(unet, "config", None)
    if unet is None or config is None:
        raise ValueError(f"Control-LoRA {spec.label!r} needs the sampled UNet module to rebuild "
                         "its ControlNet; this run offers none")
    built: list[nn.Module] = []

    def use() -> AbstractContextManager[nn.Module]:
        if not built:
            param = next(unet.parameters())
            built.append(build_control_lora(config, unet.state_dict(), spec.weights,
                                            dtype=compute_dtype_of(unet), device=param.device))
        return nullcontext(built[0])

    return use


def _in_window(inputs: ControlInputs, window: tuple[float, float]) -> bool:
    sigma = float(inputs.sigma[0])
    return window[1] <= sigma <= window[0]


@dataclass(eq=False)
class BoundControlNet:
    """A ControlNet's hook for one run (ComfyUI's ``ControlNet.get_control``)."""

    app: ControlApplication
    run: ControlRun
    window: tuple[float, float]  # (sigma_start, sigma_end): active while end <= sigma <= start
    use: Callable[[], AbstractContextManager[nn.Module]]
    control_type: tuple[int, ...]
    average: bool
    _hints: dict[tuple[int, int, torch.dtype, torch.device], Tensor] = field(default_factory=dict)

    def _hint(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        key = (x.shape[2], x.shape[3], dtype, x.device)
        if key not in self._hints:
            self._hints.clear()
            resized = resize_hint(self.app.hint.float(), x.shape[3] * COMPRESSION,
                                  x.shape[2] * COMPRESSION)  # (b, C, 8h, 8w)
            self._hints[key] = resized.to(device=x.device, dtype=dtype)
        return self._hints[key]

    def __call__(self, inputs: ControlInputs) -> UNetResiduals | None:
        if not _in_window(inputs, self.window):
            return None
        ms, x = self.run.model_sampling, inputs.x
        with self.use() as net:
            assert isinstance(net, ControlNetModel), type(net)
            dtype = next(net.parameters()).dtype
            hint = broadcast_hint(self._hint(x, dtype), x.shape[0], len(inputs.sides))
            x_in = ms.calculate_input(inputs.sigma, x).to(dtype)  # (N, C, h, w)
            timesteps = ms.timestep(inputs.sigma).float()  # (N,)
            y = None if inputs.y is None else inputs.y.to(dtype)
            out = net(x_in, hint, timesteps, inputs.context.to(dtype), y, self.control_type)
        strength = self.app.strength
        skips = tuple(self._finish(r) * strength for r in out.skips)
        return UNetResiduals(skips=skips, middle=self._finish(out.middle) * strength)

    def _finish(self, r: Tensor) -> Tensor:
        if not self.average:
            return r
        return r.mean(dim=(2, 3), keepdim=True).expand_as(r)  # (N, C, h, w)


@dataclass(eq=False)
class BoundAdapter:
    """A T2I-Adapter's hook for one run (ComfyUI's ``T2IAdapter.get_control``): the features
    are computed once per latent size and reused every step."""

    app: ControlApplication
    spec: AdapterSpec
    window: tuple[float, float]
    _features: dict[tuple[int, int], list[Tensor]] = field(default_factory=dict)

    def _compute(self, x: Tensor) -> list[Tensor]:
        key = (x.shape[2], x.shape[3])
        if key not in self._features:
            self._features.clear()
            unshuffle = self.spec.config.unshuffle
            width = math.ceil(x.shape[3] * COMPRESSION / unshuffle) * unshuffle
            height = math.ceil(x.shape[2] * COMPRESSION / unshuffle) * unshuffle
            hint = resize_hint(self.app.hint.float(), width, height)  # (b, C, H, W)
            if self.spec.config.hint_channels == 1 and hint.shape[1] > 1:
                hint = hint.mean(dim=1, keepdim=True)  # (b, 1, H, W)
            with self.spec.model.use() as adapter:
                param = next(adapter.parameters())
                self._features[key] = adapter(hint.to(device=param.device, dtype=param.dtype))
        return self._features[key]

    def __call__(self, inputs: ControlInputs) -> UNetResiduals | None:
        if not _in_window(inputs, self.window):
            return None
        x = inputs.x
        features = [broadcast_hint(f, x.shape[0], len(inputs.sides)).to(x.device)
                    for f in self._compute(x)]
        return adapter_residuals(features, self.spec.config.kind, self.app.strength)


__all__ = ["AdapterSpec", "BoundAdapter", "BoundControlNet", "ControlApplication",
           "ControlLoraSpec", "ControlNetSpec", "ControlSpec", "ModuleSource", "ResidentModule"]
