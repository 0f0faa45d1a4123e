"""Shape-agnostic signatures: a batch seen again with other sizes compiles once, with symbolic sizes.

Numbers equal eager at every size; the compile counts are bounded; a size that breaks
what a graph assumes (its guards) gets another graph, never wrong numbers.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
from gt.ops import OPCODE
from gt.worker import engine as engine_mod
from gt.worker import policy as policy_mod


@pytest.fixture(autouse=True)
def no_revert(monkeypatch):
    """Counting tests must not depend on this machine's timings: no pattern is judged."""
    monkeypatch.setattr(policy_mod, "REVERT_SAMPLES", 0)


def test_batch_sizes_that_vary_compile_one_symbolic_graph_and_equal_eager(use_worker, rng):
    w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
    weight = rng.standard_normal((3, 4)).astype(np.float32)
    gw, tw = gt.from_numpy(weight), torch.from_numpy(weight)
    sizes = [8, 8, 13, 21, 8, 34, 5, 55, 13, 1, 1, 2]
    for k, n in enumerate(sizes):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        with gt.no_grad():
            got = ((gt.from_numpy(x) @ gw.T).tanh() * 2.0 + 1.0).numpy()
        want = ((torch.from_numpy(x) @ tw.T).tanh() * 2.0 + 1.0).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"size {n}")
        if k == 8:
            comp = w.get_stats()["compilation"]
            # Sizes 8, 8: one pattern; 13 makes dim 0 symbolic (a new pattern), hot at its
            # third sight (size 8): compiled once, and the later sizes run that graph.
            assert (comp["cache_misses"], comp["cache_hits"]) == (1, 4)
    stats = w.get_stats()
    # Size 1 breaks the graph's guard (a size of at least 2): a second graph, for size 1;
    # size 2 runs the first again.
    assert (stats["compilation"]["cache_misses"], stats["compilation"]["cache_hits"]) == (2, 6)
    assert stats["hotpath"]["symbolic_patterns"] == 1
    assert stats["compilation"]["compile_failures"] == 0


def test_sizes_beyond_the_bound_of_graphs_run_eagerly(use_worker, monkeypatch, rng):
    """Each size breaks every earlier graph's guards (the stand-in's): at most
    MAX_SYMBOLIC_GRAPHS graphs, then eager, with the same numbers."""
    graphs = []

    def one_size_graph(gm, inputs, dynamic):
        size = inputs[0].shape[0]
        graphs.append(size)

        class OneSize:
            def evaluate_guards_expression(self, code, args):
                return args[0].shape[0] == size
        return "one size", OneSize(), lambda args: gm(*args)

    monkeypatch.setattr(engine_mod, "_compile_symbolic", one_size_graph)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=1)
    for n in [2, 3, 4, 5, 6, 7, 8, 9, 3]:
        x = rng.standard_normal(n).astype(np.float32)
        with gt.no_grad():
            got = (gt.from_numpy(x) * 2.0 + 1.0).exp().numpy()
        np.testing.assert_allclose(got, np.exp(x * 2 + 1), rtol=1e-6)
    assert graphs == [4, 5, 6, 7][:engine_mod.MAX_SYMBOLIC_GRAPHS]
    stats = w.get_stats()
    assert stats["compilation"]["cache_hits"] == 0
    assert stats["operations"]["compiled"] == 3 * len(graphs)


