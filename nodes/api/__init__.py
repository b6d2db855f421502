"""The node contract: everything a node pack (built-in or plugin) and the executor share.

The executor imports only this package; it stays free of torch.
"""

from __future__ import annotations

from nodes.api.inputs import (
    Boolean,
    CoercionError,
    Combo,
    Float,
    Input,
    Int,
    Link,
    Problem,
    String,
)
from nodes.api.node import (
    Blocked,
    CachePolicy,
    FingerprintContext,
    Folders,
    Hidden,
    Node,
    NodeInterrupted,
    NodeResult,
    Output,
    RunContext,
)
from nodes.api.registry import DuplicateNodeError, Registry, UnknownNodeError
from nodes.api.sockets import (
    ANY,
    BOOLEAN,
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    CONTROL_NET,
    FLOAT,
    GUIDER,
    IMAGE,
    INT,
    LATENT,
    MASK,
    MODEL,
    NOISE,
    SAMPLER,
    SIGMAS,
    STRING,
    UPSCALE_MODEL,
    VAE,
    Socket,
    socket_type,
    types_match,
)

__all__ = [
    "ANY", "BOOLEAN", "FLOAT", "INT", "STRING", "CLIP", "CLIP_VISION", "CLIP_VISION_OUTPUT",
    "CONDITIONING", "CONTROL_NET", "GUIDER",
    "IMAGE", "LATENT", "MASK", "MODEL", "NOISE", "SAMPLER", "SIGMAS", "UPSCALE_MODEL", "VAE",
    "Blocked", "Boolean", "CachePolicy", "CoercionError", "Combo", "DuplicateNodeError",
    "FingerprintContext", "Float", "Folders", "Hidden", "Input", "Int", "Link", "Node",
    "NodeInterrupted", "NodeResult", "Output", "Problem", "Registry", "RunContext", "Socket",
    "String", "UnknownNodeError", "socket_type", "types_match",
]
