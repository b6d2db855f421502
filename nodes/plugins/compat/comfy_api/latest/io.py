"""ComfyUI's V3 node API (``comfy_api.latest.io``) as SD-era packs use it.

A node is an ``io.ComfyNode`` subclass with classmethods ``define_schema() -> io.Schema`` and
``execute(**inputs) -> io.NodeOutput`` (sync or ``async``), optionally
``fingerprint_inputs``, ``validate_inputs`` and ``check_lazy_status``. As in ComfyUI, the class
also shows the V1 face (``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION`` …) generated from its
schema, and that face is what the plugin adapter runs; hidden inputs arrive on a per-call clone
of the class as ``cls.hidden``.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass, field
from typing import Any

from nodes.plugins.compat.comfy_execution.graph_utils import ExecutionBlocker


def _pruned(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v is not False}


class FolderType(str, enum.Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, enum.Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, enum.Enum):
    number = "number"
    slider = "slider"


class Input:
    """One input: ``id``, ``display_name``, ``optional``, ``tooltip``, ``lazy``."""

    Parent: Any = None

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None,
                 extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None
                 ) -> None:
        self.id, self.display_name, self.optional = id, display_name, optional
        self.tooltip, self.lazy, self.raw_link = tooltip, lazy, raw_link
        self.extra_dict = extra_dict or {}

    def get_io_type(self) -> Any:
        return self.Parent.io_type

    @property
    def io_type(self) -> Any:
        return self.get_io_type()

    def as_dict(self) -> dict[str, Any]:
        return _pruned({"display_name": self.display_name, "tooltip": self.tooltip,
                        "lazy": self.lazy, "rawLink": self.raw_link}) | _pruned(self.extra_dict)


class WidgetInput(Input):
    """An input with a widget: adds ``default``, ``socketless``, ``force_input``."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 socketless: bool | None = None, widget_type: str | None = None,
                 force_input: bool | None = None, extra_dict: dict[str, Any] | None = None,
                 raw_link: bool | None = None) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
        self.default, self.socketless = default, socketless
        self.widget_type, self.force_input = widget_type, force_input

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict() | _pruned({"socketless": self.socketless,
                                           "forceInput": self.force_input})
        if self.default is not None:
            out["default"] = self.default
        return out

    def get_io_type(self) -> Any:
        return self.widget_type or super().get_io_type()


class Output:
    """One output: ``id``, ``display_name``, ``tooltip``, ``is_output_list``."""

    Parent: Any = None

    def __init__(self, id: str | None = None, display_name: str | None = None,
                 tooltip: str | None = None, is_output_list: bool = False) -> None:
        self.id, self.display_name, self.tooltip = id, display_name, tooltip
        self.is_output_list = is_output_list

    @property
    def io_type(self) -> Any:
        return self.Parent.io_type


class ComfyTypeIO:
    """A type with ``Input`` and ``Output`` classes (``io.Image.Input("image")``)."""

    io_type: Any = None
    Type: Any = Any

    class Input(Input):
        pass

    class Output(Output):
        pass


ComfyTypeI = ComfyTypeIO


def comfytype(io_type: Any) -> Any:
    """Class decorator: a ComfyType for ``io_type`` with its own Input/Output classes."""
    def decorate(cls: type) -> type:
        bases = cls.__bases__ if issubclass(cls, ComfyTypeIO) else (cls, ComfyTypeIO)
        namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__",
                                                                         "__weakref__")}
        new = cls if issubclass(cls, ComfyTypeIO) else type(cls.__name__, bases, namespace)
        new.io_type = io_type
        for name in ("Input", "Output"):
            base = getattr(new, name)
            child = type(name, (base,), {"Parent": new})
            setattr(new, name, child)
        return new

    return decorate


def Custom(io_type: str) -> type[ComfyTypeIO]:  # noqa: N802 (ComfyUI's name)
    """A ComfyType for a pack's own type name."""
    @comfytype(io_type)
    class CustomType(ComfyTypeIO):
        pass

    return CustomType


@comfytype("BOOLEAN")
class Boolean(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None,
                     default: bool | None = None, label_on: str | None = None,
                     label_off: str | None = None, socketless: bool | None = None,
                     force_input: bool | None = None, extra_dict: dict[str, Any] | None = None,
                     raw_link: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless,
                             None, force_input, extra_dict, raw_link)
            self.label_on, self.label_off = label_on, label_off

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | _pruned({"label_on": self.label_on,
                                                "label_off": self.label_off})


