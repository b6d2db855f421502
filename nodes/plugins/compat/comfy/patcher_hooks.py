"""ComfyUI ``model_options`` functions as our model hooks (``diffusion.guidance.ModelHooks``).

Supported: ``sampler_cfg_function`` (runs as the first post-CFG function: the guided
prediction is ``x - fn(args)``), ``sampler_post_cfg_function`` and ``sampler_pre_cfg_function``
lists, ``transformer_options.patches`` ``attn1_patch`` / ``attn2_patch`` (attention input
patches) and ``patches_replace`` ``attn1`` / ``attn2`` (attention processors for the given
blocks). Every other key is reported (the caller logs and notes it), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from diffusion.guidance import ModelHooks, PostCFGArgs, PreCFGArgs
from diffusion.unet.attention import Attend, AttentionInfo

KNOWN_OPTIONS = {"transformer_options", "sampler_cfg_function", "sampler_post_cfg_function",
                 "sampler_pre_cfg_function", "disable_cfg1_optimization"}


def _extra_options(info: AttentionInfo) -> dict[str, Any]:
    return {"block": info.block, "block_index": info.block[1],
            "transformer_index": info.transformer_index, "n_heads": info.heads,
            "cond_or_uncond": list(info.cond_or_uncond), "sigmas": info.timesteps,
            "activations_shape": None}


def _cfg(fn: Callable[[dict[str, Any]], Tensor], model: Any) -> Callable[[PostCFGArgs], Tensor]:
    def run(args: PostCFGArgs) -> Tensor:
        x = args.x
        result = fn({"cond": x - args.cond_denoised, "uncond": x - args.uncond_denoised,
                     "cond_scale": args.cond_scale, "timestep": args.sigma, "input": x,
                     "sigma": args.sigma, "cond_denoised": args.cond_denoised,
                     "uncond_denoised": args.uncond_denoised, "model": model,
                     "model_options": model.model_options})
        return x - result

    return run


def _post(fn: Callable[[dict[str, Any]], Tensor], model: Any) -> Callable[[PostCFGArgs], Tensor]:
    def run(args: PostCFGArgs) -> Tensor:
        return fn({"denoised": args.denoised, "cond": None, "uncond": None, "model": model,
                   "uncond_denoised": args.uncond_denoised,
                   "cond_denoised": args.cond_denoised, "sigma": args.sigma,
                   "model_options": model.model_options, "input": args.x,
                   "cond_scale": args.cond_scale})

    return run


def _pre(fn: Callable[[dict[str, Any]], Any], model: Any
         ) -> Callable[[PreCFGArgs], tuple[Tensor, Tensor]]:
    def run(args: PreCFGArgs) -> tuple[Tensor, Tensor]:
        out = fn({"conds": [None, None], "conds_out": [args.cond_denoised, args.uncond_denoised],
                  "cond_scale": args.cond_scale, "timestep": args.sigma, "input": args.x,
                  "sigma": args.sigma, "model": model, "model_options": model.model_options})
        return out[0], out[1]

    return run


class _InputPatch:
    def __init__(self, fn: Callable[..., Any], kind: str) -> None:
        self.fn, self.kind = fn, kind

    def __call__(self, x: Tensor, context_k: Tensor, context_v: Tensor, info: AttentionInfo
                 ) -> tuple[Tensor, Tensor, Tensor]:
        if info.kind != self.kind:
            return x, context_k, context_v
        out = self.fn(x, context_k, context_v, _extra_options(info))
        return out[0], out[1], out[2]


class _Replace:
    def __init__(self, table: Mapping[tuple[Any, ...], Callable[..., Tensor]], kind: str) -> None:
        self.table, self.kind = dict(table), kind

    def _find(self, info: AttentionInfo) -> Callable[..., Tensor] | None:
        block = (info.block[0], info.block[1])
        return self.table.get((*block, info.transformer_index)) or self.table.get(block)

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                 attend: Attend) -> Tensor:
        fn = self._find(info) if info.kind == self.kind else None
        if fn is None:
            return attend(q, k, v)
        return fn(q, k, v, _extra_options(info))


def _attention(transformer: Mapping[str, Any], unsupported: list[str]
               ) -> tuple[list[Any], list[Any]]:
    patches = transformer.get("patches", {}) or {}
    replace = transformer.get("patches_replace", {}) or {}
    inputs: list[Any] = []
    processors: list[Any] = []
    for name, kind in (("attn1_patch", "self"), ("attn2_patch", "cross")):
        inputs += [_InputPatch(fn, kind) for fn in patches.get(name, [])]
    unsupported += [f"transformer_options.patches.{n}" for n in patches
                    if n not in ("attn1_patch", "attn2_patch") and patches[n]]
    for name, kind in (("attn1", "self"), ("attn2", "cross")):
        if replace.get(name):
            processors.append(_Replace(replace[name], kind))
    unsupported += [f"transformer_options.patches_replace.{n}" for n in replace
                    if n not in ("attn1", "attn2") and replace[n]]
    return inputs, processors


def model_hooks(model: Any, base: ModelHooks) -> tuple[ModelHooks, list[str]]:
    """``base`` plus the hooks ``model.model_options`` holds, and the option keys that could
    not be honoured."""
    options = model.model_options
    unsupported = [key for key in options if key not in KNOWN_OPTIONS]
    post: list[Any] = []
    if options.get("sampler_cfg_function") is not None:
        post.append(_cfg(options["sampler_cfg_function"], model))
    post += [_post(fn, model) for fn in options.get("sampler_post_cfg_function", [])]
    pre = [_pre(fn, model) for fn in options.get("sampler_pre_cfg_function", [])]
    inputs, processors = _attention(options.get("transformer_options", {}) or {}, unsupported)
    if not (post or pre or inputs or processors):
        return base, unsupported
    return base.plus(post_cfg=post, pre_cfg=pre, attention=processors,
                     attention_inputs=inputs), unsupported
