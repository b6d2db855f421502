"""Tensor operations shared by the models: faster CPU convolutions (Winograd, im2col)."""
