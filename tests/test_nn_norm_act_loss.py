"""Activations, channel and alpha dropout, group/instance/local response norm, Bilinear, distances and the
further losses: gt.nn against torch.nn in the same test (values, gradients, initial weights, state_dict keys,
errors)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.nn.functional as F

TF = torch.nn.functional


def _normal(rng, *shape, dtype=np.float32, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _pair(name, *args, **kwargs):
    return getattr(gt.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


# -- activations ---------------------------------------------------------------------------------------------
ACTIVATIONS = [("selu", {}), ("celu", {"alpha": 0.7}), ("hardswish", {}), ("hardsigmoid", {}),
               ("threshold", {"threshold": 0.3, "value": -2.0}), ("hardshrink", {"lambd": 0.4}),
               ("softshrink", {}), ("glu", {"dim": 1}), ("softsign", {}), ("tanhshrink", {}),
               ("softmin", {"dim": 0}), ("rrelu", {}), ("logsigmoid", {}), ("elu", {"alpha": 0.5})]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS, ids=[n for n, _ in ACTIVATIONS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_equal_torch(name, kwargs, dtype, rng, against_torch):
    x = _normal(rng, 3, 4, 2, dtype=dtype, scale=3.0)
    x.flat[:2] = (0.3, 3.0)  # on threshold's and hardswish's kinks
    against_torch(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(TF, name)(a, **kwargs), [x], [0])


@pytest.mark.parametrize("name, args", [("SELU", ()), ("CELU", (0.5,)), ("Hardswish", ()), ("Hardsigmoid", ()),
                                        ("Threshold", (0.1, 20.0)), ("Hardshrink", (0.3,)), ("Softshrink", ()),
                                        ("GLU", ()), ("Softsign", ()), ("Tanhshrink", ()), ("Softmin", (1,)),
                                        ("RReLU", (0.1, 0.3)), ("Softmax2d", ())])
def test_activation_modules_equal_torch(name, args, rng, against_torch):
    g, t = _pair(name, *args)
    g.eval(), t.eval()
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, 2, 3, 4, 2)], [0])


@pytest.mark.parametrize("name, args", [("selu", ()), ("celu", (0.5,)), ("hardswish", ()), ("hardsigmoid", ()),
                                        ("threshold", (0.1, 20.0))])
def test_inplace_activations_equal_torch(name, args, rng, assert_matches):
    x = _normal(rng, 3, 4)
    g, t = gt.from_numpy(x.copy()), torch.from_numpy(x.copy())
    assert getattr(F, name)(g, *args, inplace=True) is g
    getattr(TF, name)(t, *args, inplace=True)
    assert_matches(g, t)


@pytest.mark.parametrize("weight_shape, shape", [((1,), (3, 4)), ((4,), (3, 4, 5)), ((1,), (5,)), ((3,), (2, 3))])
def test_prelu_equals_torch(weight_shape, shape, rng, against_torch):
    against_torch(F.prelu, TF.prelu, [_normal(rng, *shape), _normal(rng, *weight_shape)], [0, 1])


def test_prelu_module_initialises_and_trains_as_torch(rng, against_torch):
    g, t = _pair("PReLU", 3, init=0.1)
    assert list(g.state_dict()) == list(t.state_dict()) == ["weight"]
    assert repr(g) == repr(t)
    np.testing.assert_array_equal(g.weight.detach().numpy(), t.weight.detach().numpy())
    against_torch(g, t, [_normal(rng, 2, 3, 4)], [0], modules=(g, t))
    with pytest.raises(RuntimeError):
        g(gt.from_numpy(_normal(rng, 2, 4)))


def test_activation_errors_are_torchs(rng):
    x = _normal(rng, 3, 5)
    for call, error in ((lambda F, a: F.glu(a, 1), RuntimeError), (lambda F, a: F.glu(a[0, 0]), RuntimeError),
                        (lambda F, a: F.celu(a, 0.0), RuntimeError)):
        with pytest.raises(error):
            call(TF, torch.from_numpy(x))
        with pytest.raises(error):
            call(F, gt.from_numpy(x))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D"):
        gt.nn.Softmax2d()(gt.from_numpy(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["functional", "module", "inplace"])
def test_rrelu_training_draws_torchs_slopes_under_the_same_seed(form, dtype, rng):
    """torch's CPU kernel draws one slope per non-positive element, in order, from the CPU
    generator; GT draws the same ones with it (so the reference is torch on the CPU, whatever the
    worker's device), and the generator is left where torch leaves it."""
    x = _normal(rng, 4, 3, 5, dtype=dtype)
    x.flat[:3] = (0.0, -0.0, 1e-30)
    results = []
    for lib in (gt, torch):
        a = lib.from_numpy(x.copy())
        a.requires_grad_()
        lib.manual_seed(11)
        if form == "module":
            m = lib.nn.RReLU(0.1, 0.4)
            assert m.training
            out = m(a)
        elif form == "inplace":
            out = a * 1
            assert lib.nn.functional.rrelu(out, 0.2, 0.5, training=True, inplace=True) is out
        else:
            out = lib.nn.functional.rrelu(a, training=True)
        after = lib.rand(3)
        (out * lib.from_numpy(np.linspace(-1, 1, x.size).reshape(x.shape).astype(dtype))).sum().backward()
        results.append((out, after, a.grad, repr(out).rpartition("grad_fn=")[2]))
    g, t = results
    for a, b in zip(g[:3], t[:3]):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert g[3] == t[3] or form == "inplace"   # torch names its in-place node RreluWithNoiseBackward1


# -- dropout -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, shape", [("dropout1d", (4, 5, 3)), ("dropout1d", (5, 3)), ("dropout2d", (3, 4, 2, 2)),
                                         ("dropout3d", (2, 3, 2, 2, 2)), ("dropout3d", (3, 2, 2, 2)),
                                         ("alpha_dropout", (4, 6)), ("feature_alpha_dropout", (3, 4, 2))])
