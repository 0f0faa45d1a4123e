"""gt.nn.functional and the layers built on it: values and gradients against torch in the same test."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.nn.functional as F

from devices import DEVICE, on_device, twin

TF = torch.nn.functional
FLOATS = [np.float32, np.float64]


def _run(g_fn, t_fn, arrays, grads, rng, assert_matches, **tol):
    """Apply both functions to the same arrays; compare results, then gradients of a weighted sum."""
    g_in = [gt.from_numpy(a.copy(), requires_grad=i in grads) for i, a in enumerate(arrays)]
    t_in = [twin(a, i in grads) for i, a in enumerate(arrays)]
    if isinstance(t_fn, torch.nn.Module):
        on_device(t_fn)
    g_out, t_out = g_fn(*g_in), t_fn(*t_in)
    assert_matches(g_out, t_out, **tol)
    if grads:
        w = rng.standard_normal(tuple(t_out.shape)).astype(arrays[grads[0]].dtype)
        (g_out * gt.from_numpy(w)).sum().backward()
        (t_out * twin(w)).sum().backward()
        for i in grads:
            assert_matches(g_in[i].grad, t_in[i].grad, **tol)
    return g_out, t_out


def _normal(rng, shape, dtype=np.float32, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# -- activations ----------------------------------------------------------------------------------------
ACTIVATIONS = [
    ("relu", {}), ("sigmoid", {}), ("tanh", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("leaky_relu", {"negative_slope": 0.2}), ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 1.0}),
    ("softmax", {"dim": -1}), ("log_softmax", {"dim": 0}), ("elu", {"alpha": 0.5}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("relu6", {}), ("mish", {}), ("logsigmoid", {}),
]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS, ids=[f"{n}-{k}" for n, k in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
def test_activations_and_their_gradients_equal_torch(name, kwargs, shape, dtype, rng, assert_matches):
    x = _normal(rng, shape, dtype, scale=3.0)
    x.flat[0] = 0.0  # the kink of relu / leaky_relu
    _run(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(TF, name)(a, **kwargs), [x], [0], rng,
         assert_matches)


@pytest.mark.parametrize("name, args", [("ReLU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("LeakyReLU", (0.3,)),
                                        ("Softplus", (0.5, 4.0)), ("Softmax", (1,)), ("LogSoftmax", (-1,)),
                                        ("Sigmoid", ()), ("Tanh", ()), ("Identity", ()), ("Flatten", (0, 1)),
                                        ("ELU", (0.5,)), ("Hardtanh", (-2.0, 2.0)), ("ReLU6", ()), ("Mish", ()),
                                        ("LogSigmoid", ())])
def test_activation_modules_equal_torch(name, args, rng, assert_matches):
    x = _normal(rng, (3, 4, 2))
    _run(getattr(gt.nn, name)(*args), getattr(torch.nn, name)(*args), [x], [0], rng, assert_matches)


@pytest.mark.parametrize("name", ["relu", "silu", "leaky_relu", "elu", "hardtanh", "relu6", "mish"])
def test_inplace_activations_rebind_their_input(name, rng, assert_matches):
    x = _normal(rng, (4, 3))
    g_leaf, t_leaf = gt.from_numpy(x, requires_grad=True), twin(x, True)
    g_mid, t_mid = g_leaf * 2, t_leaf * 2
    g_out, t_out = getattr(F, name)(g_mid, inplace=True), getattr(TF, name)(t_mid, inplace=True)
    assert g_out is g_mid and t_out is t_mid
    assert_matches(g_mid, t_mid)
    g_out.sum().backward()
    t_out.sum().backward()
    assert_matches(g_leaf.grad, t_leaf.grad)


def test_softmax_without_dim_warns_and_picks_torchs_dim(rng, assert_matches):
    x = _normal(rng, (2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        g = F.softmax(gt.from_numpy(x))
    with pytest.warns(UserWarning):
        t = TF.softmax(twin(x))
    assert_matches(g, t)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        TF.gelu(torch.ones(2), approximate="fast")
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(gt.ones(2), approximate="fast")


# -- elementwise losses ------------------------------------------------------------------------------------
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("name, kwargs", [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}),
                                          ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 0.0}),
                                          ("huber_loss", {"delta": 0.5})])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_regression_losses_equal_torch(name, kwargs, reduction, dtype, rng, assert_matches):
    x, y = _normal(rng, (4, 3), dtype), _normal(rng, (4, 3), dtype)
    y[0, 0] = x[0, 0]  # a zero difference: the kink of l1
    _run(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kwargs),
         lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **kwargs), [x, y], [0, 1], rng, assert_matches)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"])
def test_regression_loss_modules_broadcast_with_torchs_warning(name, rng, assert_matches):
    x, y = _normal(rng, (4, 3)), _normal(rng, (1, 3))
    with pytest.warns(UserWarning, match="target size"):
        _run(getattr(gt.nn, name)(), getattr(torch.nn, name)(), [x, y], [0, 1], rng, assert_matches)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_equals_torch(reduction, weighted, rng, assert_matches):
    p = rng.uniform(0.05, 0.95, (5, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (5, 3)).astype(np.float32)
    arrays = [p, y] + ([rng.uniform(0.5, 2, (3,)).astype(np.float32)] if weighted else [])
    _run(lambda a, b, *w: F.binary_cross_entropy(a, b, *w, reduction=reduction),
         lambda a, b, *w: TF.binary_cross_entropy(a, b, *w, reduction=reduction), arrays, [0, 1], rng,
         assert_matches)
    module_args = [gt.from_numpy(arrays[2])] if weighted else []
    t_module_args = [twin(arrays[2])] if weighted else []
    assert_matches(gt.nn.BCELoss(*module_args, reduction=reduction)(gt.from_numpy(p), gt.from_numpy(y)),
                   torch.nn.BCELoss(*t_module_args, reduction=reduction)(twin(p), twin(y)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight, pos_weight", [(False, False), (True, False), (False, True), (True, True)])
def test_binary_cross_entropy_with_logits_equals_torch(reduction, weight, pos_weight, rng, assert_matches):
    x, y = _normal(rng, (4, 3), scale=3.0), rng.uniform(0, 1, (4, 3)).astype(np.float32)
    w, pw = rng.uniform(0.5, 2, (3,)).astype(np.float32), rng.uniform(0.5, 3, (3,)).astype(np.float32)

    def call(f, tensor):
        def fn(a, b):
            return f(a, b, weight=tensor(w) if weight else None, pos_weight=tensor(pw) if pos_weight else None,
                     reduction=reduction)
        return fn

    _run(call(F.binary_cross_entropy_with_logits, gt.from_numpy),
         call(TF.binary_cross_entropy_with_logits, twin), [x, y], [0, 1], rng, assert_matches)


# -- classification losses -----------------------------------------------------------------------------------
def _targets(rng, shape, n_classes, ignore_index=None):
    t = rng.integers(0, n_classes, shape).astype(np.int64)
    if ignore_index is not None:
        t.flat[::3] = ignore_index
    return t


NLL_SHAPES = [((5,), ()), ((4, 5), (4,)), ((2, 5, 3), (2, 3)), ((2, 5, 2, 3), (2, 2, 3)),
              ((2, 5, 1, 2, 2), (2, 1, 2, 2))]


@pytest.mark.parametrize("shape, target_shape", NLL_SHAPES, ids=[str(s) for s, _ in NLL_SHAPES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted, ignore_index", [(False, -100), (True, -100), (False, 1), (True, 2)])
def test_nll_loss_equals_torch(shape, target_shape, reduction, weighted, ignore_index, rng, assert_matches):
    x = _normal(rng, shape)
    target = _targets(rng, target_shape, 5, ignore_index if ignore_index >= 0 else None)
    weight = rng.uniform(0.5, 2, (5,)).astype(np.float32)

    def call(f, tensor):
        return lambda a: f(a, tensor(target), weight=tensor(weight) if weighted else None,
                           ignore_index=ignore_index, reduction=reduction)

    _run(call(F.nll_loss, gt.from_numpy), call(TF.nll_loss, twin), [x], [0], rng, assert_matches)


@pytest.mark.parametrize("shape, target_shape", NLL_SHAPES[1:3], ids=[str(s) for s, _ in NLL_SHAPES[1:3]])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_cross_entropy_with_class_targets_equals_torch(shape, target_shape, reduction, weighted, label_smoothing,
                                                       ignore_index, rng, assert_matches):
    x = _normal(rng, shape, scale=2.0)
    target = _targets(rng, target_shape, 5, ignore_index if ignore_index >= 0 else None)
    weight = rng.uniform(0.5, 2, (5,)).astype(np.float32)
    kwargs = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": label_smoothing}
    _run(lambda a: F.cross_entropy(a, gt.from_numpy(target), gt.from_numpy(weight) if weighted else None, **kwargs),
         lambda a: TF.cross_entropy(a, twin(target), twin(weight) if weighted else None,
                                    **kwargs), [x], [0], rng, assert_matches, rtol=2e-5, atol=2e-6)
    g_mod = gt.nn.CrossEntropyLoss(gt.from_numpy(weight) if weighted else None, **kwargs)
    t_mod = torch.nn.CrossEntropyLoss(twin(weight) if weighted else None, **kwargs)
    assert_matches(g_mod(gt.from_numpy(x), gt.from_numpy(target)),
                   t_mod(twin(x), twin(target)), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("shape", [(4, 5), (2, 5, 3), (5,)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_with_probability_targets_equals_torch(shape, reduction, weighted, label_smoothing, rng,
                                                             assert_matches):
    x = _normal(rng, shape)
    probs = TF.softmax(twin(_normal(rng, shape)), dim=0 if len(shape) == 1 else 1).cpu().numpy()
    weight = rng.uniform(0.5, 2, (5,)).astype(np.float32)
    kwargs = {"reduction": reduction, "label_smoothing": label_smoothing}
    _run(lambda a, p: F.cross_entropy(a, p, gt.from_numpy(weight) if weighted else None, **kwargs),
         lambda a, p: TF.cross_entropy(a, p, twin(weight) if weighted else None, **kwargs),
         [x, probs], [0, 1], rng, assert_matches)


def test_nll_loss_module_and_cross_entropy_on_log_softmax_agree(rng, assert_matches):
    x, target = _normal(rng, (6, 4)), _targets(rng, (6,), 4)
    g = gt.nn.NLLLoss()(gt.nn.LogSoftmax(dim=1)(gt.from_numpy(x)), gt.from_numpy(target))
    t = torch.nn.NLLLoss()(torch.nn.LogSoftmax(dim=1)(twin(x)), twin(target))
    assert_matches(g, t)
    assert_matches(F.cross_entropy(gt.from_numpy(x), gt.from_numpy(target)), t)


# -- layers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, normalized", [((4, 6), (6,)), ((2, 3, 4), (3, 4)), ((5,), (5,))])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
def test_layer_norm_equals_torch(shape, normalized, affine, dtype, rng, assert_matches):
    arrays = [_normal(rng, shape, dtype, 2.0) + 1]
    if affine != "none":
        arrays.append(_normal(rng, normalized, dtype))
    if affine == "both":
        arrays.append(_normal(rng, normalized, dtype))
    _run(lambda x, *wb: F.layer_norm(x, normalized, *wb, eps=1e-4),
         lambda x, *wb: TF.layer_norm(x, normalized, *wb, eps=1e-4), arrays, list(range(len(arrays))), rng,
         assert_matches)


def test_layer_norm_module_and_shape_error(rng, assert_matches):
    torch.manual_seed(0)
    t = torch.nn.LayerNorm(4)
    g = gt.nn.LayerNorm(4)
    _run(g, t, [_normal(rng, (3, 4))], [0], rng, assert_matches)
    assert_matches(g.weight.grad, t.weight.grad)
    assert_matches(g.bias.grad, t.bias.grad)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        t(torch.ones(3, 5, device=DEVICE))
    with pytest.raises(RuntimeError, match="normalized_shape"):
        g(gt.ones(3, 5))


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"momentum": 0.3}, {"momentum": None},
                                    {"track_running_stats": False}])
@pytest.mark.parametrize("name, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                         ("BatchNorm2d", (2, 3, 4, 3))])
def test_batch_norm_trains_and_evaluates_as_torch(kwargs, name, shape, rng, assert_matches):
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(3, **kwargs)
    g = getattr(gt.nn, name)(3, **kwargs)
    for _ in range(3):
        _run(g, t, [_normal(rng, shape, scale=2.0) + 1], [0], rng, assert_matches)
        if kwargs.get("affine", True):
            assert_matches(g.weight.grad, t.weight.grad)
            assert_matches(g.bias.grad, t.bias.grad)
    t_state = t.state_dict()
    for key, value in g.state_dict().items():
        assert_matches(value, t_state[key])
    g.eval()
    t.eval()
    _run(g, t, [_normal(rng, shape)], [0], rng, assert_matches)
    with pytest.raises(ValueError, match="expected 2D or 3D input" if name == "BatchNorm1d" else "expected 4D input"):
        g(gt.ones(2, 3, 4, 5, 1))
    with pytest.raises(ValueError, match="expected 2D or 3D input" if name == "BatchNorm1d" else "expected 4D input"):
        t(torch.ones(2, 3, 4, 5, 1))
    g.train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        g(gt.ones((1, 3) + (1,) * (len(shape) - 2)))


@pytest.mark.parametrize("padding_idx", [None, 1, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_embedding_equals_torch(padding_idx, scale_grad_by_freq, index_dtype, rng, assert_matches):
    torch.manual_seed(5)
    t = on_device(torch.nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq))
    gt.manual_seed(5)
    g = gt.nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    idx = np.array([[0, 1, 1], [5, 1, 2]], dtype=index_dtype)
    g_out, t_out = g(gt.from_numpy(idx)), t(twin(idx))
    assert_matches(g_out, t_out, rtol=0, atol=0)
    w = _normal(rng, (2, 3, 3))
    (g_out * gt.from_numpy(w)).sum().backward()
    (t_out * twin(w)).sum().backward()
    assert_matches(g.weight.grad, t.weight.grad)


def test_embedding_errors_are_torchs():
    g, t = gt.nn.Embedding(4, 2), torch.nn.Embedding(4, 2)
    with pytest.raises(RuntimeError, match="indices"):
        t(torch.ones(2))
    with pytest.raises(RuntimeError, match="indices"):
        g(gt.ones(2))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        gt.nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(NotImplementedError, match="max_norm"):
        gt.nn.Embedding(4, 2, max_norm=1.0)(gt.tensor([1]))


def test_linear_matches_torch_through_functional(rng, assert_matches):
    x, w, b = _normal(rng, (3, 4)), _normal(rng, (2, 4)), _normal(rng, (2,))
    _run(F.linear, TF.linear, [x, w, b], [0, 1, 2], rng, assert_matches)
    _run(F.linear, TF.linear, [x, w], [0, 1], rng, assert_matches)


CONVS = [
    ((2, 3, 7), (4, 3, 3), {}), ((2, 3, 9), (6, 1, 2), {"stride": 2, "padding": 1, "groups": 3}),
    ((3, 8), (2, 3, 3), {"padding": "same", "dilation": 2}),
    ((2, 3, 6, 5), (4, 3, 3, 3), {}), ((1, 4, 7, 7), (6, 2, 3, 2), {"stride": (2, 1), "padding": (1, 0), "groups": 2}),
    ((2, 2, 5, 6), (3, 2, 3, 3), {"padding": "valid", "dilation": (1, 2)}),
    ((3, 6, 6), (2, 3, 3, 3), {"padding": "same"}),
]


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONVS, ids=[str(c[2]) for c in CONVS])
@pytest.mark.parametrize("bias", [False, True])
def test_convolutions_equal_torch(x_shape, w_shape, kwargs, bias, rng, assert_matches):
    n = len(w_shape) - 2
    arrays = [_normal(rng, x_shape), _normal(rng, w_shape)] + ([_normal(rng, w_shape[:1])] if bias else [])
    name = f"conv{n}d"
    _run(lambda *a: getattr(F, name)(*a, **kwargs), lambda *a: getattr(TF, name)(*a, **kwargs), arrays,
         list(range(len(arrays))), rng, assert_matches, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": (2, 3), "stride": 1, "dilation": 2},
                                    {"kernel_size": 3, "stride": 2, "ceil_mode": True}])
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 5)])
def test_max_pool2d_equals_torch(kwargs, shape, rng, assert_matches):
    x = _normal(rng, shape)
    x.flat[1] = x.flat[0]  # a tie inside a window
    _run(lambda a: F.max_pool2d(a, **kwargs), lambda a: TF.max_pool2d(a, **kwargs), [x], [0], rng, assert_matches)
    _run(gt.nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), [x], [0], rng, assert_matches)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 3, "padding": 1, "count_include_pad": False, "ceil_mode": True},
                                    {"kernel_size": (2, 3), "divisor_override": 5}])
def test_avg_pool2d_equals_torch(kwargs, rng, assert_matches):
    x = _normal(rng, (2, 3, 7, 6))
    _run(lambda a: F.avg_pool2d(a, **kwargs), lambda a: TF.avg_pool2d(a, **kwargs), [x], [0], rng, assert_matches)
    _run(gt.nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), [x], [0], rng, assert_matches)


@pytest.mark.parametrize("output_size", [1, (1, 1), (3, 2), (None, 4), 5])
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 5)])
def test_adaptive_avg_pool2d_equals_torch(output_size, shape, rng, assert_matches):
    x = _normal(rng, shape)
    _run(lambda a: F.adaptive_avg_pool2d(a, output_size), lambda a: TF.adaptive_avg_pool2d(a, output_size), [x],
         [0], rng, assert_matches)
    _run(gt.nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), [x], [0], rng,
         assert_matches)


def test_convolution_errors_are_torchs():
    for nn, F_, T in ((torch.nn, TF, torch.ones), (gt.nn, F, gt.ones)):
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            nn.Conv2d(3, 4, 3, groups=2)
        with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
            F_.conv2d(T(1, 2, 5, 5), T(3, 2, 3, 3), stride=2, padding="same")
        with pytest.raises(RuntimeError, match=r"expected input\[1, 2, 5, 5\] to have 4 channels"):
            F_.conv2d(T(1, 2, 5, 5), T(3, 4, 3, 3))
        with pytest.raises(RuntimeError, match="expected weight to be divisible by 2 at dimension 0"):
            F_.conv2d(T(1, 4, 5, 5), T(3, 2, 3, 3), groups=2)
        with pytest.raises(ValueError, match="padding_mode must be one of"):
            nn.Conv2d(1, 1, 3, padding_mode="bogus")


@pytest.mark.parametrize("pad, mode", [((1, 2), "constant"), ((1, 1, 2, 0), "constant"), ((2, 1), "reflect"),
                                       ((1, 2), "replicate"), ((-1, 1), "constant")])
def test_pad_equals_torch(pad, mode, rng, assert_matches):
    x = _normal(rng, (2, 3, 4))
    _run(lambda a: F.pad(a, pad, mode), lambda a: TF.pad(a, pad, mode), [x], [0], rng, assert_matches)
    if mode == "constant":
        _run(lambda a: F.pad(a, pad, value=2.5), lambda a: TF.pad(a, pad, value=2.5), [x], [0], rng, assert_matches)


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize_equals_torch(p, dim, rng, assert_matches):
    x = _normal(rng, (3, 4))
    x[1] = 0.0  # a zero row: the eps clamp
    _run(lambda a: F.normalize(a, p, dim), lambda a: TF.normalize(a, p, dim), [x], [0], rng, assert_matches)


def test_one_hot_equals_torch(assert_matches):
    idx = np.array([[0, 3], [2, 1]], dtype=np.int64)
    assert_matches(F.one_hot(gt.from_numpy(idx)), TF.one_hot(twin(idx)))
    assert_matches(F.one_hot(gt.from_numpy(idx), 6), TF.one_hot(twin(idx), 6))
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(gt.ones(2))
    for bad, message in (([-1, 0], "non-negative"), ([0, 3], "smaller than num_classes")):
        with pytest.raises(RuntimeError, match=message):
            TF.one_hot(torch.tensor(bad), 3)
        with pytest.raises(RuntimeError, match=message):
            F.one_hot(gt.tensor(bad), 3).numpy()


# -- dropout ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape, dtype", [((64,), np.float32), ((8, 16), np.float32), ((4, 5, 6), np.float64)])
def test_dropout_masks_and_gradients_equal_torchs_under_the_same_seed(p, shape, dtype, rng, assert_matches):
    x = _normal(rng, shape, dtype)
    gt.manual_seed(11)
    g_in = gt.from_numpy(x, requires_grad=True)
    g_out = F.dropout(g_in, p)
    torch.manual_seed(11)
    t_in = torch.tensor(x, requires_grad=True)
    t_out = TF.dropout(t_in, p)
    assert_matches(g_out, t_out, rtol=0, atol=0)
    g_out.sum().backward()
    t_out.sum().backward()
    assert_matches(g_in.grad, t_in.grad, rtol=0, atol=0)


def test_dropout_module_follows_train_and_eval(rng, assert_matches):
    x = _normal(rng, (5, 6))
    torch.manual_seed(3)
    t = torch.nn.Dropout(0.3)
    t_train = t(torch.from_numpy(x))
    gt.manual_seed(3)
    g = gt.nn.Dropout(0.3)
    assert_matches(g(gt.from_numpy(x)), t_train, rtol=0, atol=0)
    g.eval()
    g_in = gt.from_numpy(x)
    assert g(g_in) is g_in
    assert F.dropout(g_in, 0.0) is g_in and F.dropout(g_in, 0.5, training=False) is g_in
    assert float(F.dropout(g_in, 1.0).abs().sum()) == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            gt.nn.Dropout(bad)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            F.dropout(g_in, bad)


# -- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda F, T: F.mse_loss(T(np.ones(3, np.float32)), T(np.ones(3, np.float32)), reduction="avg"),
    lambda F, T: F.cross_entropy(T(np.ones((2, 3), np.float32)), T(np.ones(2, np.float32))),
    lambda F, T: F.nll_loss(T(np.ones((2, 3), np.float32)), T(np.zeros(3, np.int64))),
    lambda F, T: F.nll_loss(T(np.ones((2, 3), np.float32)), T(np.zeros(2, np.float32))),
    lambda F, T: F.binary_cross_entropy(T(np.full(3, 0.5, np.float32)), T(np.ones(2, np.float32))),
    lambda F, T: F.binary_cross_entropy_with_logits(T(np.ones(3, np.float32)), T(np.ones((3, 1), np.float32))),
    lambda F, T: F.cross_entropy(T(np.ones((2, 3), np.float32)), T(np.zeros(2, np.int64)), label_smoothing=1.5),
    lambda F, T: F.mse_loss(T(np.ones(3, np.float32)), T(np.ones(4, np.float32))),
], ids=["bad-reduction", "probability-target-shape", "batch-size", "float-class-target", "bce-size",
        "bce-logits-size", "label-smoothing-range", "not-broadcastable"])
@pytest.mark.filterwarnings("ignore:Using a target size")
def test_bad_calls_raise_torchs_exception_types(call):
    with pytest.raises(Exception) as t_err:  # noqa: PT011 - the type is compared below
        call(TF, torch.from_numpy)
    with pytest.raises(type(t_err.value)):
        call(F, gt.from_numpy)
