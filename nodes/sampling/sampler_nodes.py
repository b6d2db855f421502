"""SAMPLER nodes with options (ComfyUI's ``nodes_custom_sampler``): each returns the built-in
sampler of that name (from ``ctx.sampling``) with its options set."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from diffusion.sampling import SamplerSpec
from diffusion.sampling.er_sde import reverse_time_sde_noise_scaler
from nodes.api import SAMPLER, Boolean, Combo, Float, Int, Node, Output, RunContext
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import model_input

SAMPLERS_CATEGORY = "sampling/custom_sampling/samplers"
NOISE_DEVICES = ("gpu", "cpu")
ER_SDE_SOLVERS = ("ER-SDE", "Reverse-time SDE", "ODE")


def _float(name: str, default: float, tip: str, high: float = 100.0) -> Float:
    return Float(name, default=default, min=0.0, max=high, step=0.01, tooltip=tip)


def _eta(high: float = 100.0) -> Float:
    return _float("eta", 1.0, "Stochastic strength (0: deterministic).", high)


def _s_noise(high: float = 100.0) -> Float:
    return _float("s_noise", 1.0, "Scale of the added noise.", high)


def _device() -> Combo:
    return Combo("noise_device", choices=NOISE_DEVICES,
                 tooltip="Where the Brownian tree is built (gpu: the compute device).")


def with_options(ctx: RunContext, name: str, **options: Any) -> SamplerSpec:
    spec: SamplerSpec = ctx.sampling.sampler(name)
    return dataclasses.replace(spec, options={**spec.options, **options})


def _device_name(node: str, base: str, noise_device: str) -> str:
    if noise_device not in NOISE_DEVICES:
        raise ValueError(f"{node}: input 'noise_device' must be one of {list(NOISE_DEVICES)}, "
                         f"got {noise_device!r}")
    return base if noise_device == "cpu" else f"{base}_gpu"


class _SamplerNode(Node):
    category = SAMPLERS_CATEGORY
    outputs = (Output(SAMPLER),)


class SamplerEulerAncestral(_SamplerNode):
    """Euler ancestral with its noise settings."""

    display_name = "SamplerEulerAncestral"
    inputs = (_eta(), _s_noise())

    def run(self, ctx: RunContext, eta: float, s_noise: float) -> tuple[Any, ...]:
        return (with_options(ctx, "euler_ancestral", eta=eta, s_noise=s_noise),)


class SamplerEulerAncestralCFGPP(_SamplerNode):
    """Euler ancestral CFG++ with its noise settings."""

    display_name = "SamplerEulerAncestralCFG++"
    inputs = (_eta(high=1.0), _s_noise(high=10.0))

    def run(self, ctx: RunContext, eta: float, s_noise: float) -> tuple[Any, ...]:
        return (with_options(ctx, "euler_ancestral_cfg_pp", eta=eta, s_noise=s_noise),)


class SamplerLMS(_SamplerNode):
    """Linear multistep of the given order."""

    display_name = "SamplerLMS"
    inputs = (Int("order", default=4, min=1, max=100, tooltip="Number of past slopes used."),)

    def run(self, ctx: RunContext, order: int) -> tuple[Any, ...]:
        return (with_options(ctx, "lms", order=order),)


class SamplerDPMPP_3M_SDE(_SamplerNode):  # noqa: N801 - ComfyUI's node name
    """DPM-Solver++(3M) SDE with its noise settings."""

    display_name = "SamplerDPMPP_3M_SDE"
    inputs = (_eta(), _s_noise(), _device())

    def run(self, ctx: RunContext, eta: float, s_noise: float,
            noise_device: str) -> tuple[Any, ...]:
        name = _device_name(self.type_name, "dpmpp_3m_sde", noise_device)
        return (with_options(ctx, name, eta=eta, s_noise=s_noise),)


class SamplerDPMPP_2M_SDE(_SamplerNode):  # noqa: N801
    """DPM-Solver++(2M) SDE with its solver type and noise settings."""

    display_name = "SamplerDPMPP_2M_SDE"
    inputs = (Combo("solver_type", choices=("midpoint", "heun"), tooltip="The 2nd-order term."),
              _eta(), _s_noise(), _device())

    def run(self, ctx: RunContext, solver_type: str, eta: float, s_noise: float,
            noise_device: str) -> tuple[Any, ...]:
        name = _device_name(self.type_name, "dpmpp_2m_sde", noise_device)
        return (with_options(ctx, name, eta=eta, s_noise=s_noise, solver_type=solver_type),)


class SamplerDPMPP_SDE(_SamplerNode):  # noqa: N801
    """DPM-Solver++ SDE with its intermediate ratio and noise settings."""

    display_name = "SamplerDPMPP_SDE"
    inputs = (_eta(), _s_noise(), _float("r", 0.5, "Position of the intermediate point."),
              _device())

    def run(self, ctx: RunContext, eta: float, s_noise: float, r: float,
            noise_device: str) -> tuple[Any, ...]:
        name = _device_name(self.type_name, "dpmpp_sde", noise_device)
        return (with_options(ctx, name, eta=eta, s_noise=s_noise, r=r),)


class SamplerDPMPP_2S_Ancestral(_SamplerNode):  # noqa: N801
    """DPM-Solver++(2S) ancestral with its noise settings."""

    display_name = "SamplerDPMPP_2S_Ancestral"
    inputs = (_eta(), _s_noise())

    def run(self, ctx: RunContext, eta: float, s_noise: float) -> tuple[Any, ...]:
        return (with_options(ctx, "dpmpp_2s_ancestral", eta=eta, s_noise=s_noise),)


class SamplerDPMAdaptative(_SamplerNode):
    """Adaptive DPM-Solver with its error control (eta > 0 adds seeded noise)."""

    display_name = "SamplerDPMAdaptative"
    inputs = (
        Int("order", default=3, min=2, max=3, tooltip="2: DPM-Solver-12, 3: DPM-Solver-23."),
        _float("rtol", 0.05, "Relative error tolerance."),
        _float("atol", 0.0078, "Absolute error tolerance."),
        _float("h_init", 0.05, "First step size in log sigma."),
        _float("pcoeff", 0.0, "PID proportional coefficient."),
        _float("icoeff", 1.0, "PID integral coefficient."),
        _float("dcoeff", 0.0, "PID derivative coefficient."),
        _float("accept_safety", 0.81, "Smallest step factor still accepted."),
        _float("eta", 0.0, "Stochastic strength (0: deterministic)."),
        _s_noise(),
    )

    def run(self, ctx: RunContext, order: int, rtol: float, atol: float, h_init: float,
            pcoeff: float, icoeff: float, dcoeff: float, accept_safety: float, eta: float,
            s_noise: float) -> tuple[Any, ...]:
        spec = with_options(ctx, "dpm_adaptive", order=order, rtol=rtol, atol=atol,
                            h_init=h_init, pcoeff=pcoeff, icoeff=icoeff, dcoeff=dcoeff,
                            accept_safety=accept_safety, eta=eta, s_noise=s_noise)
        return (dataclasses.replace(spec, noise="gaussian") if eta > 0 else spec,)


class SamplerER_SDE(_SamplerNode):  # noqa: N801
    """ER-SDE-Solver: ER-SDE (its noise scaler), the reverse-time SDE (eta) or the ODE."""

    display_name = "SamplerER_SDE"
    inputs = (
        Combo("solver_type", choices=ER_SDE_SOLVERS, tooltip="Which SDE is solved."),
        Int("max_stage", default=3, min=1, max=3, tooltip="Solver stages (order)."),
        _float("eta", 1.0, "Stochastic strength of the reverse-time SDE (0: the ODE)."),
        _s_noise(),
    )

    def run(self, ctx: RunContext, solver_type: str, max_stage: int, eta: float,
            s_noise: float) -> tuple[Any, ...]:
        if solver_type not in ER_SDE_SOLVERS:
            raise ValueError(f"SamplerER_SDE: input 'solver_type' must be one of "
                             f"{list(ER_SDE_SOLVERS)}, got {solver_type!r}")
        if solver_type == "ODE" or (solver_type == "Reverse-time SDE" and eta == 0):
            eta, s_noise = 0.0, 0.0
        scaler = None if solver_type == "ER-SDE" else functools.partial(
            reverse_time_sde_noise_scaler, eta=eta)
        spec = with_options(ctx, "er_sde", s_noise=s_noise, noise_scaler=scaler,
                            max_stage=max_stage)
        return (dataclasses.replace(spec, noise="none") if s_noise == 0 else spec,)


class SamplerSASolver(_SamplerNode):
    """SA-Solver with its stochastic window (percent of the model's schedule) and orders."""

    display_name = "SamplerSASolver"
    inputs = (
        model_input(),
        _float("eta", 1.0, "Stochastic strength inside the window.", high=10.0),
        Float("sde_start_percent", default=0.2, min=0.0, max=1.0, step=0.001,
              tooltip="Where the stochastic window starts."),
        Float("sde_end_percent", default=0.8, min=0.0, max=1.0, step=0.001,
              tooltip="Where the stochastic window ends."),
        _s_noise(),
        Int("predictor_order", default=3, min=1, max=6, tooltip="Adams predictor order."),
        Int("corrector_order", default=4, min=0, max=6, tooltip="Adams corrector order."),
        Boolean("use_pece", tooltip="Evaluate the corrected state again (PECE)."),
        Boolean("simple_order_2", tooltip="The paper's simplified order-2 coefficients."),
    )

    def run(self, ctx: RunContext, model: DiffusionModel, eta: float, sde_start_percent: float,
            sde_end_percent: float, s_noise: float, predictor_order: int, corrector_order: int,
            use_pece: bool, simple_order_2: bool) -> tuple[Any, ...]:
        ms = model.model_sampling
        return (with_options(ctx, "sa_solver", eta=eta,
                             sde_start_sigma=ms.percent_to_sigma(sde_start_percent),
                             sde_end_sigma=ms.percent_to_sigma(sde_end_percent),
                             s_noise=s_noise, predictor_order=predictor_order,
                             corrector_order=corrector_order, use_pece=use_pece,
                             simple_order_2=simple_order_2),)


OPTION_SAMPLER_NODES: list[type[Node]] = [
    SamplerEulerAncestral, SamplerEulerAncestralCFGPP, SamplerLMS, SamplerDPMPP_3M_SDE,
    SamplerDPMPP_2M_SDE, SamplerDPMPP_SDE, SamplerDPMPP_2S_Ancestral, SamplerDPMAdaptative,
    SamplerER_SDE, SamplerSASolver,
]