def _train(sizes, rng_seed=0):
    gt.manual_seed(0)
    rng = np.random.default_rng(rng_seed)
    model = gt.nn.Sequential(gt.nn.Linear(4, 8), gt.nn.Tanh(), gt.nn.Linear(8, 1))
    opt = gt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for n in sizes:
        X = gt.from_numpy(rng.standard_normal((n, 4)).astype(np.float32))
        Y = gt.from_numpy(rng.standard_normal((n, 1)).astype(np.float32))
        opt.zero_grad()
        loss = gt.nn.MSELoss()(model(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy() for p in model.parameters()]


@pytest.fixture
def symbolic(monkeypatch):
    """Graphs run uncompiled (the fx graph itself); the list of each symbolic compile's dims."""
    compiles = []

    def stand_in(gm, inputs, dynamic):
        compiles.append(dynamic)
        return None, None, lambda args: gm(*args)

    monkeypatch.setattr(engine_mod, "_compile_symbolic", stand_in)
    monkeypatch.setattr(engine_mod, "_compile_graph", lambda gm, inputs: lambda args: gm(*args))
    return compiles


def test_a_last_partial_batch_every_epoch_keeps_one_graph_per_step(use_worker, symbolic):
    sizes = [16, 16, 16, 5] * 8                 # epochs of 53 samples in batches of 16
    use_worker(batch_size=1)
    ref_losses, ref_params = _train(sizes)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=3)
    losses, params = _train(sizes)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6)
    stats = w.get_stats()
    assert len(symbolic) == 1 and stats["hotpath"]["cycle_period"] == 3   # one graph: the whole step
    assert stats["compilation"]["cache_misses"] == 1
    assert frozenset({0}) in symbolic[0]        # the batch dim of X and Y
    last = sizes[-12:]
    assert stats["hotpath"]["hot_batches_executed"] >= len(last)   # the last three epochs ran compiled


def test_a_symbolic_graphs_guards_refuse_other_strides_and_static_sizes():
    """The pattern of an input with a symbolic dim keeps only its stride order: the guards must
    check the rest (a slice of a wider tensor has the order but not the strides)."""
    gm = torch.fx.symbolic_trace(lambda x, w: ((x @ w).tanh(),))
    x, w = torch.randn(10, 4), torch.randn(4, 3)
    code, shape_env, fn = engine_mod._compile_symbolic(gm, [x, w], (frozenset({0}), frozenset()))
    other = torch.randn(7, 4)
    assert shape_env.evaluate_guards_expression(code, [other, w])
    torch.testing.assert_close(fn([other, w])[0], (other @ w).tanh())
    assert not shape_env.evaluate_guards_expression(code, [torch.randn(7, 8)[:, :4], w])   # strides (8, 1)
    assert not shape_env.evaluate_guards_expression(code, [other, w.t().contiguous().t()])  # w transposed
    assert not shape_env.evaluate_guards_expression(code, [torch.randn(7, 5), torch.randn(5, 3)])  # static dim


def test_a_linear_over_a_sequence_keeps_its_length_symbolic():
    """torch's linear of a (batch, length, features) input, traced functionalised, reads the
    length as an int (a guard that it equals the traced one: a graph per length); the engine's
    graph form keeps it symbolic, with linear's numbers."""
    graph = torch.fx.Graph()   # as the engine builds graphs: a call of each op's kernel
    args = [graph.placeholder(name) for name in "xwb"]
    out = graph.call_function(engine_mod.Engine("cpu").graph_funcs[OPCODE["linear"]], tuple(args))
    graph.output((graph.call_function(torch.relu, (out,)),))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    x, w, b = torch.randn(4, 9, 8), torch.randn(16, 8), torch.randn(16)
    code, shape_env, fn = engine_mod._compile_symbolic(gm, [x, w, b], (frozenset({1}), frozenset(), frozenset()))
    for length in (9, 5, 23):
        x = torch.randn(4, length, 8)
        assert code is None or shape_env.evaluate_guards_expression(code, [x, w, b]), length
        torch.testing.assert_close(fn([x, w, b])[0], torch.nn.functional.linear(x, w, b).relu())


