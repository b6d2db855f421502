"""The sampling nodes are declared as ComfyUI declares them (nodes.py and
comfy_extras/nodes_custom_sampler.py): class and display names, categories, input names and
order, types, defaults, ranges, steps, outputs and output names; and they are in the built-in
pack."""

from __future__ import annotations

from typing import Any

import pytest

from diffusion.sampling import SAMPLER_NAMES, SCHEDULER_NAMES
from latentgraph.app import build_registry
from nodes.builtin import BUILTIN_NODES
from nodes.sampling import SAMPLING_EXTRAS_MODULES, SAMPLING_NODES

SEED = {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True}
STEPS = {"default": 20, "min": 1, "max": 10000}
CFG = {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}
DENOISE = {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}
S, SC = "SAMPLERS", "SCHEDULERS"
CONDS: list[tuple[str, Any, dict[str, Any]]] = [
    ("positive", "CONDITIONING", {}), ("negative", "CONDITIONING", {})]
MODEL: tuple[str, Any, dict[str, Any]] = ("model", "MODEL", {})
LATENT_IN: tuple[str, Any, dict[str, Any]] = ("latent_image", "LATENT", {})
CUSTOM_OUT = (["LATENT", "LATENT"], ["output", "denoised_output"])

# class: (display name, category, [(input, type or combo list, options)], (outputs, names))
COMFY: dict[str, tuple[str, str, list[tuple[str, Any, dict[str, Any]]], tuple[list, list]]] = {
    "KSampler": ("KSampler", "sampling", [
        MODEL, ("seed", "INT", SEED), ("steps", "INT", STEPS), ("cfg", "FLOAT", CFG),
        ("sampler_name", S, {}), ("scheduler", SC, {}), *CONDS, LATENT_IN,
        ("denoise", "FLOAT", DENOISE)], (["LATENT"], ["LATENT"])),
    "KSamplerAdvanced": ("KSampler (Advanced)", "sampling", [
        MODEL, ("add_noise", ["enable", "disable"], {}), ("noise_seed", "INT", SEED),
        ("steps", "INT", STEPS), ("cfg", "FLOAT", CFG), ("sampler_name", S, {}),
        ("scheduler", SC, {}), *CONDS, LATENT_IN,
        ("start_at_step", "INT", {"default": 0, "min": 0, "max": 10000}),
        ("end_at_step", "INT", {"default": 10000, "min": 0, "max": 10000}),
        ("return_with_leftover_noise", ["disable", "enable"], {})], (["LATENT"], ["LATENT"])),
    "SamplerCustom": ("SamplerCustom", "sampling/custom_sampling", [
        MODEL, ("add_noise", "BOOLEAN", {"default": True}), ("noise_seed", "INT", SEED),
        ("cfg", "FLOAT", CFG), *CONDS, ("sampler", "SAMPLER", {}), ("sigmas", "SIGMAS", {}),
        LATENT_IN], CUSTOM_OUT),
    "SamplerCustomAdvanced": ("SamplerCustomAdvanced", "sampling/custom_sampling", [
        ("noise", "NOISE", {}), ("guider", "GUIDER", {}), ("sampler", "SAMPLER", {}),
        ("sigmas", "SIGMAS", {}), LATENT_IN], CUSTOM_OUT),
    "KSamplerSelect": ("KSamplerSelect", "sampling/custom_sampling/samplers",
                       [("sampler_name", S, {})],
                       (["SAMPLER"], ["SAMPLER"])),
    "BasicScheduler": ("BasicScheduler", "sampling/custom_sampling/schedulers", [
        MODEL, ("scheduler", SC, {}), ("steps", "INT", STEPS), ("denoise", "FLOAT", DENOISE)],
        (["SIGMAS"], ["SIGMAS"])),
    "KarrasScheduler": ("KarrasScheduler", "sampling/custom_sampling/schedulers", [
        ("steps", "INT", STEPS),
        ("sigma_max", "FLOAT", {"default": 14.614642, "min": 0.0, "max": 5000.0, "step": 0.01}),
        ("sigma_min", "FLOAT", {"default": 0.0291675, "min": 0.0, "max": 5000.0, "step": 0.01}),
        ("rho", "FLOAT", {"default": 7.0, "min": 0.0, "max": 100.0, "step": 0.01})],
        (["SIGMAS"], ["SIGMAS"])),
    "SDTurboScheduler": ("SDTurboScheduler", "sampling/custom_sampling/schedulers", [
        MODEL, ("steps", "INT", {"default": 1, "min": 1, "max": 10}),
        ("denoise", "FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})],
        (["SIGMAS"], ["SIGMAS"])),
    "RandomNoise": ("RandomNoise", "sampling/custom_sampling/noise",
                    [("noise_seed", "INT", SEED)],
                    (["NOISE"], ["NOISE"])),
    "CFGGuider": ("CFGGuider", "sampling/custom_sampling/guiders",
                  [MODEL, *CONDS, ("cfg", "FLOAT", CFG)],
                  (["GUIDER"], ["GUIDER"])),
}
# The other nodes of the sampling pack; their declarations are checked against ComfyUI's
# /object_info by tests/nodes/test_comfyui_reference.py. Node -> ComfyUI python_module.
ADDED = {
    **{n: "comfy_extras.nodes_custom_sampler" for n in (
        "DisableNoise", "AddNoise", "BasicGuider", "DualCFGGuider", "ExponentialScheduler",
        "PolyexponentialScheduler", "LaplaceScheduler", "VPScheduler", "BetaSamplingScheduler",
        "SamplerEulerAncestral", "SamplerEulerAncestralCFGPP", "SamplerLMS",
        "SamplerDPMPP_3M_SDE", "SamplerDPMPP_2M_SDE", "SamplerDPMPP_SDE",
        "SamplerDPMPP_2S_Ancestral", "SamplerDPMAdaptative", "SamplerER_SDE", "SamplerSASolver",
        "SplitSigmas", "SplitSigmasDenoise", "FlipSigmas", "SetFirstSigma",
        "ExtendIntermediateSigmas", "SamplingPercentToSigma")},
    "AlignYourStepsScheduler": "comfy_extras.nodes_align_your_steps",
    "GITSScheduler": "comfy_extras.nodes_gits",
    "PerpNegGuider": "comfy_extras.nodes_perpneg",
    "SamplerLCMUpscale": "comfy_extras.nodes_advanced_samplers",
    "SamplerEulerCFGpp": "comfy_extras.nodes_advanced_samplers",
    "ModelSamplingContinuousEDM": "comfy_extras.nodes_model_advanced",
    "ModelSamplingContinuousV": "comfy_extras.nodes_model_advanced",
}
# ComfyUI v0.3.64's sampler and scheduler lists, in order
COMFY_SAMPLER_ORDER = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc",
    "uni_pc_bh2"]
COMFY_SCHEDULER_ORDER = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta",
                         "normal", "linear_quadratic", "kl_optimal"]


