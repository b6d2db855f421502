"""Wildcard types: a str subclass whose __ne__ is always False, an always-equal proxy, a union."""
from .anytype import any_type, AlwaysEqualProxy
from .wildcard_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS"]  # display names are still read: a module attribute
