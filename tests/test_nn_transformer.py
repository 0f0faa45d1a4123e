"""gt's attention and Transformer layers side by side with torch's: scaled_dot_product_attention (masks,
causal, scale, dropout under the same seed, grouped heads), MultiheadAttention (batch_first, kdim/vdim,
key_padding_mask, attention weights), the encoder and decoder layers and stacks and nn.Transformer:
values, gradients of inputs and every parameter, weights under the same seed, state_dict round trips,
errors, and a Transformer training step that runs as one compiled graph once hot."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.nn.functional as GF

TOL = dict(rtol=1e-5, atol=1e-5)


def _pair(rng, shape, requires_grad=True, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    return gt.from_numpy(a.copy(), requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _built(lib, name: str, *args, **kwargs):
    """A module of ``lib`` built after seed 0, and the generator's next draw after it."""
    lib.manual_seed(0)
    module = getattr(lib.nn, name)(*args, **kwargs)
    return module, lib.rand(()).item()


def _close(a, b, **tol):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **(tol or TOL))


def _assert_grads_match(g, t) -> None:
    named = dict(t.named_parameters())
    assert [n for n, _ in g.named_parameters()] == list(named)
    for n, p in g.named_parameters():
        assert (p.grad is None) == (named[n].grad is None), n
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), named[n].grad.numpy(), err_msg=n, **TOL)


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


# -- scaled_dot_product_attention -------------------------------------------------------------------
@pytest.mark.parametrize("mask", [None, "bool", "float", "float_grad"])
@pytest.mark.parametrize("kwargs", [{}, dict(is_causal=True), dict(scale=0.3)])
def test_sdpa_values_and_gradients_are_torchs(rng, mask, kwargs):
    if mask and kwargs.get("is_causal"):
        pytest.skip("torch refuses a mask together with is_causal (checked in the errors test)")
    (gq, tq), (gk, tk), (gv, tv) = _pair(rng, (2, 3, 5, 4)), _pair(rng, (2, 3, 6, 4)), _pair(rng, (2, 3, 6, 4))
    gm = tm = None
    if mask == "bool":
        b = rng.random((5, 6)) > 0.3
        gm, tm = gt.tensor(b), torch.tensor(b)
    elif mask:
        gm, tm = _pair(rng, (1, 3, 5, 6), requires_grad=mask == "float_grad")
    go = GF.scaled_dot_product_attention(gq, gk, gv, gm, **kwargs)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, tm, **kwargs)
    _close(go, to)
    w = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    (go * gt.from_numpy(w)).sum().backward()
    (to * torch.from_numpy(w)).sum().backward()
    for a, b in ((gq, tq), (gk, tk), (gv, tv)) + (((gm, tm),) if mask == "float_grad" else ()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_sdpa_dropout_draws_torchs_mask_and_grouped_heads(rng):
    (gq, tq), (gk, tk), (gv, tv) = _pair(rng, (2, 4, 5, 3)), _pair(rng, (2, 2, 5, 3)), _pair(rng, (2, 2, 5, 3))
    gt.manual_seed(3)
    go = GF.scaled_dot_product_attention(gq, gk, gv, dropout_p=0.4, enable_gqa=True)
    torch.manual_seed(3)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, dropout_p=0.4, enable_gqa=True)
    _close(go, to)
    go.sum().backward()
    to.sum().backward()
    for a, b in ((gq, tq), (gk, tk), (gv, tv)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)
    _close(GF.scaled_dot_product_attention(gq, gk, gv, enable_gqa=True),
           torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True))


@pytest.mark.parametrize("shapes, kwargs", [
    (((2, 5, 4), (2, 6, 3), (2, 6, 4)), {}),                      # q and k head sizes differ
    (((2, 5, 4), (2, 6, 4), (2, 6, 4)), dict(attn_mask="mask", is_causal=True)),
    (((2, 5, 4), (2, 6, 4), (2, 6, 4)), dict(dropout_p=0.5, attn_mask="mask", is_causal=True)),
])
def test_sdpa_errors_are_torchs(shapes, kwargs):
    def call(lib, F):
        q, k, v = (lib.zeros(s) for s in shapes)
        kw = {n: (lib.zeros(5, 6) if a == "mask" else a) for n, a in kwargs.items()}
        return F.scaled_dot_product_attention(q, k, v, **kw)
    assert _error(lambda: call(gt, GF))[0] is _error(lambda: call(torch, torch.nn.functional))[0]


# -- MultiheadAttention -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(), dict(kdim=3, vdim=5), dict(bias=False, add_bias_kv=True),
                                    dict(add_zero_attn=True, batch_first=True)])
