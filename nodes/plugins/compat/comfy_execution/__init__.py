"""ComfyUI's ``comfy_execution``: ``graph`` (``ExecutionBlocker``, ``DynamicPrompt``) and
``graph_utils`` (``GraphBuilder``, ``is_link``)."""
