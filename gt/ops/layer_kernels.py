"""The worker's kernels for gt.nn's recurrent and attention layers.

Each forward runs torch's own function for the whole layer (``_VF.lstm`` and
its kin, which end in oneDNN on CPU and cuDNN on CUDA; torch's fused
scaled-dot-product attention), so a sequence is one instruction and its values
are torch's.  An instruction has one result: a recurrence returns its results
(output, h_n[, c_n]) flattened into one vector, which the client splits.

The gradient is one instruction too: it runs the forward again under torch's
autograd and returns the gradients of the inputs that need one, flattened and
concatenated (the client splits them).  Eagerly that is ``torch.autograd.grad``
(torch's own backward kernels, bit for bit); inside a compiled graph, whose
tracing forbids ``requires_grad_``, it is ``torch.func.vjp`` of the same
function, which traces to the unrolled step Inductor fuses.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import _VF
from torch._decomp import decompositions

_SEQUENCES = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}
# torch's decompositions of a packed recurrence, run with the batch sizes as Python ints where the step is
# traced into a compiled graph (the native kernel reads them from host memory, which a traced tensor lacks)
_PACKED_TRACED = {"LSTM": decompositions.lstm_data_impl, "GRU": decompositions.gru_impl_data,
                  "RNN_TANH": decompositions.rnn_tanh_data, "RNN_RELU": decompositions.rnn_relu_data}
_CELLS = {"LSTM": _VF.lstm_cell, "GRU": _VF.gru_cell, "RNN_TANH": _VF.rnn_tanh_cell, "RNN_RELU": _VF.rnn_relu_cell}


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _torch_backward(fn: Callable, tensors: tuple, needs: tuple, g: torch.Tensor) -> torch.Tensor:
    """The gradients of ``fn(tensors)``'s results (their incoming gradients flattened into ``g``) w.r.t. the
    tensors marked in ``needs``, by torch's autograd, flattened and concatenated."""
    with torch.enable_grad():  # the worker runs under no_grad; oneDNN's backward needs the forward's workspace
        if torch._C._functorch.is_functorch_wrapped_tensor(g):  # traced into a compiled graph
            def of_needed(*needed):
                it = iter(needed)
                return fn([next(it) if n else t for t, n in zip(tensors, needs)])
            outs, vjp = torch.func.vjp(of_needed, *(t for t, n in zip(tensors, needs) if n))
            return _flat(vjp(_split_like(g, outs)))
        leaves = [t.detach().requires_grad_(n) for t, n in zip(tensors, needs)]
        outs = fn(leaves)
        # The gradient of sum(out * g) is exactly g's vector-Jacobian product; torch.autograd.grad
        # given g itself would import sympy (its grad_outputs check): most of a cold first step.
        seed = sum((out * part).sum() for out, part in zip(outs, _split_like(g, outs)))
        return _flat(torch.autograd.grad(seed, [t for t in leaves if t.requires_grad]))


def _split_like(g: torch.Tensor, outs: tuple) -> tuple:
    return tuple(part.view(o.shape) for part, o in zip(g.reshape(-1).split([o.numel() for o in outs]), outs))


# -- recurrences ---------------------------------------------------------------------------------
def _recur(tensors, mode: str, n_states: int, layout, train: bool) -> tuple:
    """torch's function for a recurrence over ``tensors`` = (input, *states, *weights): its results as a tuple.

    ``layout`` is None for a cell, else (has_biases, num_layers, bidirectional, batch_first, batch_sizes)
    (batch_sizes: a packed sequence's, or None).  Dropout between layers is the client's (torch's draws).
    """
    x, states, weights = tensors[0], tensors[1:1 + n_states], tensors[1 + n_states:]
    hx = tuple(states) if n_states == 2 else states[0]
    if layout is None:
        out = _CELLS[mode](x, hx, *weights)
        return out if isinstance(out, tuple) else (out,)
    has_biases, num_layers, bidirectional, batch_first, batch_sizes = layout
    fn = _SEQUENCES[mode]
    if batch_sizes is None:
        return fn(x, hx, weights, has_biases, num_layers, 0.0, train, bidirectional, batch_first)
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return _PACKED_TRACED[mode](x, list(batch_sizes), hx, weights, has_biases, num_layers, 0.0, train,
                                    bidirectional)
    return fn(x, torch.tensor(batch_sizes), hx, weights, has_biases, num_layers, 0.0, train, bidirectional)