def test_multihead_attention_weights_state_dict_and_repr_are_torchs(kwargs):
    (g, g_next), (t, t_next) = _built(gt, "MultiheadAttention", 8, 2, **kwargs), \
        _built(torch, "MultiheadAttention", 8, 2, **kwargs)
    assert g_next == t_next
    assert list(g.state_dict()) == list(t.state_dict())
    for name, value in t.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[name].numpy(), value.numpy(), err_msg=name)


@pytest.mark.parametrize("case", ["self", "self_batch_first", "cross_kdim", "padding_mask", "bool_mask_weights",
                                  "per_head_weights", "unbatched", "causal"])
def test_multihead_attention_matches_torch(rng, case):
    kwargs = dict(kdim=3, vdim=5) if case == "cross_kdim" else {}
    batch_first = case == "self_batch_first"
    g, t = _built(gt, "MultiheadAttention", 8, 2, batch_first=batch_first, **kwargs)[0], \
        _built(torch, "MultiheadAttention", 8, 2, batch_first=batch_first, **kwargs)[0]
    L, S, N = 4, 6, 3
    gx, tx = _pair(rng, (L, 8) if case == "unbatched" else ((N, L, 8) if batch_first else (L, N, 8)))
    if case == "cross_kdim":
        (gk, tk), (gv, tv) = _pair(rng, (S, N, 3)), _pair(rng, (S, N, 5))
        g_args, t_args = (gx, gk, gv), (tx, tk, tv)
    else:
        g_args, t_args = (gx, gx, gx), (tx, tx, tx)
    g_kw, t_kw = {}, {}
    if case == "padding_mask":
        pad = np.zeros((N, L), bool)
        pad[0, -1] = pad[2, -2:] = True
        g_kw["key_padding_mask"], t_kw["key_padding_mask"] = gt.tensor(pad), torch.tensor(pad)
        g_kw["need_weights"] = t_kw["need_weights"] = False
    if case in ("bool_mask_weights", "per_head_weights"):
        m = np.triu(np.ones((L, L), bool), 1)
        g_kw["attn_mask"], t_kw["attn_mask"] = gt.tensor(m), torch.tensor(m)
        if case == "per_head_weights":
            g_kw["average_attn_weights"] = t_kw["average_attn_weights"] = False
    if case == "causal":
        g_kw.update(attn_mask=gt.nn.Transformer.generate_square_subsequent_mask(L), is_causal=True,
                    need_weights=False)
        t_kw.update(attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(L), is_causal=True,
                    need_weights=False)
    (go, gw), (to, tw) = g(*g_args, **g_kw), t(*t_args, **t_kw)
    _close(go, to)
    assert (gw is None) == (tw is None)
    if tw is not None:
        _close(gw, tw)
    ((go * go).sum() + (0 if gw is None else gw.sum())).backward()
    ((to * to).sum() + (0 if tw is None else tw.sum())).backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), **TOL)
    _assert_grads_match(g, t)


def test_multihead_attention_errors_are_torchs():
    assert _error(lambda: gt.nn.MultiheadAttention(6, 4)) == _error(lambda: torch.nn.MultiheadAttention(6, 4))
    assert _error(lambda: gt.nn.MultiheadAttention(0, 4)) == _error(lambda: torch.nn.MultiheadAttention(0, 4))
    g, t = gt.nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)
    for shapes in (((4, 3, 8), (6, 3, 8), (6, 8)), ((4, 3, 8), (6, 3, 8), (5, 3, 8)), ((4, 3, 6),) * 3):
        assert _error(lambda: g(*(gt.zeros(s) for s in shapes))) == \
            _error(lambda: t(*(torch.zeros(s) for s in shapes)))
    assert _error(lambda: g(gt.zeros(4, 3, 8), gt.zeros(4, 3, 8), gt.zeros(4, 3, 8), attn_mask=gt.zeros(3, 3))) == \
        _error(lambda: t(torch.zeros(4, 3, 8), torch.zeros(4, 3, 8), torch.zeros(4, 3, 8),
                         attn_mask=torch.zeros(3, 3)))


# -- Transformer layers ---------------------------------------------------------------------------------
ENCODER_CASES = [
    dict(),
    dict(norm_first=True, activation="gelu", batch_first=True),
    dict(activation=lambda x: x.sigmoid() * x, bias=False),
]


@pytest.mark.parametrize("kwargs", ENCODER_CASES)
def test_encoder_layer_matches_torch(rng, kwargs):
    callable_act = callable(kwargs.get("activation"))
    g, g_next = _built(gt, "TransformerEncoderLayer", 8, 2, 16, dropout=0.0, **kwargs)
    t, t_next = _built(torch, "TransformerEncoderLayer", 8, 2, 16, dropout=0.0, **kwargs)
    assert g_next == t_next and list(g.state_dict()) == list(t.state_dict())
    gx, tx = _pair(rng, (3, 4, 8))
    pad = np.zeros((4 if not kwargs.get("batch_first") else 3, 3 if not kwargs.get("batch_first") else 4), bool)
    pad[1, -1] = True
    g_kw = {} if callable_act else dict(src_key_padding_mask=gt.tensor(pad))
    t_kw = {} if callable_act else dict(src_key_padding_mask=torch.tensor(pad))
    go, to = g(gx, **g_kw), t(tx, **t_kw)
    _close(go, to)
    (go * go).sum().backward()
    (to * to).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), **TOL)
    _assert_grads_match(g, t)


