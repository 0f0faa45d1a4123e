"""gt.nn's recurrent layers side by side with torch's: weights under the same seed, state_dict keys
and round trips, forward values, the gradients of inputs, initial states and every parameter,
errors, packed sequences, and a language-model step that runs as one compiled graph once hot."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
from gt.nn.utils import rnn as gt_rnn

from devices import ON_GPU, host, on_device, twin


def _twins(name: str, *args, **kwargs):
    """The gt module and torch's, built after the same seed (so with the same draws)."""
    return _built(gt, name, *args, **kwargs)[0], _built(torch, name, *args, **kwargs)[0]


def _built(lib, name: str, *args, **kwargs):
    """A module of ``lib`` built after seed 0, and the generator's next draw after it."""
    lib.manual_seed(0)
    module = getattr(lib.nn, name)(*args, **kwargs)
    return module, lib.rand(()).item()


def _assert_params_match(g, t, grads: bool = False, **tol) -> None:
    named = dict(t.named_parameters())
    assert [n for n, _ in g.named_parameters()] == list(named)
    for n, p in g.named_parameters():
        want = named[n].grad if grads else named[n].detach()
        got = p.grad if grads else p.detach()
        assert got is not None and want is not None, n
        np.testing.assert_allclose(host(got), host(want), err_msg=n, **tol)


def _leaf(rng, shape, dtype=np.float32, on_worker_device=False):
    """A gt leaf and torch's, on the CPU or ``on_worker_device``."""
    a = rng.standard_normal(shape).astype(dtype)
    t = twin(a, requires_grad=True) if on_worker_device else torch.tensor(a, requires_grad=True)
    return gt.from_numpy(a.copy(), requires_grad=True), t


def _flat(out):
    """The tensors of an RNN's result, in order: output, then h_n (and c_n)."""
    if isinstance(out, (tuple, list)):
        return [t for part in out for t in _flat(part)]
    return [out]


@pytest.mark.parametrize("name, kwargs", [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=3, bias=False)),
    ("GRU", dict(num_layers=3)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
    ("LSTMCell", {}), ("GRUCell", dict(bias=False)), ("RNNCell", {}),
])
def test_initial_weights_and_state_dict_keys_are_torchs(name, kwargs):
    (g, g_next), (t, t_next) = _built(gt, name, 4, 6, **kwargs), _built(torch, name, 4, 6, **kwargs)
    assert list(g.state_dict()) == list(t.state_dict())
    _assert_params_match(g, t, rtol=0, atol=0)
    assert g_next == t_next      # the generator advanced as torch's did
    assert repr(g) == repr(t)


CONFIGS = [
    ("LSTM", dict(num_layers=2), True),
    ("LSTM", dict(bidirectional=True, batch_first=True), True),
    ("LSTM", dict(num_layers=2, proj_size=3, bidirectional=True), True),
    ("LSTM", dict(bias=False), False),
    ("GRU", dict(num_layers=2, bidirectional=True), True),
    ("GRU", dict(batch_first=True), False),
    ("RNN", dict(num_layers=2), True),
    ("RNN", dict(nonlinearity="relu", bidirectional=True, batch_first=True), True),
]


# On CUDA GT's worker and torch both run cuDNN's recurrences, GT's with the weights as separate tensors and
# torch's module with them flattened into one buffer; cuDNN's float32 kernels may round apart for those.
DEVICE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5} if ON_GPU else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("name, kwargs, with_states", CONFIGS)
def test_forward_and_every_gradient_match_torch(rng, name, kwargs, with_states):
    """torch's reference on the worker's device."""
    g, t = _twins(name, 4, 6, **kwargs)
    on_device(t)
    seq, batch = 5, 3
    shape = (batch, seq, 4) if kwargs.get("batch_first") else (seq, batch, 4)
    gx, tx = _leaf(rng, shape, on_worker_device=True)
    states = []
    if with_states:
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        h = kwargs.get("proj_size") or 6
        states = [_leaf(rng, (layers, batch, h), on_worker_device=True)] + \
            ([_leaf(rng, (layers, batch, 6), on_worker_device=True)] if name == "LSTM" else [])
    g_hx = t_hx = None
    if states:
        g_hx = tuple(s[0] for s in states) if name == "LSTM" else states[0][0]
        t_hx = tuple(s[1] for s in states) if name == "LSTM" else states[0][1]
    g_out, t_out = _flat(g(gx, g_hx)), _flat(t(tx, t_hx))
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in t_out]
    for a, b in zip(g_out, t_out):
        np.testing.assert_allclose(host(a), host(b), **DEVICE_TOLERANCE)
    sum((o * gt.from_numpy(w)).sum() for o, w in zip(g_out, weights)).backward()
    sum((o * twin(w)).sum() for o, w in zip(t_out, weights)).backward()
    np.testing.assert_allclose(host(gx.grad), host(tx.grad), **DEVICE_TOLERANCE)
    for gs, ts in states:
        np.testing.assert_allclose(host(gs.grad), host(ts.grad), **DEVICE_TOLERANCE)
    _assert_params_match(g, t, grads=True, **DEVICE_TOLERANCE)


