"""``Dropout``: zeroes elements with probability p in training, with torch's masks under the same seed."""
from __future__ import annotations

from gt.client.nn import functional as F
from gt.client.nn.module import Module
from gt.client.tensor import Tensor


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        F.check_dropout_probability(p)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
