"""Named errors of checkpoint loading; every message names the file and what was wrong."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file could not be read or understood."""


class TruncatedCheckpointError(CheckpointError):
    """The file ends before the data its header (or archive directory) promises."""


class UnsupportedCheckpointFormatError(CheckpointError):
    """The file is not safetensors nor a weights-only torch pickle (or has an unknown extension)."""


class UnknownModelError(CheckpointError):
    """The tensors do not match any known model layout (missing or unexpected keys or shapes)."""
