"""Built-in nodes. Importing this package registers nothing: see ``nodes.builtin``."""
