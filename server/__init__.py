"""The HTTP/WebSocket server: ComfyUI's wire protocol on aiohttp, a durable SQLite job store,
secure by default. It talks to the executor only and never touches tensors.

Entry point: ``server.app.create_app(engine, registry, settings)``.
"""
