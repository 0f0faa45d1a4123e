"""``gt.nn``: modules, parameters, losses, initialisers and the functional forms, as torch.nn.

The GT prototype's ``from gt.client import nn`` finds the activations and
losses here as functions too (``nn.relu``, ``nn.binary_cross_entropy`` ...).
Where the prototype differed from torch, torch's behaviour is kept:
``Linear.weight`` has torch's (out_features, in_features) layout (the prototype
stored it transposed), and ``parameters()`` is a generator, not a list.
"""
from __future__ import annotations

from gt.client.nn import clip_grad as utils
from gt.client.nn import functional, init
from gt.client.nn.attention import MultiheadAttention
from gt.client.nn.activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, ReLU, ReLU6,
                                     Sigmoid, SiLU, Softmax, Softplus, Tanh)
from gt.client.nn.container import ModuleDict, ModuleList, Sequential
from gt.client.nn.conv import Conv1d, Conv2d
from gt.client.nn.dropout import Dropout
from gt.client.nn.embedding import Embedding
from gt.client.nn.flatten import Flatten
from gt.client.nn.functional import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, gelu,
                                     leaky_relu, log_softmax, mse_loss, relu, sigmoid, silu, softmax, softplus, tanh)
from gt.client.nn.linear import Identity, Linear
from gt.client.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss,
                               SmoothL1Loss)
from gt.client.nn.module import Module
from gt.client.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from gt.client.nn.parameter import Parameter
from gt.client.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from gt.client.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from gt.client.nn.transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                                      TransformerEncoderLayer)

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv1d",
    "Conv2d", "CrossEntropyLoss", "Dropout", "ELU", "Embedding", "Flatten", "GELU", "Hardtanh", "HuberLoss",
    "Identity", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax", "MSELoss", "MaxPool2d",
    "Mish", "Module", "ModuleDict", "ModuleList", "NLLLoss", "Parameter", "ReLU", "ReLU6", "Sequential", "SiLU",
    "Sigmoid", "SmoothL1Loss", "Softmax", "Softplus", "Tanh", "functional", "init", "utils",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MultiheadAttention", "RNN", "RNNBase", "RNNCell", "RNNCellBase",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    # the GT prototype's functions
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "gelu", "leaky_relu",
    "log_softmax", "mse_loss", "relu", "sigmoid", "silu", "softmax", "softplus", "tanh",
]