def test_a_size_in_an_ops_params_is_symbolic_with_the_input_dim_it_equals(use_worker, rng):
    """``reshape(n, 2, 3)`` carries the batch size in its params: once n varies, the param
    follows the input's dim 0 inside one graph; n = 1 breaks its guards (another graph)."""
    w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
    sizes = [4, 4, 6, 9, 4, 7, 1, 5]
    for n in sizes:
        x = rng.standard_normal((n, 6)).astype(np.float32)
        with gt.no_grad():
            got = (gt.from_numpy(x) * 2.0).reshape(n, 2, 3).sum(2).numpy()
        np.testing.assert_allclose(got, (x * 2).reshape(n, 2, 3).sum(2), rtol=1e-6, atol=1e-6, err_msg=f"size {n}")
    stats = w.get_stats()
    # 4, 4: one pattern; 6 joins it with dim 0 and the reshape's first int symbolic; hot at
    # its third sight (4), compiled once, run again for 7; 1 needs a graph of its own; 5 runs the first.
    assert stats["hotpath"]["symbolic_patterns"] == 1
    assert (stats["compilation"]["cache_misses"], stats["compilation"]["cache_hits"]) == (2, 2)
    assert stats["compilation"]["compile_failures"] == 0


def test_a_param_that_is_a_multiple_of_a_size_plus_a_constant_follows_it(use_worker, rng):
    """``reshape(6 n)`` and ``reshape(6 n - 1)`` are ``c * n + o`` of the input's dim 0; the
    slice ``1:`` and the index -1 travel as written: one symbolic graph for every n."""
    w = use_worker(batch_size=1024, auto_compile=True, threshold=1)
    for n in [2, 2, 3, 3, 4, 5, 3, 6, 7]:
        x = rng.standard_normal((n, 6)).astype(np.float32)
        with gt.no_grad():
            got = ((gt.from_numpy(x) + 1.0).reshape(6 * n)[1:].reshape(6 * n - 1) * 2.0)[-1:].numpy()
        np.testing.assert_allclose(got, ((x + 1).reshape(6 * n)[1:] * 2)[-1:], rtol=1e-6, err_msg=f"size {n}")
    stats = w.get_stats()
    assert stats["hotpath"]["symbolic_patterns"] == 1
    assert stats["compilation"]["compile_failures"] == 0
    # n = 2 (its exact pattern, hot at once), then one symbolic graph for 3 and every later size
    assert stats["compilation"]["cache_misses"] == 2 and stats["compilation"]["cache_hits"] >= 4


def test_a_param_that_is_no_such_function_of_a_size_keeps_a_pattern_per_value(use_worker, rng):
    """``reshape(n * n)``: 4 -> 9 fits 5 n - 6 for n = 2 -> 3, which n = 4 (16) breaks: that
    batch is no member of the symbolic pattern (its own exact one), never computed with 14."""
    w = use_worker(batch_size=1024, auto_compile=True, threshold=1)
    for n in [2, 2, 3, 3, 4, 4, 3]:
        x = rng.standard_normal((n, n)).astype(np.float32)
        with gt.no_grad():
            got = (gt.from_numpy(x) + 1.0).reshape(n * n).numpy()
        np.testing.assert_allclose(got, (x + 1).reshape(n * n), rtol=1e-6, err_msg=f"size {n}")
    stats = w.get_stats()
    assert stats["compilation"]["compile_failures"] == 0
    assert stats["compilation"]["cache_misses"] == 3    # n = 2; 3 (symbolic, 5 n - 6); 4 exact


