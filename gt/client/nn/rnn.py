"""``RNN``, ``LSTM``, ``GRU`` and their cells, as torch.nn.modules.rnn defines them.

Parameters, their names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0``),
layout, initial values and checks are torch's.  A forward is one instruction
for the whole stack (torch's ``_VF.lstm`` and kin on the worker: oneDNN on CPU,
cuDNN on CUDA) and its backward one more (``gt.ops.layer_kernels``); with
dropout in training each layer is one, and the dropout between layers is
``F.dropout``, whose masks are torch's under the same seed.
"""
from __future__ import annotations

import math
import numbers
import warnings

import torch

from gt.client.creation import zeros
from gt.client.emit import apply
from gt.client.movement import cat
from gt.client.nn import functional as F
from gt.client.nn import init
from gt.client.nn.module import Module
from gt.client.nn.packing import PackedSequence
from gt.client.nn.parameter import empty_parameter
from gt.client.tensor import Tensor
from gt.ops import OPCODE

_RECURRENCE = OPCODE["recurrence"]
_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def recurrence(mode: str, inputs: tuple, n_states: int, layout, out_shapes: tuple) -> list[Tensor]:
    """torch's recurrence ``mode`` over ``inputs`` = (input, *states, *weights) as one instruction; its
    results, of ``out_shapes``, are views of that instruction's flat result."""
    flat = apply(_RECURRENCE, inputs, (mode, n_states, layout))
    outs, start = [], 0
    for shape in out_shapes:
        n = math.prod(shape)
        outs.append(flat.narrow(0, start, n).view(shape))
        start += n
    return outs


class RNNBase(Module):
    """The stack of recurrent layers shared by RNN, LSTM and GRU (torch.nn.RNNBase)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        num_directions = 2 if bidirectional else 1
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                shapes = {"weight_ih": (gate_size, layer_input_size), "weight_hh": (gate_size, real_hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for stem, shape in shapes.items():
                    names.append(f"{stem}_l{layer}{suffix}")
                    setattr(self, names[-1], empty_parameter(shape, dtype))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op, as torch's is off cuDNN: the worker's kernel takes the weights as they are."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -- forward --------------------------------------------------------------------------------
    def _state_sizes(self) -> tuple:
        """The last dim of each state (h, and c for an LSTM)."""
        h = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (h, self.hidden_size) if self.mode == "LSTM" else (h,)

    def _check_input(self, input: Tensor, packed: bool) -> None:
        weight = getattr(self, self._flat_weights_names[0])
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        expected = 2 if packed else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def _check_states(self, states: tuple, batch: int) -> None:
        layers = self.num_layers * (2 if self.bidirectional else 1)
        messages = (("Expected hidden[0] size {}, got {}", "Expected hidden[1] size {}, got {}")
                    if self.mode == "LSTM" else ("Expected hidden size {}, got {}",))
        for state, size, msg in zip(states, self._state_sizes(), messages):
            expected = (layers, batch, size)
            if tuple(state.shape) != expected:
                raise RuntimeError(msg.format(expected, list(state.shape)))

    def _states_of(self, hx, batched: bool) -> tuple:
        """The initial states as a tuple of 3-D tensors (torch's checks of their ranks)."""
        lstm = self.mode == "LSTM"
        states = tuple(hx) if lstm else (hx,)
        dims = tuple(s.dim() for s in states)
        want = 3 if batched else 2
        if any(d != want for d in dims):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            if lstm:
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({dims[0]}-D, {dims[1]}-D) tensors")
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {dims[0]}-D tensor")
        return states if batched else tuple(s.unsqueeze(1) for s in states)

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            batch_sizes = tuple(batch_sizes.tolist())
            batch, batched, batch_dim = batch_sizes[0], True, None
        else:
            if input.dim() not in (2, 3):
                name = type(self).__name__
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D "
                                 f"{'tensor instead' if name == 'RNN' else 'instead'}")
            batched, batch_dim = input.dim() == 3, 0 if self.batch_first else 1
            data = input if batched else input.unsqueeze(batch_dim)
            batch_sizes = sorted_indices = unsorted_indices = None
            batch = data.size(batch_dim)
        layers = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            states = tuple(zeros(layers, batch, size, dtype=data.dtype) for size in self._state_sizes())
        else:
            states = self._states_of(hx, batched)
        self._check_input(data, packed)
        self._check_states(states, batch)
        if sorted_indices is not None and hx is not None:
            states = tuple(s.index_select(1, sorted_indices) for s in states)
        output, finals = self._run(data, states, batch_sizes)
        if unsorted_indices is not None:
            finals = [s.index_select(1, unsorted_indices) for s in finals]
        hidden = tuple(finals) if self.mode == "LSTM" else finals[0]
        if packed:
            return PackedSequence(output, input.batch_sizes, sorted_indices, unsorted_indices), hidden
        if not batched:
            output = output.squeeze(batch_dim)
            hidden = tuple(h.squeeze(1) for h in hidden) if self.mode == "LSTM" else hidden.squeeze(1)
        return output, hidden

    def _run(self, data: Tensor, states: tuple, batch_sizes) -> tuple:
        """(output, [h_n, c_n]): one instruction for the stack, or one per layer with dropout between."""
        directions = 2 if self.bidirectional else 1
        dropping = self.dropout > 0 and self.training and self.num_layers > 1
        spans = [(n, n + 1) for n in range(self.num_layers)] if dropping else [(0, self.num_layers)]
        weights = self._flat_weights
        per_layer = len(weights) // self.num_layers
        out_size = directions * self._state_sizes()[0]
        finals: list = [[] for _ in states]
        y = data
        for first, end in spans:
            lo, hi = first * directions, end * directions
            layer_states = tuple(s if (lo, hi) == (0, s.shape[0]) else s[lo:hi] for s in states)
            inputs = (y,) + layer_states + tuple(weights[first * per_layer:end * per_layer])
            if batch_sizes is None:
                out_shape = y.shape[:2] + (out_size,)
            else:
                out_shape = (y.shape[0], out_size)
            shapes = (out_shape,) + tuple(tuple(s.shape) for s in layer_states)
            layout = (self.bias, end - first, self.bidirectional, self.batch_first, batch_sizes)
            y, *ends = recurrence(self.mode, inputs, len(states), layout, shapes)
            for acc, s in zip(finals, ends):
                acc.append(s)
            if dropping and end < self.num_layers:
                y = F.dropout(y, self.dropout, True)
        return y, [acc[0] if len(acc) == 1 else cat(acc) for acc in finals]


