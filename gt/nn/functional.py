"""``gt.nn.functional``."""
from gt.client.functional import linear, mse_loss, relu, sigmoid, tanh

__all__ = ["linear", "mse_loss", "relu", "sigmoid", "tanh"]