def test_variable_sequence_lengths_keep_one_graph_per_step(use_worker, symbolic):
    """Embedding, mean over the sequence: the backward expands to (batch, length, dim), a
    param.  The step still becomes one symbolic graph, with torch's numbers."""
    lengths = np.random.default_rng(1).integers(3, 12, size=30)

    def train(lib, tensor):
        lib.manual_seed(0)
        emb, out = lib.nn.Embedding(50, 4), lib.nn.Linear(4, 1)
        opt = lib.optim.SGD([*emb.parameters(), *out.parameters()], lr=0.1, momentum=0.9)
        data = np.random.default_rng(2)
        losses = []
        for t in lengths:
            idx = tensor(data.integers(0, 50, size=(3, t)))
            y = tensor(data.standard_normal((3, 1)).astype(np.float32))
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(out(emb(idx).mean(dim=1)), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, emb.weight.detach().numpy()

    ref_losses, ref_weight = train(torch, torch.from_numpy)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=3)
    losses, weight = train(gt, gt.from_numpy)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(weight, ref_weight, rtol=1e-5, atol=1e-6)
    stats = w.get_stats()
    assert stats["hotpath"]["cycle_period"] == 3 and len(symbolic) == 1   # one graph: the whole step
    assert stats["compilation"]["cache_misses"] == 1
    assert stats["hotpath"]["hot_batches_executed"] >= 15


@pytest.mark.parametrize("layer", ["attention", "lstm"])
def test_variable_sequence_lengths_through_attention_or_an_lstm_keep_one_graph_per_step(use_worker, symbolic, layer):
    """A causal encoder layer (attention, LayerNorm, its reshapes to batch x length x features)
    or an LSTM, read at the last position (``[:, -1]``): the whole step is one symbolic graph
    at every length, with torch's numbers."""
    lengths = np.random.default_rng(4).integers(3, 12, size=24)

    def train(lib, tensor):
        lib.manual_seed(0)
        if layer == "attention":
            body = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        else:
            body = lib.nn.LSTM(8, 8, batch_first=True)
        head = lib.nn.Linear(8, 1)
        opt = lib.optim.SGD([*body.parameters(), *head.parameters()], lr=0.05, momentum=0.9)
        data = np.random.default_rng(5)
        losses = []
        for t in lengths:
            x = tensor(data.standard_normal((3, t, 8)).astype(np.float32))
            y = tensor(data.standard_normal((3, 1)).astype(np.float32))
            opt.zero_grad()
            out = body(x, is_causal=True, src_mask=lib.nn.Transformer.generate_square_subsequent_mask(int(t))) \
                if layer == "attention" else body(x)[0]
            loss = lib.nn.functional.mse_loss(head(out[:, -1]), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    want = train(torch, torch.from_numpy)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=3)
    np.testing.assert_allclose(train(gt, gt.from_numpy), want, rtol=1e-5, atol=1e-6)
    stats = w.get_stats()
    assert stats["hotpath"]["cycle_period"] == 3 and stats["compilation"]["compile_failures"] == 0
    assert len(symbolic) == 1 and stats["compilation"]["cache_misses"] <= 3
    assert stats["hotpath"]["hot_batches_executed"] >= 12


def test_a_view_whose_strides_follow_a_length_is_one_pattern(use_worker, rng):
    """``h[:, -1]`` of a (3, t, 4) tensor, used in the next batch: its sizes stay (3, 4) but its
    strides are (4 t, 1).  The next batch's graph takes a contiguous copy of it, so every t is
    one pattern (a pattern per t before), with the right numbers at every t."""
    w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
    for t in [5, 5, 7, 9, 5, 11, 7, 12, 13, 6, 8]:
        x = rng.standard_normal((3, t, 4)).astype(np.float32)
        with gt.no_grad():
            v = (gt.from_numpy(x) * 2.0)[:, -1]
            gt.flush()
            got = ((v * 3.0) + 1.0).sum(1).numpy()
        np.testing.assert_allclose(got, ((x * 2)[:, -1] * 3 + 1).sum(1), rtol=1e-5, err_msg=f"length {t}")
    stats = w.get_stats()
    second = [p for p in stats["hotpath"]["top_patterns"] if p["ops"] == 3]
    # 5, 5: the first strides; from 7 on one pattern, hot at its third sight, compiled after
    assert max(p["count"] for p in second) == 9 and stats["compilation"]["compile_failures"] == 0
    assert stats["compilation"]["cache_hits"] >= 3
