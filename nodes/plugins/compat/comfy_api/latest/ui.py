"""ComfyUI's V3 UI outputs (``comfy_api.latest.ui``): what a node shows in the editor."""

from __future__ import annotations

from typing import Any

from torch import Tensor


class _UIOutput:
    def as_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class PreviewText(_UIOutput):
    """Text shown on the node."""

    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value

    def as_dict(self) -> dict[str, Any]:
        return {"text": (self.value,)}


class SavedImages(_UIOutput):
    """Images already saved: ``[{filename, subfolder, type}]``."""

    def __init__(self, results: list[dict[str, Any]], is_animated: bool = False) -> None:
        self.results, self.is_animated = results, is_animated

    def as_dict(self) -> dict[str, Any]:
        return {"images": list(self.results), "animated": (self.is_animated,)}


class PreviewImage(_UIOutput):
    """Images (B, H, W, C) saved to the temp folder and shown."""

    def __init__(self, image: Tensor, animated: bool = False, cls: Any = None,
                 **kwargs: Any) -> None:
        from nodes.plugins.compat.image_saving import PreviewImage as Saver

        saved = Saver().save_images(image, "ComfyUI")
        self.values = saved["ui"]["images"]
        self.animated = animated

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    """A mask (B, H, W) shown as a grey image."""

    def __init__(self, mask: Tensor, animated: bool = False, cls: Any = None,
                 **kwargs: Any) -> None:
        image = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1)
        super().__init__(image.expand(-1, -1, -1, 3), animated, cls)


class SavedResult(dict[str, Any]):
    def __init__(self, filename: str, subfolder: str, type: str) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=type)
