"""The HTTP/WebSocket server (ComfyUI-compatible API). It talks to the executor only and never
touches tensors. Built in the "Server" issue."""
