"""ComfyUI's module-level API for node packs: ``folder_paths``, ``comfy.*``, ``node_helpers``,
``latent_preview``, ``comfy_execution.*``, ``comfy_api.latest`` (served under those names by
``nodes.plugins.host``), plus ComfyUI's names on our ``nodes`` (``nodes_module``) and
``server`` (``prompt_server``) packages.

Our own code, written from ComfyUI's documented behaviour: each function calls the engine
through its public ports and payloads (``nodes.api``, ``nodes.payloads``, ``diffusion``) or runs
a registered built-in node through the node contract; nothing here is imported unless a pack
imports it.
"""
