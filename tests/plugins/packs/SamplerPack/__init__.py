"""A pack sampling a MODEL it received with comfy.sample, after patching a clone of it."""
import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

HOOK_CALLS = []


class PackSampler:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
            "latent": ("LATENT",), "seed": ("INT", {"default": 0, "min": 0,
                                                     "max": 0xffffffffffffffff}),
            "steps": ("INT", {"default": 4, "min": 1, "max": 100}),
            "cfg": ("FLOAT", {"default": 5.0}),
            "sampler_name": (comfy.samplers.KSampler.SAMPLERS,),
            "scheduler": (comfy.samplers.KSampler.SCHEDULERS,),
            "hook": ("BOOLEAN", {"default": False}),
        }}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "tests/sampler"

    def sample(self, model, positive, negative, latent, seed, steps, cfg, sampler_name,
               scheduler, hook):
        if hook:
            model = model.clone()

            def post_cfg(args):
                HOOK_CALLS.append(float(args["sigma"].flatten()[0]))
                return args["denoised"]

            model.set_model_sampler_post_cfg_function(post_cfg)
        samples = latent["samples"]
        noise = comfy.sample.prepare_noise(samples, seed, latent.get("batch_index"))
        callback = latent_preview.prepare_callback(model, steps)
        out = comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive,
                                  negative, samples, denoise=1.0, callback=callback, seed=seed)
        result = latent.copy()
        result["samples"] = out
        return (result,)


NODE_CLASS_MAPPINGS = {"PackSampler": PackSampler}