def recurrence(*rest):
    """rest = (input, *states, *weights, mode, n_states, layout): the results flattened into one vector."""
    tensors, (mode, n_states, layout) = rest[:-3], rest[-3:]
    return _flat(_recur(tensors, mode, n_states, layout, False))


def recurrence_backward(g, *rest):
    """rest = (input, *states, *weights, mode, n_states, layout, needs)."""
    tensors, (mode, n_states, layout, needs) = rest[:-4], rest[-4:]
    return _torch_backward(lambda ts: _recur(ts, mode, n_states, layout, True), tensors, needs, g)


# -- attention -----------------------------------------------------------------------------------
def _attention(tensors, is_causal: bool, scale, enable_gqa: bool) -> tuple:
    q, k, v = tensors[:3]
    mask = tensors[3] if len(tensors) > 3 else None
    return (torch.nn.functional.scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale=scale,
                                                             enable_gqa=enable_gqa),)


def attention(*rest):
    """rest = (q, k, v[, attn_mask], is_causal, scale, enable_gqa): torch's fused attention, without dropout."""
    return _attention(rest[:-3], *rest[-3:])[0]


def attention_backward(g, *rest):
    """rest = (q, k, v[, attn_mask], is_causal, scale, enable_gqa, needs)."""
    tensors, (is_causal, scale, enable_gqa, needs) = rest[:-4], rest[-4:]
    return _torch_backward(lambda ts: _attention(ts, is_causal, scale, enable_gqa), tensors, needs, g)


# -- packed sequences ----------------------------------------------------------------------------
def counts_above(values: tuple) -> list:
    """For each i < max(values), how many values exceed i: a packed sequence's batch sizes from its lengths,
    and its lengths from its batch sizes."""
    return [sum(1 for v in values if v > i) for i in range(max(values))]


def _rows(batch_sizes: tuple, batch: int, steps: int, batch_first: bool, device) -> torch.Tensor:
    """Where a packed sequence's rows lie in its padded layout, (steps, batch) or (batch, steps), flattened.
    Packing and padding are copies through these indices (torch's kernels read their lengths from host
    memory, which a traced graph does not have)."""
    step_stride, batch_stride = (1, steps) if batch_first else (batch, 1)
    rows = [t * step_stride + b * batch_stride for t, n in enumerate(batch_sizes) for b in range(n)]
    return torch.tensor(rows, dtype=torch.int64, device=device)


def pack_padded(x, lengths, batch_first):
    batch, steps = x.shape[:2] if batch_first else (x.shape[1], x.shape[0])
    rows = _rows(counts_above(lengths), batch, steps, batch_first, x.device)
    return x.flatten(0, 1).index_select(0, rows)


def pack_padded_backward(g, input_size, lengths, batch_first):
    batch, steps = input_size[:2] if batch_first else (input_size[1], input_size[0])
    rows = _rows(counts_above(lengths), batch, steps, batch_first, g.device)
    return g.new_zeros((batch * steps,) + tuple(input_size[2:])).index_copy(0, rows, g).view(input_size)


def pad_packed(data, batch_sizes, batch_first, padding_value, total_length):
    batch = batch_sizes[0]
    shape = ((batch, total_length) if batch_first else (total_length, batch)) + tuple(data.shape[1:])
    rows = _rows(batch_sizes, batch, total_length, batch_first, data.device)
    out = data.new_full((batch * total_length,) + tuple(data.shape[1:]), padding_value)
    return out.index_copy(0, rows, data).view(shape)


def pad_packed_backward(g, batch_sizes, batch_first):
    batch, steps = g.shape[:2] if batch_first else (g.shape[1], g.shape[0])
    return g.flatten(0, 1).index_select(0, _rows(batch_sizes, batch, steps, batch_first, g.device))
