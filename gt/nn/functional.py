"""``gt.nn.functional``."""
from gt.client.functional import mse_loss, relu, sigmoid, tanh

__all__ = ["mse_loss", "relu", "sigmoid", "tanh"]