class _Number(WidgetInput):
    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 min: Any = None, max: Any = None, step: Any = None, round: Any = None,
                 control_after_generate: bool | None = None,
                 display_mode: NumberDisplay | None = None, socketless: bool | None = None,
                 force_input: bool | None = None, extra_dict: dict[str, Any] | None = None,
                 raw_link: bool | None = None) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None,
                         force_input, extra_dict, raw_link)
        self.min, self.max, self.step, self.round = min, max, step, round
        self.control_after_generate, self.display_mode = control_after_generate, display_mode

    def as_dict(self) -> dict[str, Any]:
        shown = self.display_mode.value if isinstance(self.display_mode, enum.Enum) else \
            self.display_mode
        return super().as_dict() | {k: v for k, v in {
            "min": self.min, "max": self.max, "step": self.step, "round": self.round,
            "control_after_generate": self.control_after_generate, "display": shown,
        }.items() if v is not None}


@comfytype("INT")
class Int(ComfyTypeIO):
    class Input(_Number):
        pass


@comfytype("FLOAT")
class Float(ComfyTypeIO):
    class Input(_Number):
        pass


@comfytype("STRING")
class String(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None,
                     multiline: bool = False, placeholder: str | None = None,
                     default: str | None = None, dynamic_prompts: bool | None = None,
                     socketless: bool | None = None, force_input: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None
                     ) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless,
                             None, force_input, extra_dict, raw_link)
            self.multiline, self.placeholder = multiline, placeholder
            self.dynamic_prompts = dynamic_prompts

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | _pruned({"multiline": self.multiline,
                                                "placeholder": self.placeholder,
                                                "dynamicPrompts": self.dynamic_prompts})


@comfytype("COMBO")
class Combo(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, options: Any = None, display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None,
                     lazy: bool | None = None, default: Any = None,
                     control_after_generate: bool | None = None,
                     upload: UploadType | None = None, image_folder: FolderType | None = None,
                     remote: Any = None, socketless: bool | None = None,
                     extra_dict: dict[str, Any] | None = None, raw_link: bool | None = None
                     ) -> None:
            if isinstance(options, type) and issubclass(options, enum.Enum):
                options = [v.value for v in options]
            if isinstance(default, enum.Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless,
                             None, None, extra_dict, raw_link)
            self.options = list(options or [])
            self.control_after_generate, self.upload = control_after_generate, upload
            self.image_folder, self.remote = image_folder, remote

        def as_dict(self) -> dict[str, Any]:
            out = super().as_dict() | {"options": self.options}
            out |= _pruned({"control_after_generate": self.control_after_generate,
                            "image_folder": self.image_folder.value if self.image_folder
                            else None})
            if self.upload is not None:
                out[self.upload.value] = True
            return out


def _socket_type(name: str) -> type[ComfyTypeIO]:
    return comfytype(name)(type(name.title().replace("_", ""), (ComfyTypeIO,), {}))


Image = _socket_type("IMAGE")
Mask = _socket_type("MASK")
Latent = _socket_type("LATENT")
Conditioning = _socket_type("CONDITIONING")
Sampler = _socket_type("SAMPLER")
Sigmas = _socket_type("SIGMAS")
Noise = _socket_type("NOISE")
Guider = _socket_type("GUIDER")
Clip = _socket_type("CLIP")
ControlNet = _socket_type("CONTROL_NET")
Vae = _socket_type("VAE")
Model = _socket_type("MODEL")
ClipVision = _socket_type("CLIP_VISION")
ClipVisionOutput = _socket_type("CLIP_VISION_OUTPUT")
UpscaleModel = _socket_type("UPSCALE_MODEL")
Hooks = _socket_type("HOOKS")
HookKeyframes = _socket_type("HOOK_KEYFRAMES")
TimestepsRange = _socket_type("TIMESTEPS_RANGE")
LatentOperation = _socket_type("LATENT_OPERATION")
AnyType = _socket_type("*")


class Hidden(str, enum.Enum):
    """Hidden inputs a node asks for in its schema."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """``cls.hidden`` during a call: ``unique_id``, ``prompt`` … (``None`` when not asked)."""

    def __init__(self, values: dict[str, Any]) -> None:
        for kind in Hidden:
            setattr(self, kind.name, values.get(kind.value))

    def __getattr__(self, key: str) -> Any:
        return None

    @classmethod
    def from_dict(cls, values: dict[Any, Any] | None) -> HiddenHolder:
        return cls({str(getattr(k, "value", k)): v for k, v in (values or {}).items()})


@dataclass
class Schema:
    """A V3 node's definition."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    description: str = ""
    search_aliases: list[str] = field(default_factory=list)
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def finalize(self) -> None:
        if self.is_output_node:
            for kind in (Hidden.prompt, Hidden.extra_pnginfo):
                if kind not in self.hidden:
                    self.hidden.append(kind)
        for i, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{i}_{output.io_type}_"

    def input_types(self) -> dict[str, Any]:
        found: dict[str, Any] = {"required": {}}
        for item in self.inputs:
            section = found.setdefault("optional" if item.optional else "required", {})
            section[item.id] = (item.get_io_type(), item.as_dict())
        if self.hidden:
            found["hidden"] = {kind.name: (kind.value,) for kind in self.hidden}
        return found


