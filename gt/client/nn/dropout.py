"""Dropout modules: zero elements (or whole channels) with probability p in training, with torch's masks
under the same seed."""
from __future__ import annotations

from gt.client.nn import functional as F
from gt.client.nn import functional_extra as FX
from gt.client.nn.module import Module
from gt.client.tensor import Tensor


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        F.check_dropout_probability(p)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self).fn(input, self.p, self.training, self.inplace)

    fn = F.dropout

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    fn = FX.dropout1d


class Dropout2d(Dropout):
    fn = FX.dropout2d


class Dropout3d(Dropout):
    fn = FX.dropout3d


class AlphaDropout(Dropout):
    fn = FX.alpha_dropout


class FeatureAlphaDropout(Dropout):
    fn = FX.feature_alpha_dropout
