"""The IPAdapter plugin's socket types."""

from __future__ import annotations

from nodes.api import socket_type

IPADAPTER = socket_type("IPADAPTER", "An IP-Adapter (and the CLIP vision model paired with it).")
EMBEDS = socket_type("EMBEDS", "CLIP vision embeddings for IPAdapterEmbeds (n, D) or (n, P, D).")
