"""Our registered nodes seen as ComfyUI V1 classes: what ``nodes.KSampler``,
``nodes.NODE_CLASS_MAPPINGS["CLIPTextEncode"]`` … give packs that call or subclass them.

A view has ComfyUI's ``INPUT_TYPES`` (our ``/object_info`` entry), ``RETURN_TYPES``,
``FUNCTION`` and the function under ComfyUI's name and parameter order
(``CLIPTextEncode().encode(clip, text)``, ``VAEDecode().decode(vae, samples)``,
``KSampler().sample(model, seed, …)`` …); calling it converts ComfyUI payloads to ours, runs the
registered node in the calling node's job (``builtin_calls``) and returns ComfyUI's shapes.
"""

from __future__ import annotations

from typing import Any

from nodes.api import Registry
from nodes.plugins.compat.builtin_calls import run_node

# ComfyUI's FUNCTION of a node, and its parameter order where it differs from INPUT_TYPES.
FUNCTIONS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "KSampler": ("sample", None),
    "KSamplerAdvanced": ("sample", None),
    "CheckpointLoaderSimple": ("load_checkpoint", None),
    "CheckpointLoader": ("load_checkpoint", None),
    "CLIPTextEncode": ("encode", ("clip", "text")),
    "CLIPSetLastLayer": ("set_last_layer", None),
    "VAEDecode": ("decode", ("vae", "samples")),
    "VAEEncode": ("encode", ("vae", "pixels")),
    "VAEDecodeTiled": ("decode", ("vae", "samples", "tile_size", "overlap", "temporal_size",
                                  "temporal_overlap")),
    "VAEEncodeTiled": ("encode", ("vae", "pixels", "tile_size", "overlap", "temporal_size",
                                  "temporal_overlap")),
    "VAEEncodeForInpaint": ("encode", ("vae", "pixels", "mask", "grow_mask_by")),
    "VAELoader": ("load_vae", None),
    "LoraLoader": ("load_lora", None),
    "LoraLoaderModelOnly": ("load_lora_model_only", None),
    "EmptyLatentImage": ("generate", None),
    "LatentUpscale": ("upscale", None),
    "LatentUpscaleBy": ("upscale", None),
    "ImageScale": ("upscale", None),
    "ImageScaleBy": ("upscale", None),
    "LoadImage": ("load_image", None),
    "LoadImageMask": ("load_image", None),
    "ConditioningCombine": ("combine", None),
    "ConditioningSetArea": ("append", None),
    "ConditioningSetMask": ("append", None),
    "ConditioningAverage": ("addWeighted", None),
    "ConditioningConcat": ("concat", None),
    "ControlNetLoader": ("load_controlnet", None),
    "ControlNetApplyAdvanced": ("apply_controlnet", None),
    "SetLatentNoiseMask": ("set_mask", None),
    "LatentComposite": ("composite", None),
    "LatentFromBatch": ("frombatch", None),
    "RepeatLatentBatch": ("repeat", None),
    "ImageInvert": ("invert", None),
    "ImageBatch": ("batch", None),
    "EmptyImage": ("generate", None),
    "ImagePadForOutpaint": ("expand_image", None),
    "UpscaleModelLoader": ("load_model", None),
    "ImageUpscaleWithModel": ("upscale", None),
    "CLIPLoader": ("load_clip", None),
    "DualCLIPLoader": ("load_clip", None),
    "UNETLoader": ("load_unet", None),
}
DEFAULT_FUNCTION = "execute"


def _input_types(registry: Registry, type_name: str) -> dict[str, Any]:
    info = registry.node_info(type_name)["input"]
    return {section: {name: tuple(entry) for name, entry in entries.items()}
            for section, entries in info.items()}


def _call(self: Any, *args: Any, **kwargs: Any) -> Any:
    from nodes.plugins.adapter.payloads import from_comfy, to_comfy
    from nodes.plugins.host import current

    type_name = self._latentgraph_type
    node = current().registry.get(type_name)
    params = self._latentgraph_params
    if len(args) > len(params):
        raise TypeError(f"{type_name}.{self.FUNCTION}() takes {len(params)} arguments, "
                        f"got {len(args)}")
    given = {**dict(zip(params, args, strict=False)), **kwargs}
    inputs = {}
    for inp in node.inputs:
        value = given[inp.name] if inp.name in given else inp.default
        inputs[inp.name] = from_comfy(value, inp.type_name, f"{type_name} (called by a plugin)")
    values, ui = run_node(type_name, **inputs)
    out = tuple(to_comfy(v, o.type_name) for v, o in zip(values, node.outputs, strict=True))
    return {"ui": ui, "result": out} if ui else out


def view_class(registry: Registry, type_name: str) -> type:
    """The V1 class a pack sees for registered node ``type_name``."""
    node = registry.get(type_name)
    function, order = FUNCTIONS.get(type_name, (DEFAULT_FUNCTION, None))
    params = order or tuple(i.name for i in node.inputs)

    def input_types(cls: type) -> dict[str, Any]:
        from nodes.plugins.host import current

        return _input_types(current().registry, cls._latentgraph_type)  # type: ignore[attr-defined]

    attrs: dict[str, Any] = {
        "__doc__": node.description(), "__module__": "nodes",
        "_latentgraph_type": type_name, "_latentgraph_params": params,
        "INPUT_TYPES": classmethod(input_types),
        "RETURN_TYPES": tuple(o.type_name for o in node.outputs),
        "RETURN_NAMES": tuple(o.display_name for o in node.outputs),
        "OUTPUT_IS_LIST": tuple(o.is_list for o in node.outputs),
        "OUTPUT_TOOLTIPS": tuple(o.tooltip for o in node.outputs),
        "FUNCTION": function, "CATEGORY": node.category, "OUTPUT_NODE": node.output_node,
        "DESCRIPTION": node.description(), function: _call,
    }
    return type(type_name if type_name.isidentifier() else "BuiltinNode", (), attrs)


def expose_builtins(host: Any) -> None:
    """Every node registered so far as ``nodes.<name>`` and in ``NODE_CLASS_MAPPINGS``; the
    image-saving classes packs subclass are ComfyUI-shaped ones (``image_saving``)."""
    from nodes.plugins.compat.image_saving import PreviewImage, SaveImage
    from nodes.plugins.host import add_module_names

    registry = host.registry
    names: dict[str, Any] = {}
    for type_name in registry.names():
        names[type_name] = view_class(registry, type_name)
        info_name = registry.get(type_name).display_name
        host.expose(type_name, names[type_name], info_name)
    for cls in (SaveImage, PreviewImage):
        if cls.__name__ in registry:
            names[cls.__name__] = cls
            host.expose(cls.__name__, cls, registry.get(cls.__name__).display_name)
    add_module_names("nodes", {k: v for k, v in names.items() if k.isidentifier()})
