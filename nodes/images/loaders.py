"""LoadImageOutput (ComfyUI's ``nodes.py``) and WebcamCapture (``comfy_extras/nodes_webcam.py``):
LoadImage variants.

LoadImageOutput resolves a plain name in the output folder. (In ComfyUI v0.3.64 it inherits
LoadImage's input-folder default, so the plain names its ``/internal/files/output`` list gives
fail; later releases fixed that by annotating the list with `` [output]``. Annotated names work
either way here.) WebcamCapture loads the capture the editor uploaded (an annotated name such as
``webcam/123.png [temp]``; plain names are in the input folder); width, height and
capture_on_queue are used by the editor only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.api import (
    IMAGE,
    MASK,
    Boolean,
    CachePolicy,
    CoercionError,
    FingerprintContext,
    Input,
    Int,
    Node,
    Output,
    RunContext,
    SchemaContext,
)
from nodes.api.inputs import NO_SCHEMA
from nodes.api.paths import FolderType, PathRefusedError, resolve_annotated
from nodes.images.decode import load_image
from nodes.images.io import file_sha256
from nodes.images.ops import MAX_RESOLUTION
from nodes.images.pickers import ImageFileCombo

OUTPUT_FILES_ROUTE = "/internal/files/output"


@dataclass(frozen=True)
class RemoteImageCombo(ImageFileCombo):
    """An image picker whose choices the editor fetches from a route (ComfyUI's ``remote``
    combo): ``/object_info`` lists none."""

    route: str = OUTPUT_FILES_ROUTE

    def options(self) -> dict[str, Any]:
        opts = super().options()
        opts["remote"] = {"route": self.route, "refresh_button": True,
                          "control_after_refresh": "first"}
        return opts

    def v1(self, schema: SchemaContext = NO_SCHEMA) -> list[Any]:
        return ["COMBO", self.options()]


@dataclass(frozen=True)
class WebcamImage(Input):
    """ComfyUI's WEBCAM widget: the editor captures a frame, uploads it and sends its name."""

    type_name = "WEBCAM"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise CoercionError(f"expected an uploaded image name, got {value!r}")
        return value


def _resolve(ctx: FingerprintContext | RunContext, node: str, image: Any,
             default: FolderType) -> Any:
    if ctx.folders is None:
        raise RuntimeError(f"{node}: no folders are configured (the engine has folders=None)")
    return resolve_annotated(ctx.folders, image, default=default, what=f"{node} input 'image'")


class _AnnotatedImageLoader(Node):
    """Shared by both: a file picked by (annotated) name, fingerprinted by its content."""

    cache = CachePolicy.FINGERPRINT
    default_folder: FolderType = "input"

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, image: Any = None, **_: Any) -> Any:
        if image is None:
            raise ValueError(f"{cls.type_name} input 'image' is linked; its file cannot be "
                             "hashed early")
        return file_sha256(_resolve(ctx, cls.type_name, image, cls.default_folder))

    @classmethod
    def validate(cls, ctx: FingerprintContext, image: Any = None, **_: Any) -> str | None:
        if image is None:
            return None
        try:
            path = _resolve(ctx, cls.type_name, image, cls.default_folder)
        except (PathRefusedError, RuntimeError) as exc:
            return f"Invalid image file: {image} ({exc})"
        return None if path.is_file() else f"Invalid image file: {image}"

    def load(self, ctx: RunContext, image: str) -> tuple[Any, Any]:
        return load_image(_resolve(ctx, self.type_name, image, self.default_folder))


class LoadImageOutput(_AnnotatedImageLoader):
    """Loads an image from the output folder (as LoadImage does from the input folder); the
    editor's refresh button lists the newest outputs first."""

    display_name = "Load Image (from Outputs)"
    category = "image"
    experimental = True
    default_folder = "output"
    inputs = (RemoteImageCombo("image", image_upload=True, image_folder="output",
                               tooltip="An image in the output folder ('name.png [input]' "
                                       "and 'sub/name.png' are accepted too)."),)
    outputs = (Output(IMAGE), Output(MASK))

    def run(self, ctx: RunContext, image: str) -> tuple[Any, ...]:
        return self.load(ctx, image)


class WebcamCapture(_AnnotatedImageLoader):
    """Loads the webcam frame the editor captured and uploaded."""

    display_name = "Webcam Capture"
    category = "image"
    inputs = (
        WebcamImage("image", tooltip="The captured frame (uploaded by the editor)."),
        Int("width", default=0, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Capture width (editor only; 0: the camera's)."),
        Int("height", default=0, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Capture height (editor only; 0: the camera's)."),
        Boolean("capture_on_queue", default=True,
                tooltip="Capture a new frame when the prompt is queued (editor only)."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: str, width: int, height: int,
            capture_on_queue: bool) -> tuple[Any, ...]:
        return (self.load(ctx, image)[0],)


LOADER_NODES: list[type[Node]] = [LoadImageOutput, WebcamCapture]
