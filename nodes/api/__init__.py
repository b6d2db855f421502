"""The node contract: everything a node pack (built-in or plugin) and the executor share.

The executor imports only this package; it stays free of torch.
"""

from __future__ import annotations

from nodes.api.choices import ModelFolderFiles, SamplerNames, SchedulerNames
from nodes.api.context import (
    FingerprintContext,
    Folders,
    NodeInterrupted,
    RunContext,
    SchemaContext,
)
from nodes.api.file_inputs import FilenamePrefix
from nodes.api.inputs import (
    Boolean,
    CoercionError,
    Combo,
    Float,
    Floats,
    Input,
    Int,
    Link,
    Problem,
    SchemaChoices,
    String,
)
from nodes.api.issues import Issue, IssueError
from nodes.api.memory import MemoryBudget, MemoryEstimate, TensorSpec
from nodes.api.node import (
    Blocked,
    CachePolicy,
    Hidden,
    Node,
    NodeResult,
    Output,
)
from nodes.api.ports import (
    ModelFiles,
    ModelStore,
    Ports,
    PortUnavailableError,
    TextSource,
    Tokenizer,
)
from nodes.api.registry import DuplicateNodeError, Registry, UnknownNodeError
from nodes.api.sampling_table import SamplingTable, UnknownSamplerError
from nodes.api.sockets import (
    ANY,
    BOOLEAN,
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    CONTROL_NET,
    FLOAT,
    FLOATS,
    GUIDER,
    HOOK_KEYFRAMES,
    HOOKS,
    IMAGE,
    INT,
    LATENT,
    LATENT_OPERATION,
    MASK,
    MODEL,
    NOISE,
    SAMPLER,
    SIGMAS,
    STRING,
    STYLE_MODEL,
    TIMESTEPS_RANGE,
    UPSCALE_MODEL,
    VAE,
    Socket,
    socket_type,
    types_match,
)

__all__ = [
    "ANY", "BOOLEAN", "FLOAT", "INT", "STRING", "CLIP", "CLIP_VISION", "CLIP_VISION_OUTPUT",
    "CONDITIONING", "CONTROL_NET", "FLOATS", "GUIDER", "HOOKS", "HOOK_KEYFRAMES",
    "IMAGE", "LATENT", "LATENT_OPERATION", "MASK", "MODEL", "NOISE", "SAMPLER", "SIGMAS",
    "STYLE_MODEL", "TIMESTEPS_RANGE", "UPSCALE_MODEL", "VAE",
    "Blocked", "Boolean", "CachePolicy", "CoercionError", "Combo", "DuplicateNodeError",
    "FilenamePrefix", "FingerprintContext", "Float", "Floats", "Folders", "Hidden", "Input",
    "Int", "Issue", "IssueError",
    "Link", "MemoryBudget", "MemoryEstimate", "ModelFiles", "ModelFolderFiles", "ModelStore",
    "Node", "NodeInterrupted",
    "NodeResult", "Output", "PortUnavailableError", "Ports", "Problem", "Registry",
    "RunContext", "SamplerNames", "SamplingTable", "SchedulerNames", "SchemaChoices",
    "SchemaContext", "Socket",
    "String", "TensorSpec", "TextSource", "Tokenizer", "UnknownNodeError", "UnknownSamplerError",
    "socket_type", "types_match",
]
