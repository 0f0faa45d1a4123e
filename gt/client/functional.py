"""``gt.nn.functional``: the functional forms of gt.nn's layers."""
from gt.client.nn import mse_loss, relu, sigmoid, tanh

__all__ = ["mse_loss", "relu", "sigmoid", "tanh"]
