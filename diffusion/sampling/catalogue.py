"""ComfyUI's 42 built-in samplers as ``SamplerSpec`` objects, in its list order (KSampler's
``sampler_name`` choices). Each name means what it means in ComfyUI v0.3.64: the algorithm, its
default options and the per-step noise it draws for a seed."""

from __future__ import annotations

from types import MappingProxyType

from diffusion.sampling.ancestral_samplers import (
    sample_ddpm,
    sample_dpm_2_ancestral,
    sample_dpmpp_2s_ancestral,
    sample_euler_ancestral,
    sample_lcm,
)
from diffusion.sampling.cfg_pp_samplers import (
    sample_dpmpp_2m_cfg_pp,
    sample_dpmpp_2s_ancestral_cfg_pp,
    sample_euler_ancestral_cfg_pp,
    sample_euler_cfg_pp,
)
from diffusion.sampling.deis import sample_deis
from diffusion.sampling.dpm_solver import sample_dpm_adaptive, sample_dpm_fast
from diffusion.sampling.er_sde import sample_er_sde
from diffusion.sampling.multistep_samplers import (
    sample_gradient_estimation,
    sample_gradient_estimation_cfg_pp,
    sample_heunpp2,
    sample_ipndm,
    sample_ipndm_v,
)
from diffusion.sampling.ode_samplers import (
    sample_dpm_2,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
    sample_lms,
)
from diffusion.sampling.res_multistep import (
    sample_res_multistep,
    sample_res_multistep_ancestral,
    sample_res_multistep_ancestral_cfg_pp,
    sample_res_multistep_cfg_pp,
)
from diffusion.sampling.sa_solver import sample_sa_solver, sample_sa_solver_pece
from diffusion.sampling.sampler_spec import SamplerSpec
from diffusion.sampling.sde_samplers import (
    sample_dpmpp_2m_sde,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)
from diffusion.sampling.sde_variants import (
    sample_dpmpp_2m_sde_gpu,
    sample_dpmpp_2m_sde_heun,
    sample_dpmpp_2m_sde_heun_gpu,
    sample_dpmpp_3m_sde_gpu,
    sample_dpmpp_sde_gpu,
)
from diffusion.sampling.seeds import sample_seeds_2, sample_seeds_3
from diffusion.sampling.unipc import sample_uni_pc, sample_uni_pc_bh2

_SPECS = (
    SamplerSpec("euler", sample_euler),
    SamplerSpec("euler_cfg_pp", sample_euler_cfg_pp, needs_uncond=True),
    SamplerSpec("euler_ancestral", sample_euler_ancestral, noise="gaussian"),
    SamplerSpec("euler_ancestral_cfg_pp", sample_euler_ancestral_cfg_pp, noise="gaussian",
                needs_uncond=True),
    SamplerSpec("heun", sample_heun),
    SamplerSpec("heunpp2", sample_heunpp2),
    SamplerSpec("dpm_2", sample_dpm_2, discard_penultimate_sigma=True),
    SamplerSpec("dpm_2_ancestral", sample_dpm_2_ancestral, noise="gaussian",
                discard_penultimate_sigma=True),
    SamplerSpec("lms", sample_lms),
    SamplerSpec("dpm_fast", sample_dpm_fast),
    SamplerSpec("dpm_adaptive", sample_dpm_adaptive),
    SamplerSpec("dpmpp_2s_ancestral", sample_dpmpp_2s_ancestral, noise="gaussian"),
    SamplerSpec("dpmpp_2s_ancestral_cfg_pp", sample_dpmpp_2s_ancestral_cfg_pp,
                noise="gaussian", needs_uncond=True),
    SamplerSpec("dpmpp_sde", sample_dpmpp_sde, noise="brownian"),
    SamplerSpec("dpmpp_sde_gpu", sample_dpmpp_sde_gpu, noise="brownian_device"),
    SamplerSpec("dpmpp_2m", sample_dpmpp_2m),
    SamplerSpec("dpmpp_2m_cfg_pp", sample_dpmpp_2m_cfg_pp, needs_uncond=True),
    SamplerSpec("dpmpp_2m_sde", sample_dpmpp_2m_sde, noise="brownian"),
    SamplerSpec("dpmpp_2m_sde_gpu", sample_dpmpp_2m_sde_gpu, noise="brownian_device"),
    SamplerSpec("dpmpp_2m_sde_heun", sample_dpmpp_2m_sde_heun, noise="brownian"),
    SamplerSpec("dpmpp_2m_sde_heun_gpu", sample_dpmpp_2m_sde_heun_gpu, noise="brownian_device"),
    SamplerSpec("dpmpp_3m_sde", sample_dpmpp_3m_sde, noise="brownian"),
    SamplerSpec("dpmpp_3m_sde_gpu", sample_dpmpp_3m_sde_gpu, noise="brownian_device"),
    SamplerSpec("ddpm", sample_ddpm, noise="gaussian"),
    SamplerSpec("lcm", sample_lcm, noise="gaussian"),
    SamplerSpec("ipndm", sample_ipndm),
    SamplerSpec("ipndm_v", sample_ipndm_v),
    SamplerSpec("deis", sample_deis),
    SamplerSpec("res_multistep", sample_res_multistep),
    SamplerSpec("res_multistep_cfg_pp", sample_res_multistep_cfg_pp, needs_uncond=True),
    SamplerSpec("res_multistep_ancestral", sample_res_multistep_ancestral, noise="gaussian"),
    SamplerSpec("res_multistep_ancestral_cfg_pp", sample_res_multistep_ancestral_cfg_pp,
                noise="gaussian", needs_uncond=True),
    SamplerSpec("gradient_estimation", sample_gradient_estimation),
    SamplerSpec("gradient_estimation_cfg_pp", sample_gradient_estimation_cfg_pp,
                needs_uncond=True),
    SamplerSpec("er_sde", sample_er_sde, noise="gaussian"),
    SamplerSpec("seeds_2", sample_seeds_2, noise="gaussian"),
    SamplerSpec("seeds_3", sample_seeds_3, noise="gaussian"),
    SamplerSpec("sa_solver", sample_sa_solver, noise="gaussian", needs_model_sampling=True),
    SamplerSpec("sa_solver_pece", sample_sa_solver_pece, noise="gaussian",
                needs_model_sampling=True),
    SamplerSpec("ddim", sample_euler, paired_scheduler="ddim_uniform", inpaint_fresh_noise=True),
    SamplerSpec("uni_pc", sample_uni_pc, discard_penultimate_sigma=True),
    SamplerSpec("uni_pc_bh2", sample_uni_pc_bh2, discard_penultimate_sigma=True),
)

SAMPLERS: MappingProxyType[str, SamplerSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Sampler name -> spec, in ComfyUI's list order (ddim, uni_pc, uni_pc_bh2 last)."""

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