def test_transformer_with_masks_matches_torch_and_round_trips_state_dicts(rng):
    kwargs = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0)
    g, g_next = _built(gt, "Transformer", **kwargs)
    t, t_next = _built(torch, "Transformer", **kwargs)
    assert g_next == t_next
    assert list(g.state_dict()) == list(t.state_dict())
    for name, value in t.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[name].numpy(), value.numpy(), err_msg=name)
    (gs, ts), (gtg, ttg) = _pair(rng, (5, 2, 8)), _pair(rng, (4, 2, 8))
    g_mask, t_mask = gt.nn.Transformer.generate_square_subsequent_mask(4), \
        torch.nn.Transformer.generate_square_subsequent_mask(4)
    _close(g_mask, t_mask)
    pad = np.zeros((2, 5), bool)
    pad[1, -2:] = True
    go = g(gs, gtg, tgt_mask=g_mask, memory_key_padding_mask=gt.tensor(pad), tgt_is_causal=True)
    to = t(ts, ttg, tgt_mask=t_mask, memory_key_padding_mask=torch.tensor(pad), tgt_is_causal=True)
    _close(go, to)
    (go * go).sum().backward()
    (to * to).sum().backward()
    for a, b in ((gs, ts), (gtg, ttg)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)
    _assert_grads_match(g, t)
    # both ways: torch loads gt's state_dict, gt loads torch's
    torch.manual_seed(5)
    t2 = torch.nn.Transformer(**kwargs)
    g.load_state_dict(t2.state_dict())
    t.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in g.state_dict().items()})
    for name, value in t2.state_dict().items():
        np.testing.assert_array_equal(t.state_dict()[name].numpy(), value.numpy(), err_msg=name)
    g.eval()
    t2.eval()
    with gt.no_grad(), torch.no_grad():
        _close(g(gs, gtg), t2(ts, ttg))


def test_encoder_dropout_draws_torchs_masks(rng):
    kwargs = dict(norm_first=True)
    layer_g, _ = _built(gt, "TransformerEncoderLayer", 8, 2, 16, dropout=0.3, **kwargs)
    layer_t, _ = _built(torch, "TransformerEncoderLayer", 8, 2, 16, dropout=0.3, **kwargs)
    g, t = gt.nn.TransformerEncoder(layer_g, 2), torch.nn.TransformerEncoder(layer_t, 2, enable_nested_tensor=False)
    gx, tx = _pair(rng, (3, 2, 8))
    gt.manual_seed(11)
    go = g(gx)
    torch.manual_seed(11)
    to = t(tx)
    _close(go, to)
    go.sum().backward()
    to.sum().backward()
    _assert_grads_match(g, t)


def test_transformer_errors_are_torchs():
    assert _error(lambda: gt.nn.TransformerEncoderLayer(8, 2, activation="tanh")) == \
        _error(lambda: torch.nn.TransformerEncoderLayer(8, 2, activation="tanh"))
    g = gt.nn.Transformer(8, 2, 1, 1, 16)
    t = torch.nn.Transformer(8, 2, 1, 1, 16)
    for src, tgt in (((5, 2, 8), (4, 3, 8)), ((5, 2, 8), (4, 2, 6))):
        assert _error(lambda: g(gt.zeros(src), gt.zeros(tgt))) == _error(lambda: t(torch.zeros(src), torch.zeros(tgt)))


# -- hot path ----------------------------------------------------------------------------------------------
def _transformer_language_model(lib):
    """A tiny causal Transformer-encoder language model."""
    emb = lib.nn.Embedding(13, 8)
    enc = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    head = lib.nn.Linear(8, 13)
    params = list(emb.parameters()) + list(enc.parameters()) + list(head.parameters())
    data = lib.tensor(np.random.default_rng(0).integers(0, 13, (2, 6)))
    mask = lib.nn.Transformer.generate_square_subsequent_mask(5)

    def loss_of_step():
        out = head(enc(emb(data[:, :-1]), src_mask=mask, is_causal=True))
        return lib.nn.functional.cross_entropy(out.reshape(-1, 13), data[:, 1:].reshape(-1))
    return params, loss_of_step


def test_transformer_step_is_one_compiled_graph_once_hot(training_compared):
    training_compared(_transformer_language_model, 10)