class RNN(RNNBase):
    """An Elman RNN (tanh or relu), as torch.nn.RNN."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """A long short-term memory stack, as torch.nn.LSTM (``proj_size`` included)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """A gated recurrent unit stack, as torch.nn.GRU."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# -- cells ----------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One step of a recurrence: ``weight_ih``, ``weight_hh`` (and biases) as torch.nn.RNNCellBase."""

    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = empty_parameter((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = empty_parameter((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = empty_parameter((num_chunks * hidden_size,), dtype)
            self.bias_hh = empty_parameter((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, mode: str, input: Tensor, states: tuple | None) -> list[Tensor]:
        """The cell's new states (torch's ``_VF.<mode>_cell``); unbatched 1-D inputs as torch's."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        n_states = 2 if mode == "LSTM" else 1
        for i, s in enumerate(states or ()):
            if s.dim() not in (1, 2):
                what = f"hx[{i}]" if n_states == 2 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if states is None:
            states = tuple(zeros(input.size(0), self.hidden_size, dtype=input.dtype) for _ in range(n_states))
        elif not batched:
            states = tuple(s.unsqueeze(0) for s in states)
        weights = (self.weight_ih, self.weight_hh) + ((self.bias_ih, self.bias_hh) if self.bias else ())
        shape = (input.size(0), self.hidden_size)
        outs = recurrence(mode, (input,) + tuple(states) + weights, n_states, None, (shape,) * n_states)
        return outs if batched else [o.squeeze(0) for o in outs]


class RNNCell(RNNCellBase):
    """``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu), as torch.nn.RNNCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype: torch.dtype | None = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._step(mode, input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: ``(h', c')`` from ``(h, c)``, as torch.nn.LSTMCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        return tuple(self._step("LSTM", input, None if hx is None else tuple(hx)))


class GRUCell(RNNCellBase):
    """One GRU step, as torch.nn.GRUCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step("GRU", input, None if hx is None else (hx,))[0]