@pytest.mark.parametrize("p", [0.3, 0.8])
def test_dropouts_equal_torchs_under_the_same_seed(name, shape, p, rng, assert_matches):
    x = _normal(rng, *shape)
    gt.manual_seed(7)
    g_in = gt.from_numpy(x, requires_grad=True)
    g_out = getattr(F, name)(g_in, p, training=True)
    g_next = gt.rand(1).item()
    torch.manual_seed(7)
    t_in = torch.tensor(x, requires_grad=True)
    t_out = getattr(TF, name)(t_in, p, training=True)
    assert g_next == torch.rand(1).item()  # the generator advanced alike
    assert_matches(g_out, t_out, rtol=0, atol=0)
    g_out.sum().backward()
    t_out.sum().backward()
    assert_matches(g_in.grad, t_in.grad, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_dropout_modules_follow_train_and_eval(name, rng, assert_matches):
    x = _normal(rng, 2, 3, 4, 4, 2)[..., 0] if name in ("Dropout2d",) else _normal(rng, 2, 3, 4, 2, 2)
    x = x[..., 0, 0] if name == "Dropout1d" else x
    g, t = _pair(name, 0.4)
    assert repr(g) == repr(t)
    torch.manual_seed(3)
    t_out = t(torch.from_numpy(x))
    gt.manual_seed(3)
    assert_matches(g(gt.from_numpy(x)), t_out, rtol=0, atol=0)
    g.eval()
    g_in = gt.from_numpy(x)
    assert g(g_in) is g_in
    assert float(getattr(F, name.lower().replace("alphad", "alpha_d").replace("featurea", "feature_a"))(
        g_in, 1.0, training=True).abs().sum()) == 0.0


def test_dropout_errors_and_warnings_are_torchs(rng):
    x = gt.from_numpy(_normal(rng, 2, 3, 4, 5))
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(x)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout2d(x, 1.5)
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input"):
        F.dropout2d(x[0])
    with pytest.warns(UserWarning, match="dropout3d: Received a 2-D input"):
        F.dropout3d(x[0, 0], training=False)
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(x[0, 0, 0], training=True)


# -- normalisation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, groups", [((2, 6, 5), 3), ((3, 4, 2, 3), 2), ((4, 6), 6)])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_group_norm_equals_torch(shape, groups, affine, rng, against_torch):
    c = shape[1]
    arrays = [_normal(rng, *shape)] + [_normal(rng, c) for _ in range(("none", "weight", "both").index(affine))]
    against_torch(lambda x, *wb: F.group_norm(x, groups, *wb, eps=1e-4),
                  lambda x, *wb: TF.group_norm(x, groups, *wb, eps=1e-4), arrays, range(len(arrays)),
                  rtol=1e-4, atol=1e-5)


def test_group_norm_module_and_errors(rng, against_torch):
    g, t = _pair("GroupNorm", 2, 6)
    assert list(g.state_dict()) == list(t.state_dict()) and repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, 3, 6, 4)], [0], modules=(g, t), rtol=1e-4, atol=1e-5)
    against_torch(lambda a: g(a).sum(), lambda a: t(a).sum(), [_normal(rng, 2, 6, 3)], [0], rtol=1e-4,
                  atol=1e-5)  # an expanded incoming gradient
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        gt.nn.GroupNorm(4, 6)
    for shape, error in (((2, 5, 3), RuntimeError), ((1, 2), ValueError), ((3,), RuntimeError)):
        x = _normal(rng, *shape)
        with pytest.raises(error):
            TF.group_norm(torch.from_numpy(x), 2)
        with pytest.raises(error):
            F.group_norm(gt.from_numpy(x), 2)


