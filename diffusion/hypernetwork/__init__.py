"""A1111 hypernetworks: per context width, two small MLPs that rewrite the contexts the
attention's ``to_k`` / ``to_v`` project (``context + mlp(context) * strength``)."""

from __future__ import annotations

from diffusion.hypernetwork.file import (
           ACTIVATIONS,
           Hypernetwork,
           load_hypernetwork,
           parse_hypernetwork,
)
from diffusion.hypernetwork.patch import HypernetworkPatch

__all__ = ["ACTIVATIONS", "Hypernetwork", "HypernetworkPatch", "load_hypernetwork",
           "parse_hypernetwork"]
