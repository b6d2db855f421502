"""Models, loading and memory for Stable Diffusion; knows nothing of graphs, nodes or HTTP."""
