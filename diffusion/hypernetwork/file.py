"""Reading A1111 hypernetwork files (``.pt``, safe unpickling only).

A file is a dict: integer keys (a context width: 320, 640, 768, 1280 …) map to a pair of state
dicts (the k and the v network), plus settings — ``activation_func``, ``is_layer_norm``,
``activate_output``, ``use_dropout`` … Each network is a ``Sequential`` whose state-dict
indices are kept: 2-d weights are ``Linear`` layers, 1-d weights ``LayerNorm``; the activation
follows every linear layer except the last (unless ``activate_output``); dropout, a training
device, leaves only gaps in the indices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU,
    "swish": nn.Hardswish, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softsign": nn.Softsign,
    "mish": nn.Mish,
}
"""A1111's activation names (its ``swish`` is hard-swish)."""


@dataclass(frozen=True, eq=False)
class Hypernetwork:
    """The (k, v) networks per context width, in fp32 on the CPU."""

    layers: Mapping[int, tuple[nn.Module, nn.Module]]
    name: str = ""

    def widths(self) -> list[int]:
        return sorted(self.layers)


def _indexed(state: Mapping[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    """``linear.<i>.<param>`` grouped by i (the prefix is whatever comes before the index)."""
    grouped: dict[int, dict[str, Tensor]] = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if len(parts) < 2 or not parts[-2].isdigit():
            raise ValueError(f"hypernetwork key {key!r} is not '<name>.<index>.<param>'")
        grouped.setdefault(int(parts[-2]), {})[parts[-1]] = tensor
    return grouped


def _build(state: Mapping[str, Tensor], activation: str, activate_output: bool) -> nn.Module:
    layers = _indexed(state)
    linears = [i for i, p in layers.items() if p["weight"].ndim == 2]
    modules: list[nn.Module] = []
    for index in sorted(layers):
        params = layers[index]
        weight = params["weight"].float()
        if weight.ndim == 2:
            linear = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in params)
            linear.load_state_dict({k: v.float() for k, v in params.items()})
            modules.append(linear)
            if index != max(linears) or activate_output:
                modules.append(ACTIVATIONS[activation]())
        else:
            norm = nn.LayerNorm(weight.shape[0])
            norm.load_state_dict({k: v.float() for k, v in params.items()})
            modules.append(norm)
    return nn.Sequential(*modules).eval().requires_grad_(False)


def parse_hypernetwork(data: Mapping[Any, Any], name: str = "") -> Hypernetwork:
    """A :class:`Hypernetwork` from a loaded file's dict."""
    activation = str(data.get("activation_func") or "linear").lower()
    if activation not in ACTIVATIONS:
        raise ValueError(f"hypernetwork {name!r}: activation_func {activation!r} is not one of "
                         f"{sorted(ACTIVATIONS)}")
    activate_output = bool(data.get("activate_output", False))
    layers: dict[int, tuple[nn.Module, nn.Module]] = {}
    for key, value in data.items():
        if not isinstance(key, int):
            continue
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"hypernetwork {name!r}: width {key} holds {type(value).__name__}, "
                             "not a (k, v) pair of state dicts")
        k_net, v_net = (_build(state, activation, activate_output) for state in value)
        layers[key] = (k_net, v_net)
    if not layers:
        raise ValueError(f"hypernetwork {name!r} has no networks (no integer width keys)")
    return Hypernetwork(layers, name)


def load_hypernetwork(path: Path) -> Hypernetwork:
    """Reads ``path`` with ``torch.load(weights_only=True)``: a file needing arbitrary
    unpickling is refused."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError or RuntimeError for unsafe files
        raise ValueError(f"hypernetwork {Path(path).name!r} cannot be read safely: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"hypernetwork {Path(path).name!r} holds {type(data).__name__}, "
                         "not a dict")
    return parse_hypernetwork(data, Path(path).stem)