@pytest.mark.parametrize("name, shape", [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm1d", (4, 5)),
                                         ("InstanceNorm2d", (2, 4, 3, 3)), ("InstanceNorm3d", (2, 4, 2, 2, 3))])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"track_running_stats": True, "momentum": 0.3},
                                    {"affine": True, "track_running_stats": True, "momentum": None}])
def test_instance_norm_trains_and_evaluates_as_torch(name, shape, kwargs, rng, against_torch, assert_matches):
    torch.manual_seed(0)
    g, t = _pair(name, 4, **kwargs)
    assert list(g.state_dict()) == list(t.state_dict()) and repr(g) == repr(t)
    for _ in range(2):
        against_torch(g, t, [_normal(rng, *shape, scale=2.0)], [0], modules=(g, t), rtol=1e-4, atol=1e-5)
    for key, value in t.state_dict().items():
        assert_matches(g.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    g.eval(), t.eval()
    against_torch(g, t, [_normal(rng, *shape)], [0], rtol=1e-4, atol=1e-5)


def test_instance_norm_errors_and_warnings_are_torchs(rng):
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        gt.nn.InstanceNorm2d(3)(gt.from_numpy(_normal(rng, 3, 4)))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        gt.nn.InstanceNorm2d(3)(gt.from_numpy(_normal(rng, 2, 3, 1, 1)))
    with pytest.raises(ValueError, match="to match num_features"):
        gt.nn.InstanceNorm1d(3, affine=True)(gt.from_numpy(_normal(rng, 2, 4, 5)))
    with pytest.warns(UserWarning, match="does not match num_features"):
        gt.nn.InstanceNorm1d(3)(gt.from_numpy(_normal(rng, 2, 4, 5)))


def test_batch_norm3d_trains_as_torch(rng, against_torch, assert_matches):
    g, t = _pair("BatchNorm3d", 3)
    assert list(g.state_dict()) == list(t.state_dict())
    against_torch(g, t, [_normal(rng, 2, 3, 2, 3, 2)], [0], modules=(g, t), rtol=1e-4, atol=1e-5)
    assert_matches(g.running_var, t.running_var)
    with pytest.raises(ValueError, match="expected 5D input"):
        g(gt.from_numpy(_normal(rng, 2, 3, 4, 4)))


@pytest.mark.parametrize("shape, size", [((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((1, 4, 2, 3, 2), 5)])
def test_local_response_norm_equals_torch(shape, size, rng, against_torch):
    g, t = _pair("LocalResponseNorm", size, alpha=0.5, beta=0.6, k=1.5)
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, *shape)], [0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Expected 3D or higher dimensionality"):
        F.local_response_norm(gt.from_numpy(_normal(rng, 2, 3)), 2)


# -- Bilinear and distances -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_initialises_and_trains_as_torch(bias, rng, against_torch):
    torch.manual_seed(9)
    t = torch.nn.Bilinear(3, 4, 5, bias=bias)
    gt.manual_seed(9)
    g = gt.nn.Bilinear(3, 4, 5, bias=bias)
    assert list(g.state_dict()) == list(t.state_dict()) and repr(g) == repr(t)
    np.testing.assert_array_equal(g.weight.detach().numpy(), t.weight.detach().numpy())
    against_torch(g, t, [_normal(rng, 2, 6, 3), _normal(rng, 2, 6, 4)], [0, 1], modules=(g, t), rtol=1e-5,
                  atol=1e-5)
    with pytest.raises(RuntimeError, match="input1 size does not match weight size"):
        g(gt.from_numpy(_normal(rng, 2, 4)), gt.from_numpy(_normal(rng, 2, 4)))
    with pytest.raises(RuntimeError, match="input batch dimensions do not match"):
        g(gt.from_numpy(_normal(rng, 2, 3)), gt.from_numpy(_normal(rng, 3, 4)))


@pytest.mark.parametrize("shapes, kwargs", [(((4, 5), (4, 5)), {}), (((2, 3, 4), (1, 3, 4)), {"dim": 2}),
                                            (((3, 4), (4,)), {"dim": -1, "eps": 0.5})])
def test_cosine_similarity_equals_torch(shapes, kwargs, rng, against_torch):
    arrays = [_normal(rng, *s) for s in shapes]
    arrays[0][0] = 0.0  # a zero vector: its norm is clamped to eps
    against_torch(lambda a, b: F.cosine_similarity(a, b, **kwargs), lambda a, b: TF.cosine_similarity(a, b, **kwargs),
                  arrays, [0, 1])
    against_torch(gt.nn.CosineSimilarity(**kwargs), torch.nn.CosineSimilarity(**kwargs), arrays, [0, 1])


@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0, "keepdim": True}, {"p": float("inf")}, {"p": 3.0, "eps": 0.1}])
def test_pairwise_distance_equals_torch(kwargs, rng, against_torch):
    arrays = [_normal(rng, 4, 5), _normal(rng, 5)]
    against_torch(lambda a, b: F.pairwise_distance(a, b, **kwargs), lambda a, b: TF.pairwise_distance(a, b, **kwargs),
                  arrays, [0, 1])
    against_torch(gt.nn.PairwiseDistance(**kwargs), torch.nn.PairwiseDistance(**kwargs), arrays, [0, 1])


