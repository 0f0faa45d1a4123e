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
from gt.client.nn.activation import (CELU, ELU, GELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,
                                     LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU, ReLU6, RReLU, Sigmoid,
                                     SiLU, Softmax, Softmax2d, Softmin, Softplus, Softshrink, Softsign, Tanh,
                                     Tanhshrink, Threshold)
from gt.client.nn.container import ModuleDict, ModuleList, Sequential
from gt.client.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from gt.client.nn.distance import CosineSimilarity, PairwiseDistance
from gt.client.nn.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from gt.client.nn.embedding import Embedding
from gt.client.nn.flatten import Flatten
from gt.client.nn.functional import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, gelu,
                                     leaky_relu, log_softmax, mse_loss, relu, sigmoid, silu, softmax, softplus, tanh)
from gt.client.nn.linear import Bilinear, Identity, Linear
from gt.client.nn.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, CTCLoss,
                               GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss,
                               MSELoss, MultiLabelSoftMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss,
                               TripletMarginLoss)
from gt.client.nn.module import Module
from gt.client.nn.normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d,
                                        InstanceNorm2d, InstanceNorm3d, LayerNorm, LocalResponseNorm)
from gt.client.nn.parameter import Parameter
from gt.client.nn.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                                  AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d,
                                  MaxUnpool3d)
from gt.client.nn.resampling import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d,
                                     ConstantPad3d, Fold, PixelShuffle, PixelUnshuffle, ReflectionPad1d,
                                     ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                                     ReplicationPad3d, Unfold, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d,
                                     ZeroPad1d, ZeroPad2d, ZeroPad3d)
from gt.client.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from gt.client.nn.transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                                      TransformerEncoderLayer)

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AlphaDropout", "AvgPool1d",
    "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Bilinear", "CELU",
    "CTCLoss", "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "CosineEmbeddingLoss",
    "CosineSimilarity", "CrossEntropyLoss", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ELU", "Embedding",
    "FeatureAlphaDropout", "Flatten", "Fold", "GELU", "GLU", "GaussianNLLLoss", "GroupNorm", "Hardshrink",
    "Hardsigmoid", "Hardswish", "Hardtanh", "HingeEmbeddingLoss", "HuberLoss", "Identity", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "KLDivLoss", "L1Loss", "LayerNorm", "LeakyReLU", "Linear",
    "LocalResponseNorm", "LogSigmoid", "LogSoftmax", "MSELoss", "MarginRankingLoss", "MaxPool1d", "MaxPool2d", "Mish",
    "Module", "ModuleDict", "ModuleList", "MultiLabelSoftMarginLoss", "NLLLoss", "PReLU", "PairwiseDistance",
    "Parameter", "PixelShuffle", "PixelUnshuffle", "PoissonNLLLoss", "RReLU", "ReLU", "ReLU6", "ReflectionPad1d",
    "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "SELU",
    "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss", "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink",
    "Softsign", "Tanh", "Tanhshrink", "Threshold", "TripletMarginLoss", "Unfold", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "functional", "init", "utils",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MultiheadAttention", "RNN", "RNNBase", "RNNCell", "RNNCellBase",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    # the GT prototype's functions
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "gelu", "leaky_relu",
    "log_softmax", "mse_loss", "relu", "sigmoid", "silu", "softmax", "softplus", "tanh",
]
