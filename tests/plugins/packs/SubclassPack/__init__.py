"""Subclassing and calling built-in nodes: a PreviewImage with its own prefix, an empty
latent made by calling nodes.EmptyLatentImage, and a LATENT passed through common_upscale."""
import comfy.utils
import nodes


class TaggedPreview(nodes.PreviewImage):
    def __init__(self):
        super().__init__()
        self.prefix_append = "_tagged"

    @classmethod
    def INPUT_TYPES(cls):
        types = super().INPUT_TYPES()
        types["required"]["tag"] = ("STRING", {"default": "t"})
        return types

    FUNCTION = "preview"
    CATEGORY = "tests/subclass"

    def preview(self, images, tag, prompt=None, extra_pnginfo=None):
        return self.save_images(images, filename_prefix=tag, prompt=prompt,
                                extra_pnginfo=extra_pnginfo)


class HalfLatent:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"width": ("INT", {"default": 64, "min": 16,
                                               "max": nodes.MAX_RESOLUTION, "step": 8})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "tests/subclass"

    def make(self, width):
        (latent,) = nodes.EmptyLatentImage().generate(width, width, 2)
        samples = comfy.utils.common_upscale(latent["samples"], width // 16, width // 16,
                                             "bilinear", "disabled")
        return ({"samples": samples, "made_by": "HalfLatent"},)


NODE_CLASS_MAPPINGS = {"TaggedPreview": TaggedPreview, "HalfLatent": HalfLatent}