# -- losses --------------------------------------------------------------------------------------------------
def _signs(rng, *shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


LOSSES = [  # (name, arrays(rng), differentiable inputs, kwargs)
    ("kl_div", lambda r: [np.log(r.dirichlet(np.ones(5), 4)).astype(np.float32),
                          r.dirichlet(np.ones(5), 4).astype(np.float32)], [0, 1], {"reduction": "batchmean"}),
    ("kl_div", lambda r: [_normal(r, 3, 4), _normal(r, 3, 4)], [0, 1], {"log_target": True, "reduction": "sum"}),
    ("margin_ranking_loss", lambda r: [_normal(r, 6), _normal(r, 6), _signs(r, 6)], [0, 1], {"margin": 0.3}),
    ("hinge_embedding_loss", lambda r: [_normal(r, 3, 4), _signs(r, 3, 4)], [0], {"margin": 0.5}),
    ("cosine_embedding_loss", lambda r: [_normal(r, 5, 3), _normal(r, 5, 3), _signs(r, 5)], [0, 1],
     {"margin": 0.2}),
    ("cosine_embedding_loss", lambda r: [_normal(r, 3), _normal(r, 3), np.float32(-1.0)], [0, 1], {}),
    ("triplet_margin_loss", lambda r: [_normal(r, 4, 3), _normal(r, 4, 3), _normal(r, 4, 3)], [0, 1, 2],
     {"margin": 2.0}),
    ("triplet_margin_loss", lambda r: [_normal(r, 4, 3), _normal(r, 4, 3), _normal(r, 4, 3)], [0, 1, 2],
     {"p": 1.0, "swap": True}),
    ("poisson_nll_loss", lambda r: [_normal(r, 3, 4), r.poisson(2.0, (3, 4)).astype(np.float32)], [0], {}),
    ("poisson_nll_loss", lambda r: [r.random((3, 4)).astype(np.float32) + 0.1,
                                    r.poisson(2.0, (3, 4)).astype(np.float32)], [0, 1], {"log_input": False,
                                                                                        "full": True}),
    ("gaussian_nll_loss", lambda r: [_normal(r, 4, 3), _normal(r, 4, 3), r.random((4, 3)).astype(np.float32)],
     [0, 1, 2], {}),
    ("gaussian_nll_loss", lambda r: [_normal(r, 4, 3), _normal(r, 4, 3), r.random((4, 1)).astype(np.float32)],
     [0, 2], {"full": True, "eps": 0.3}),
    ("gaussian_nll_loss", lambda r: [_normal(r, 4, 3), _normal(r, 4, 3), r.random(4).astype(np.float32)], [0, 2], {}),
    ("multilabel_soft_margin_loss", lambda r: [_normal(r, 4, 5), (r.random((4, 5)) < 0.5).astype(np.float32)],
     [0], {}),
    ("multilabel_soft_margin_loss", lambda r: [_normal(r, 4, 5), (r.random((4, 5)) < 0.5).astype(np.float32),
                                               r.random(5).astype(np.float32)], [0], {}),
    ("huber_loss", lambda r: [_normal(r, 3, 4), _normal(r, 3, 4)], [0, 1], {"delta": 0.7}),
]


@pytest.mark.parametrize("name, make, grads, kwargs", LOSSES, ids=[f"{c[0]}-{c[3]}" for c in LOSSES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_equal_torch(name, make, grads, kwargs, reduction, rng, against_torch):
    kwargs = {"reduction": reduction, **kwargs} if "reduction" not in kwargs or reduction == "mean" else kwargs
    arrays = make(rng)
    if name == "multilabel_soft_margin_loss" and len(arrays) == 3:
        fn = (lambda lib: lambda x, y, w: getattr(lib, name)(x, y, weight=w, **kwargs))
    else:
        fn = (lambda lib: lambda *a: getattr(lib, name)(*a, **kwargs))
    with np.errstate(all="ignore"):
        against_torch(fn(F), fn(TF), arrays, grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, args, make", [
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, lambda r: [_normal(r, 3, 4), _normal(r, 3, 4)]),
    ("MarginRankingLoss", {"margin": 0.1}, lambda r: [_normal(r, 5), _normal(r, 5), _signs(r, 5)]),
    ("HingeEmbeddingLoss", {"reduction": "sum"}, lambda r: [_normal(r, 5), _signs(r, 5)]),
    ("CosineEmbeddingLoss", {"margin": 0.5}, lambda r: [_normal(r, 5, 2), _normal(r, 5, 2), _signs(r, 5)]),
    ("TripletMarginLoss", {"margin": 0.5, "swap": True}, lambda r: [_normal(r, 3, 4) for _ in range(3)]),
    ("PoissonNLLLoss", {"full": True}, lambda r: [_normal(r, 5), r.poisson(3.0, 5).astype(np.float32)]),
    ("GaussianNLLLoss", {"full": True}, lambda r: [_normal(r, 5), _normal(r, 5), r.random(5).astype(np.float32)]),
    ("MultiLabelSoftMarginLoss", {}, lambda r: [_normal(r, 2, 3), (r.random((2, 3)) < 0.5).astype(np.float32)]),
])
def test_loss_modules_equal_torch(name, args, make, rng, against_torch):
    g, t = _pair(name, **args)
    assert list(g.state_dict()) == list(t.state_dict())
    against_torch(g, t, make(rng), [0], rtol=1e-5, atol=1e-6)


def test_legacy_reduction_arguments_and_kl_div_mean_warning(rng, against_torch):
    x, y = _normal(rng, 3, 4), _signs(rng, 3, 4)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        against_torch(lambda a, b: F.hinge_embedding_loss(a, b, size_average=False),
                      lambda a, b: TF.hinge_embedding_loss(a, b, size_average=False), [x, y], [0])
        against_torch(lambda a, b: F.multilabel_soft_margin_loss(a, b, reduce=False),
                      lambda a, b: TF.multilabel_soft_margin_loss(a, b, reduce=False), [x, (y > 0) * 1.0], [0])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(gt.from_numpy(x), gt.from_numpy(x))


@pytest.mark.parametrize("call, error", [
    (lambda F, x: F.triplet_margin_loss(x, x, x, margin=0.0), ValueError),
    (lambda F, x: F.triplet_margin_loss(x, x, x[0]), RuntimeError),
    (lambda F, x: F.margin_ranking_loss(x, x, x[0]), RuntimeError),
    (lambda F, x: F.cosine_embedding_loss(x, x, x), RuntimeError),
    (lambda F, x: F.cosine_embedding_loss(x[0], x[0], x[0]), RuntimeError),
    (lambda F, x: F.poisson_nll_loss(x, x, reduction="avg"), ValueError),
    (lambda F, x: F.gaussian_nll_loss(x, x, -x.abs()), ValueError),
    (lambda F, x: F.gaussian_nll_loss(x, x, x[:, :2].abs()), ValueError),
    (lambda F, x: F.gaussian_nll_loss(x, x, x.abs(), reduction="avg"), ValueError),
    (lambda F, x: F.multilabel_soft_margin_loss(x, x, reduction="avg"), ValueError),
    (lambda F, x: F.kl_div(x, x, reduction="avg"), ValueError),
])
def test_loss_errors_are_torchs(call, error, rng):
    x = _normal(rng, 3, 4)
    with pytest.raises(error):
        call(TF, torch.from_numpy(x))
    with pytest.raises(error):
        call(F, gt.from_numpy(x))


# -- CTC -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("lengths_as", ["tensor", "list"])
def test_ctc_loss_equals_torch(reduction, zero_infinity, lengths_as, rng, against_torch):
    t_len, n, c = 6, 3, 5
    logits = _normal(rng, t_len, n, c)
    targets = rng.integers(1, c, (n, 4))
    input_lengths, target_lengths = [6, 5, 2], [4, 2, 3]  # the last sample cannot be aligned: infinite loss

    def run(lib, fn):
        def call(x):
            lp = x.log_softmax(2)
            lengths = [lib.tensor(v) for v in (input_lengths, target_lengths)] if lengths_as == "tensor" else \
                (input_lengths, target_lengths)
            return fn(lp, lib.tensor(targets), *lengths, reduction=reduction, zero_infinity=zero_infinity)
        return call
    if not zero_infinity and reduction != "none":
        input_lengths[2] = 6
    against_torch(run(gt, F.ctc_loss), run(torch, TF.ctc_loss), [logits], [0], rtol=1e-4, atol=1e-5)


def test_ctc_loss_module_unbatched_and_concatenated_targets(rng, against_torch):
    g, t = _pair("CTCLoss", blank=4, reduction="sum")
    targets = np.array([0, 1, 1, 2, 3], dtype=np.int64)
    against_torch(lambda x: g(x.log_softmax(1), gt.tensor(targets[:3]), 7, 3),
                  lambda x: t(x.log_softmax(1), torch.tensor(targets[:3]), torch.tensor(7), torch.tensor(3)),
                  [_normal(rng, 7, 5)], [0], rtol=1e-4, atol=1e-5)
    against_torch(lambda x: g(x.log_softmax(2), gt.tensor(targets), (7, 6), (3, 2)),
                  lambda x: t(x.log_softmax(2), torch.tensor(targets), (7, 6), (3, 2)),
                  [_normal(rng, 7, 2, 5)], [0], rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="input_lengths must be integral"):
        F.ctc_loss(gt.zeros(7, 2, 5), gt.tensor(targets), gt.tensor([7.0, 6.0]), (3, 2))


# -- losses given inputs of the wrong shape raise torch's error ---------------------------------------------
def _long(*shape):
    return np.zeros(shape, dtype=np.int64)


BAD_SHAPES = [
    ("nll_loss", (_normal(np.random.default_rng(0), 3, 4), _long(3, 4))),
    ("nll_loss", (_normal(np.random.default_rng(0), 4), _long(1, 1))),
    ("nll_loss", (_normal(np.random.default_rng(0), 2, 3, 4, 5), _long(2, 4))),
    ("nll_loss", (_normal(np.random.default_rng(0), 2, 3, 4), _long(2, 4, 5))),
    ("nll_loss", (_normal(np.random.default_rng(0), 3, 4), _long(5))),
    ("cross_entropy", (_normal(np.random.default_rng(0), 3, 4), _long(3, 4))),
    ("cross_entropy", (_normal(np.random.default_rng(0), 3, 4), _long(3, 4, 2))),
    ("cross_entropy", (_normal(np.random.default_rng(0), 3, 4), _long(5))),
    ("mse_loss", (_normal(np.random.default_rng(0), 3, 4), _normal(np.random.default_rng(1), 5, 4))),
    ("mse_loss", (_normal(np.random.default_rng(0), 3, 4), _normal(np.random.default_rng(1), 2, 3, 5))),
    ("l1_loss", (_normal(np.random.default_rng(0), 3, 4), _normal(np.random.default_rng(1), 5, 4))),
    ("smooth_l1_loss", (_normal(np.random.default_rng(0), 3, 4), _normal(np.random.default_rng(1), 5, 4))),
    ("huber_loss", (_normal(np.random.default_rng(0), 3, 4), _normal(np.random.default_rng(1), 5, 4))),
    ("binary_cross_entropy", (np.full((3, 4), 0.5, np.float32), np.full((5, 4), 0.5, np.float32))),
    ("binary_cross_entropy_with_logits", (np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32))),
]


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("name,arrays", BAD_SHAPES, ids=[f"{n}-{a[0].shape}-{a[1].shape}" for n, a in BAD_SHAPES])
def test_loss_bad_shapes_raise_torchs_error(name, arrays):
    with pytest.raises(Exception) as expected:
        getattr(TF, name)(*map(torch.from_numpy, arrays))
    with pytest.raises(Exception) as got:
        getattr(F, name)(*map(gt.from_numpy, arrays)).tolist()
    assert type(got.value) is type(expected.value)
    assert str(got.value).splitlines()[0] == str(expected.value).splitlines()[0]
