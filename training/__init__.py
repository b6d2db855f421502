"""Training the embedded demo model (issue 7). Never imported by the server, nodes or diffusion."""
