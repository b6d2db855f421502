"""The executor: graph formats, validation, cache keys and policies, scheduling, the run loop.

It imports ``nodes.api`` and never torch.
"""
