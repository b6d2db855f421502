"""Errors raised while reading a LoRA file or turning it into patches."""

from __future__ import annotations


class LoraError(ValueError):
    """Base class: something about a LoRA file is wrong for the request."""


class LoraFileError(LoraError):
    """The file cannot be read (unknown container, corrupt, or needs unsafe unpickling)."""


class LoraFormatError(LoraError):
    """An adapter's tensors are inconsistent (ranks that disagree, a missing half)."""


class LoraMappingError(LoraError):
    """The LoRA maps onto nothing in the given model."""


__all__ = ["LoraError", "LoraFileError", "LoraFormatError", "LoraMappingError"]