class NodeOutput:
    """What ``execute`` returns: output values, ``ui``, ``expand``, ``block_execution``."""

    def __init__(self, *args: Any, ui: Any = None, expand: dict[str, Any] | None = None,
                 block_execution: str | None = None) -> None:
        self.args, self.ui, self.expand = args, ui, expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple[Any, ...] | None:
        return self.args or None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeOutput:
        result = data.get("result", ())
        if isinstance(result, ExecutionBlocker):
            return cls(block_execution=result.message)
        return cls(*result, ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index: int) -> Any:
        return self.args[index]


class _ClassProperty:
    def __init__(self, getter: Any) -> None:
        self.getter = getter

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.getter(owner)


def _normalized(value: Any) -> NodeOutput:
    if value is None:
        return NodeOutput()
    if isinstance(value, NodeOutput):
        return value
    if isinstance(value, tuple):
        return NodeOutput(*value)
    if isinstance(value, dict):
        return NodeOutput.from_dict(value)
    if isinstance(value, ExecutionBlocker):
        return NodeOutput(block_execution=value.message)
    raise TypeError(f"execute returned {type(value).__name__}; return an io.NodeOutput")


class ComfyNode:
    """Base of V3 nodes (see the module docstring)."""

    hidden: HiddenHolder = HiddenHolder({})
    _SCHEMA: Schema | None = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError(f"{cls.__name__} defines no define_schema()")

    @classmethod
    def execute(cls, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{cls.__name__} defines no execute()")

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]

    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802 (ComfyUI's name)
        if cls.__dict__.get("_SCHEMA") is None:
            schema = cls.define_schema()
            schema.finalize()
            cls._SCHEMA = schema
        return cls.__dict__["_SCHEMA"]  # type: ignore[no-any-return]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 (ComfyUI's name)
        schema = cls.define_schema()
        schema.finalize()
        return schema.input_types()

    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden: dict[Any, Any] | None) -> type[ComfyNode]:  # noqa: N802
        return type(cls.__name__, (cls,), {"hidden": HiddenHolder.from_dict(hidden),
                                           "__module__": cls.__module__})

    @classmethod
    def EXECUTE_NORMALIZED(cls, **kwargs: Any) -> Any:  # noqa: N802 (ComfyUI's name)
        value = cls.execute(**kwargs)
        if inspect.isawaitable(value):
            async def finish() -> NodeOutput:
                return _normalized(await value)

            return finish()
        return _normalized(value)

    FUNCTION = "EXECUTE_NORMALIZED"
    RETURN_TYPES = _ClassProperty(lambda c: tuple(o.io_type for o in c.GET_SCHEMA().outputs))
    RETURN_NAMES = _ClassProperty(lambda c: tuple(o.display_name or o.io_type
                                                  for o in c.GET_SCHEMA().outputs))
    OUTPUT_IS_LIST = _ClassProperty(lambda c: tuple(o.is_output_list
                                                    for o in c.GET_SCHEMA().outputs))
    OUTPUT_TOOLTIPS = _ClassProperty(lambda c: tuple(o.tooltip or ""
                                                     for o in c.GET_SCHEMA().outputs))
    CATEGORY = _ClassProperty(lambda c: c.GET_SCHEMA().category)
    DESCRIPTION = _ClassProperty(lambda c: c.GET_SCHEMA().description)
    OUTPUT_NODE = _ClassProperty(lambda c: c.GET_SCHEMA().is_output_node)
    INPUT_IS_LIST = _ClassProperty(lambda c: c.GET_SCHEMA().is_input_list)
    NOT_IDEMPOTENT = _ClassProperty(lambda c: c.GET_SCHEMA().not_idempotent)
    DEPRECATED = _ClassProperty(lambda c: c.GET_SCHEMA().is_deprecated)
    EXPERIMENTAL = _ClassProperty(lambda c: c.GET_SCHEMA().is_experimental)
    API_NODE = _ClassProperty(lambda c: c.GET_SCHEMA().is_api_node)
    SEARCH_ALIASES = _ClassProperty(lambda c: c.GET_SCHEMA().search_aliases)