@pytest.fixture(scope="module")
def info() -> dict[str, dict[str, Any]]:
    return build_registry().object_info()


def test_the_sampling_pack_is_exactly_the_comfy_table() -> None:
    assert sorted(n.type_name for n in SAMPLING_NODES) == sorted([*COMFY, *ADDED])
    assert all(node in BUILTIN_NODES for node in SAMPLING_NODES)


@pytest.mark.parametrize("name", sorted(ADDED))
def test_added_nodes_describe_themselves(name: str, info: dict[str, dict[str, Any]]) -> None:
    node = info[name]
    assert node["description"] and node["python_module"] == ADDED[name]
    for section in node["input"].values():
        for input_name, spec in section.items():
            assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{input_name}"


@pytest.mark.parametrize("name", sorted(COMFY))
def test_declaration_matches_comfyui(name: str, info: dict[str, dict[str, Any]]) -> None:
    display, category, inputs, (outputs, output_names) = COMFY[name]
    node = info[name]
    assert (node["display_name"], node["category"]) == (display, category)
    assert node["input_order"] == {"required": [i[0] for i in inputs]}
    assert node["output"] == outputs and node["output_name"] == output_names
    assert node["output_node"] is False and node["description"]
    for input_name, kind, options in inputs:
        declared_kind, declared = node["input"]["required"][input_name]
        lists = {S: list(SAMPLER_NAMES), SC: list(SCHEDULER_NAMES)}
        expected = lists.get(kind, kind) if isinstance(kind, str) else kind
        assert declared_kind == expected, input_name
        assert {k: declared.get(k) for k in options} == options, input_name
        assert declared.get("tooltip"), f"{name}.{input_name} has no tooltip"


def test_sampler_and_scheduler_lists_keep_comfyui_order() -> None:
    assert list(SAMPLER_NAMES) == COMFY_SAMPLER_ORDER
    assert list(SCHEDULER_NAMES) == COMFY_SCHEDULER_ORDER


def test_custom_sampling_nodes_name_their_comfy_module() -> None:
    custom = set(COMFY) - {"KSampler", "KSamplerAdvanced"}
    assert SAMPLING_EXTRAS_MODULES == {**dict.fromkeys(custom, "comfy_extras.nodes_custom_sampler"),
                                       **ADDED}
