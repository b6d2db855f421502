"""A pack with a syntax error: it cannot be imported at all."""
from .broken import NODE_CLASS_MAPPINGS