def test_float64_and_unbatched_input_match_torch(rng):
    g, t = _twins("GRU", 3, 4, num_layers=2, dtype=torch.float64)
    gx, tx = _leaf(rng, (6, 3), np.float64)
    gh, th = _leaf(rng, (2, 4), np.float64)
    (go, gn), (to, tn) = g(gx, gh), t(tx, th)
    assert go.dtype == torch.float64 and tuple(go.shape) == tuple(to.shape) == (6, 4)
    assert tuple(gn.shape) == (2, 4)
    (go.sum() + gn.sum()).backward()
    (to.sum() + tn.sum()).backward()
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gh.grad.numpy(), th.grad.numpy(), rtol=1e-12)


def test_dropout_between_layers_draws_torchs_masks(rng):
    g, t = _twins("LSTM", 4, 6, num_layers=3, dropout=0.5)
    gx, tx = _leaf(rng, (5, 2, 4))
    gt.manual_seed(7)            # gt draws its masks on torch's generator, as torch does
    go = g(gx)[0]
    torch.manual_seed(7)
    to = t(tx)[0]
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6)
    go.sum().backward()
    to.sum().backward()
    _assert_params_match(g, t, grads=True, rtol=1e-5, atol=1e-6)
    g.eval()
    t.eval()
    np.testing.assert_allclose(g(gx)[0].detach().numpy(), t(tx)[0].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(rng, name, batched):
    g, t = _twins(name, 4, 5)
    gx, tx = _leaf(rng, (3, 4) if batched else (4,))
    n_states = 2 if name == "LSTMCell" else 1
    states = [_leaf(rng, (3, 5) if batched else (5,)) for _ in range(n_states)]
    g_hx = tuple(s[0] for s in states) if n_states == 2 else states[0][0]
    t_hx = tuple(s[1] for s in states) if n_states == 2 else states[0][1]
    g_out, t_out = _flat(g(gx, g_hx)), _flat(t(tx, t_hx))
    for a, b in zip(g_out, t_out):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    sum((o * (i + 1)).sum() for i, o in enumerate(g_out)).backward()
    sum((o * (i + 1)).sum() for i, o in enumerate(t_out)).backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    for gs, ts in states:
        np.testing.assert_allclose(gs.grad.numpy(), ts.grad.numpy(), rtol=1e-5, atol=1e-6)
    _assert_params_match(g, t, grads=True, rtol=1e-5, atol=1e-6)
    # without a state: zeros, as torch
    np.testing.assert_allclose(_flat(g(gx))[0].detach().numpy(), _flat(t(tx))[0].detach().numpy(), rtol=1e-5)


def test_state_dict_round_trips_both_ways(rng):
    gt.manual_seed(1)
    g = gt.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    torch.manual_seed(2)
    t = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    t2 = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    t2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in g.state_dict().items()})
    _assert_params_match(g, t2, rtol=0, atol=0)
    g.load_state_dict(t.state_dict())
    _assert_params_match(g, t, rtol=0, atol=0)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(g(gt.from_numpy(x))[0].detach().numpy(), t(torch.from_numpy(x))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("call", [
    lambda nn: nn.LSTM(4, 6, dropout=1.5),
    lambda nn: nn.LSTM(4, 6, proj_size=6),
    lambda nn: nn.LSTM(4, 0),
    lambda nn: nn.GRU(4, 6, proj_size=2),
    lambda nn: nn.RNN(4, 6, nonlinearity="sigmoid"),
    lambda nn: nn.LSTM(4, 6, batch_first=1),
])
def test_constructor_errors_are_torchs(call):
    assert _error(lambda: call(gt.nn)) == _error(lambda: call(torch.nn))


@pytest.mark.parametrize("name, x_shape, h_shapes", [
    ("LSTM", (5, 2, 3), None),                        # wrong input size
    ("LSTM", (5, 2, 4), [(1, 3, 6), (1, 2, 6)]),      # wrong h size
    ("LSTM", (5, 2, 4), [(1, 2, 6), (1, 2, 5)]),      # wrong c size
    ("LSTM", (5, 2, 4), [(2, 6), (2, 6)]),            # 2-D states for batched input
    ("GRU", (2, 5, 2, 4), None),                      # 4-D input
    ("RNN", (5, 4), [(1, 2, 6)]),                     # 3-D state for unbatched input
])
def test_forward_errors_are_torchs(name, x_shape, h_shapes):
    g, t = _twins(name, 4, 6)

    def call(m, lib):
        hx = None
        if h_shapes is not None:
            states = [lib.zeros(s) for s in h_shapes]
            hx = tuple(states) if name == "LSTM" else states[0]
        return m(lib.zeros(x_shape), hx)
    assert _error(lambda: call(g, gt)) == _error(lambda: call(t, torch))


@pytest.mark.parametrize("name, x_shape, h_shape", [
    ("LSTMCell", (2, 4), (1, 2, 6)), ("GRUCell", (2, 4), (1, 2, 6)), ("RNNCell", (1, 2, 4), (2, 6)),
    ("GRUCell", (2, 3), (2, 6)),                      # wrong input size: torch's kernel's own error
])
def test_cell_errors_are_torchs(name, x_shape, h_shape):
    g, t = _twins(name, 4, 6)

    def call(m, lib):
        h = lib.zeros(h_shape)
        return m(lib.zeros(x_shape), (h, h) if name == "LSTMCell" else h)
    assert _error(lambda: call(g, gt)) == _error(lambda: call(t, torch))


def test_dtype_mismatch_is_torchs_error():
    g, t = _twins("GRU", 4, 6)
    assert _error(lambda: g(gt.zeros(3, 2, 4, dtype=torch.float64))) == \
        _error(lambda: t(torch.zeros(3, 2, 4, dtype=torch.float64)))


# -- nn.utils.rnn ---------------------------------------------------------------------------------
def test_pad_sequence_matches_torch(rng):
    arrays = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 5, 3)]
    gs = [gt.from_numpy(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    for kwargs in (dict(), dict(batch_first=True, padding_value=-1.0), dict(padding_side="left")):
        gp, tp = gt_rnn.pad_sequence(gs, **kwargs), torch.nn.utils.rnn.pad_sequence(ts, **kwargs)
        np.testing.assert_array_equal(gp.detach().numpy(), tp.detach().numpy())
    (gp * gp).sum().backward()
    (tp * tp).sum().backward()
    for a, b in zip(gs, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
    assert _error(lambda: gt_rnn.pad_sequence([])) == _error(lambda: torch.nn.utils.rnn.pad_sequence([]))


@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_sequences_through_an_lstm_match_torch(rng, batch_first):
    g, t = _twins("LSTM", 3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    lengths = [3, 5, 2]
    shape = (3, 5, 3) if batch_first else (5, 3, 3)
    gx, tx = _leaf(rng, shape)
    gp = gt_rnn.pack_padded_sequence(gx, lengths, batch_first=batch_first, enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=False)
    assert torch.equal(gp.batch_sizes, tp.batch_sizes)
    np.testing.assert_array_equal(gp.sorted_indices.numpy(), tp.sorted_indices.numpy())
    np.testing.assert_array_equal(gp.unsorted_indices.numpy(), tp.unsorted_indices.numpy())
    np.testing.assert_array_equal(gp.data.detach().numpy(), tp.data.detach().numpy())
    (g_out, (gh, gc)), (t_out, (th, tc)) = g(gp), t(tp)
    assert isinstance(g_out, gt_rnn.PackedSequence)
    g_pad, g_len = gt_rnn.pad_packed_sequence(g_out, batch_first=batch_first, total_length=6)
    t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=batch_first, total_length=6)
    np.testing.assert_array_equal(g_len.numpy(), t_len.numpy())
    for a, b in ((g_pad, t_pad), (gh, th), (gc, tc)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    ((g_pad ** 2).sum() + gh.sum() + (gc * 2).sum()).backward()
    ((t_pad ** 2).sum() + th.sum() + (tc * 2).sum()).backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    _assert_params_match(g, t, grads=True, rtol=1e-5, atol=1e-6)


def test_packing_errors_are_torchs(rng):
    x = np.zeros((4, 2, 3), np.float32)
    assert _error(lambda: gt_rnn.pack_padded_sequence(gt.from_numpy(x), [2, 3])) == \
        _error(lambda: torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), [2, 3]))
    gp = gt_rnn.pack_padded_sequence(gt.from_numpy(x), [3, 2])
    tp = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), [3, 2])
    assert _error(lambda: gt_rnn.pad_packed_sequence(gp, total_length=2)) == \
        _error(lambda: torch.nn.utils.rnn.pad_packed_sequence(tp, total_length=2))


# -- hot path --------------------------------------------------------------------------------------
def _lstm_language_model(lib):
    """A tiny word-level LSTM language model, trained with truncated BPTT (the hidden state carried)."""
    emb, lstm, head = lib.nn.Embedding(11, 4), lib.nn.LSTM(4, 6), lib.nn.Linear(6, 11)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    data = lib.tensor(np.random.default_rng(0).integers(0, 11, (4, 2)))
    hidden = None

    def loss_of_step():
        nonlocal hidden
        out, hidden = lstm(emb(data[:-1]), hidden)
        hidden = tuple(h.detach() for h in hidden)
        return lib.nn.functional.cross_entropy(head(out).reshape(-1, 11), data[1:].reshape(-1))
    return params, loss_of_step


def test_lstm_language_model_step_is_one_compiled_graph_once_hot(training_compared):
    ops_per_step = training_compared(_lstm_language_model, 10)
    assert ops_per_step < 120         # a step is a few dozen instructions, not one per time step
