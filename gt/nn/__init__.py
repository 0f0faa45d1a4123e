"""``gt.nn``: the same module as ``gt.client.nn``."""
from gt.client.nn import (Linear, Module, MSELoss, Parameter, ReLU, Sequential, Sigmoid, Tanh, mse_loss, relu,
                          sigmoid, tanh)
from gt.nn import functional

__all__ = ["Linear", "Module", "MSELoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh", "functional",
           "mse_loss", "relu", "sigmoid", "tanh"]
