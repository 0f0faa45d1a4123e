"""Transposed convolutions, padding, resampling, 1-d and adaptive pooling, fold and unfold: gt.nn against torch.nn
in the same test (values, gradients of inputs and parameters, initial weights, state_dict keys, errors)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.nn.functional as F
from devices import host

TF = torch.nn.functional


def _normal(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# -- transposed convolution ----------------------------------------------------------------------------------
CONV_T = [  # (n, in, out, kernel, kwargs)
    (1, 4, 6, 3, {}),
    (1, 4, 6, 2, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    (2, 3, 4, 3, {"stride": 2, "padding": 1, "output_padding": 1}),
    (2, 4, 2, (2, 3), {"stride": (2, 1), "dilation": 2, "groups": 2}),
    (3, 2, 3, 2, {"stride": 2}),
]


@pytest.mark.parametrize("n, cin, cout, kernel, kwargs", CONV_T)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_functional_equals_torch(n, cin, cout, kernel, kwargs, bias, rng, against_torch):
    k = (kernel,) * n if isinstance(kernel, int) else kernel
    groups = kwargs.get("groups", 1)
    arrays = [_normal(rng, 2, cin, *(5,) * n), _normal(rng, cin, cout // groups, *k)] + \
        ([_normal(rng, cout)] if bias else [])
    name = f"conv_transpose{n}d"
    against_torch(lambda *a: getattr(F, name)(*a[:2], a[2] if bias else None, **kwargs),
                  lambda *a: getattr(TF, name)(*a[:2], a[2] if bias else None, **kwargs),
                  arrays, grads=range(len(arrays)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, n", [("ConvTranspose1d", 1), ("ConvTranspose2d", 2), ("ConvTranspose3d", 3),
                                     ("Conv3d", 3)])
def test_conv_modules_initialise_train_and_load_as_torch(name, n, rng, against_torch):
    torch.manual_seed(4)
    t = getattr(torch.nn, name)(4, 6, 3, stride=2, padding=1, groups=2)
    gt.manual_seed(4)
    g = getattr(gt.nn, name)(4, 6, 3, stride=2, padding=1, groups=2)
    assert list(g.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    for key, value in t.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[key].numpy(), value.numpy())
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, 2, 4, *(5,) * n)], grads=[0], modules=(g, t), rtol=1e-4, atol=1e-5)
    g2 = getattr(gt.nn, name)(4, 6, 3, stride=2, padding=1, groups=2)
    g2.load_state_dict({k: gt.from_numpy(host(v)) for k, v in t.state_dict().items()})
    np.testing.assert_array_equal(g2.weight.detach().numpy(), host(t.weight))


def test_conv_transpose_output_size_and_unbatched_input(rng, against_torch):
    torch.manual_seed(1)
    t = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    gt.manual_seed(1)
    g = gt.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    x = _normal(rng, 1, 3, 4, 4)
    out, _ = against_torch(lambda a: g(a, output_size=[8, 8]), lambda a: t(a, output_size=[8, 8]), [x], [0],
                           modules=(g, t), rtol=1e-5, atol=1e-6)
    assert tuple(out.shape) == (1, 2, 8, 8)
    against_torch(g, t, [x[0]], [0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="requested an output size of"):
        g(gt.from_numpy(x), output_size=[12, 12])
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        gt.nn.ConvTranspose2d(3, 2, 3, padding_mode="reflect")


@pytest.mark.parametrize("call, error", [
    (lambda F, x, w: F.conv_transpose2d(x, w[:2]), RuntimeError),  # channels
    (lambda F, x, w: F.conv_transpose2d(x, w, stride=2, output_padding=2), RuntimeError),
    (lambda F, x, w: F.conv_transpose2d(x, w, groups=2), RuntimeError),
])
def test_conv_transpose_errors_are_torchs(call, error, rng):
    x, w = _normal(rng, 1, 3, 5, 5), _normal(rng, 3, 2, 3, 3)
    with pytest.raises(error):
        call(TF, torch.from_numpy(x), torch.from_numpy(w))
    with pytest.raises(error):
        call(F, gt.from_numpy(x), gt.from_numpy(w))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes_equal_torch(mode, rng, against_torch):
    torch.manual_seed(2)
    t = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
    gt.manual_seed(2)
    g = gt.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, 2, 2, 5, 6)], [0], modules=(g, t), rtol=1e-5, atol=1e-5)


# -- padding -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", [((2, 3, 5), (2, 1)), ((2, 3, 4, 5), (1, 2, 2, 0)),
                                        ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2))])
def test_pad_modes_equal_torch(mode, shape, pad, rng, against_torch):
    against_torch(lambda a: F.pad(a, pad, mode), lambda a: TF.pad(a, pad, mode), [_normal(rng, *shape)], [0])


@pytest.mark.parametrize("name, args, shape", [
    ("ReflectionPad1d", (2,), (2, 3, 5)), ("ReflectionPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 3, 3)), ("ReplicationPad1d", ((3, 1),), (3, 4)),
    ("ReplicationPad2d", (2,), (2, 3, 4, 5)), ("ReplicationPad3d", ((1, 0, 2, 1, 0, 1),), (1, 2, 3, 3, 3)),
    ("ZeroPad1d", (2,), (2, 3, 4)), ("ZeroPad2d", ((1, 0, 2, 1),), (2, 3, 4)), ("ZeroPad3d", (1,), (1, 2, 2, 2, 2)),
    ("ConstantPad1d", (2, 3.5), (2, 3, 4)), ("ConstantPad2d", ((1, 0, 2, 1), -1.0), (3, 4)),
    ("ConstantPad3d", (1, 0.5), (1, 1, 2, 2, 2)), ("CircularPad2d", (1,), (1, 2, 3, 3)),
])
def test_padding_modules_equal_torch(name, args, shape, rng, against_torch):
    g, t = getattr(gt.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, *shape)], [0])


def test_pad_errors_are_torchs(rng):
    x = _normal(rng, 1, 2, 3, 3)
    for mode, pad, error in (("reflect", (3, 3), RuntimeError), ("reflect", (1,), RuntimeError),
                             ("replicate", (1, 1, 1, 1, 1, 1, 1, 1), NotImplementedError)):
        with pytest.raises(error):
            TF.pad(torch.from_numpy(x), pad, mode)
        with pytest.raises(error):
            F.pad(gt.from_numpy(x), pad, mode)


# -- interpolate and upsampling ------------------------------------------------------------------------------
INTERPOLATE = [  # (input shape, kwargs)
    ((2, 3, 5), {"scale_factor": 2}), ((2, 3, 5), {"size": 7, "mode": "nearest-exact"}),
    ((2, 3, 5), {"scale_factor": 1.7, "mode": "linear"}),
    ((2, 3, 5), {"size": 9, "mode": "linear", "align_corners": True}),
    ((1, 2, 4, 5), {"scale_factor": (2, 3)}), ((1, 2, 4, 5), {"size": (3, 7), "mode": "nearest-exact"}),
    ((1, 2, 4, 5), {"scale_factor": 1.5, "mode": "bilinear"}),
    ((1, 2, 4, 5), {"size": (7, 6), "mode": "bilinear", "align_corners": True}),
    ((1, 2, 4, 5), {"scale_factor": 2.5, "mode": "bilinear", "recompute_scale_factor": True}),
    ((1, 2, 4, 5), {"scale_factor": 2, "mode": "bicubic"}),
    ((1, 2, 4, 5), {"size": 6, "mode": "bicubic", "align_corners": True}),
    ((1, 2, 8, 8), {"size": (3, 5), "mode": "bilinear", "antialias": True}),
    ((1, 2, 6, 7), {"size": (3, 2), "mode": "area"}), ((1, 2, 6, 7), {"scale_factor": 0.5, "mode": "area"}),
    ((2, 3, 7), {"size": 3, "mode": "area"}),
    ((1, 1, 3, 4, 2), {"scale_factor": 2}), ((1, 1, 3, 4, 2), {"size": (4, 5, 3), "mode": "trilinear"}),
]


@pytest.mark.parametrize("shape, kwargs", INTERPOLATE, ids=[f"{len(s)}d-{k}" for s, k in INTERPOLATE])
def test_interpolate_equals_torch(shape, kwargs, rng, against_torch):
    against_torch(lambda a: F.interpolate(a, **kwargs), lambda a: TF.interpolate(a, **kwargs),
                  [_normal(rng, *shape)], [0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, kwargs", [("Upsample", {"scale_factor": 2}),
                                          ("Upsample", {"size": (5, 7), "mode": "bilinear"}),
                                          ("Upsample", {"scale_factor": (1.5, 2.0), "mode": "bicubic",
                                                        "align_corners": True}),
                                          ("UpsamplingNearest2d", {"scale_factor": 3}),
                                          ("UpsamplingBilinear2d", {"size": 6})])
def test_upsample_modules_equal_torch(name, kwargs, rng, against_torch):
    g, t = getattr(gt.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(g) == repr(t)
    against_torch(g, t, [_normal(rng, 2, 3, 4, 4)], [0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, kwargs", [("upsample", {"scale_factor": 2, "mode": "bilinear"}),
                                          ("upsample_nearest", {"size": 5}), ("upsample_bilinear", {"size": 3})])
def test_deprecated_upsample_functions_warn_and_equal_torch(name, kwargs, rng, against_torch):
    with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated") as caught:
        against_torch(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(TF, name)(a, **kwargs),
                      [_normal(rng, 1, 2, 4, 4)], [0], rtol=1e-5, atol=1e-6)
    assert len({str(w.message) for w in caught}) == 1 and len(caught) == 2  # torch's words, from both


@pytest.mark.parametrize("shape, kwargs, error", [
    ((1, 2, 4, 4), {"size": 3, "scale_factor": 2}, ValueError),
    ((1, 2, 4, 4), {}, ValueError),
    ((1, 2, 4, 4), {"scale_factor": 2, "align_corners": True}, ValueError),
    ((1, 2, 4), {"scale_factor": 2, "mode": "bilinear"}, NotImplementedError),
    ((1, 2, 4, 4), {"size": (2, 3, 4)}, ValueError),
    ((1, 2, 4, 4), {"size": 3, "mode": "nearest", "antialias": True}, ValueError),
    ((1, 2, 4, 4), {"size": 3, "mode": "cubic"}, NotImplementedError),
])
def test_interpolate_errors_are_torchs(shape, kwargs, error, rng):
    x = _normal(rng, *shape)
    with pytest.raises(error):
        TF.interpolate(torch.from_numpy(x), **kwargs)
    with pytest.raises(error):
        F.interpolate(gt.from_numpy(x), **kwargs)


def test_pixel_shuffle_and_unshuffle_equal_torch(rng, against_torch):
    x = _normal(rng, 2, 8, 3, 5)
    against_torch(gt.nn.PixelShuffle(2), torch.nn.PixelShuffle(2), [x], [0])
    against_torch(lambda a: F.pixel_unshuffle(a, 3), lambda a: TF.pixel_unshuffle(a, 3), [_normal(rng, 2, 6, 6)],
                  [0])
    assert repr(gt.nn.PixelUnshuffle(2)) == repr(torch.nn.PixelUnshuffle(2))
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(gt.from_numpy(x[:, :3]), 2)
    with pytest.raises(RuntimeError):
        F.pixel_unshuffle(gt.from_numpy(x), 2)


# -- pooling -------------------------------------------------------------------------------------------------
POOL = [  # (gt/torch functional name, args, kwargs, input shape)
    ("max_pool1d", (3,), {}, (2, 3, 8)), ("max_pool1d", (3,), {"stride": 2, "padding": 1, "dilation": 2}, (3, 9)),
    ("max_pool1d", (2,), {"ceil_mode": True}, (2, 3, 7)),
    ("avg_pool1d", (3,), {}, (2, 3, 8)), ("avg_pool1d", (4,), {"stride": 2, "padding": 2,
                                                                "count_include_pad": False}, (2, 3, 9)),
    ("avg_pool1d", (3,), {"stride": 2, "ceil_mode": True}, (3, 8)),
    ("adaptive_avg_pool1d", (3,), {}, (2, 3, 7)), ("adaptive_avg_pool1d", (1,), {}, (2, 3, 7)),
    ("adaptive_max_pool1d", (4,), {}, (2, 3, 9)), ("adaptive_max_pool2d", ((2, 3),), {}, (2, 3, 5, 7)),
    ("adaptive_max_pool2d", (3,), {}, (3, 6, 6)), ("adaptive_max_pool2d", ((None, 2),), {}, (1, 2, 5, 4)),
    ("adaptive_avg_pool2d", ((1, 1),), {}, (2, 3, 5, 7)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", POOL, ids=[f"{p[0]}-{p[3]}" for p in POOL])
def test_pooling_equals_torch(name, args, kwargs, shape, rng, against_torch):
    against_torch(lambda a: getattr(F, name)(a, *args, **kwargs), lambda a: getattr(TF, name)(a, *args, **kwargs),
                  [_normal(rng, *shape)], [0])


@pytest.mark.parametrize("name, args", [("MaxPool1d", (3, 2, 1)), ("AvgPool1d", (3, 2, 1)),
                                        ("AdaptiveAvgPool1d", (4,)), ("AdaptiveMaxPool1d", (2,)),
                                        ("AdaptiveMaxPool2d", ((3, 2),)), ("AdaptiveAvgPool2d", (2,))])
def test_pooling_modules_equal_torch(name, args, rng, against_torch):
    g, t = getattr(gt.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(g) == repr(t)
    shape = (2, 3, 6, 9) if name.endswith("2d") else (2, 3, 9)
    against_torch(g, t, [_normal(rng, *shape)], [0])


def test_pooling_errors_are_torchs(rng):
    x = _normal(rng, 1, 2, 3, 4)
    for name in ("max_pool1d", "avg_pool1d"):
        with pytest.raises(RuntimeError):
            getattr(TF, name)(torch.from_numpy(x), 2)
        with pytest.raises(RuntimeError):
            getattr(F, name)(gt.from_numpy(x), 2)
    with pytest.raises(NotImplementedError, match="return_indices"):
        F.adaptive_max_pool2d(gt.from_numpy(x[0]), 2, return_indices=True)


# -- max pooling with indices, and unpooling ----------------------------------------------------------------
MAX_POOL = [  # (n, input shape, pooling kwargs)
    (1, (2, 3, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (1, (3, 8), {"kernel_size": 2}),
    (2, (2, 3, 6, 7), {"kernel_size": 2, "ceil_mode": True}),
    (2, (3, 5, 5), {"kernel_size": 3, "stride": 1, "padding": 1}),
    (3, (2, 2, 4, 5, 6), {"kernel_size": 2, "dilation": (1, 2, 1)}),
    (3, (2, 4, 4, 4), {"kernel_size": (2, 2, 1)}),
]


@pytest.mark.parametrize("n, shape, kwargs", MAX_POOL)
def test_max_pool_with_indices_and_unpool_equal_torchs(n, shape, kwargs, rng):
    """Values, indices, the unpooled tensor and the gradients through both, as torch's; the
    modules too (``return_indices=True``, ``MaxUnpool<n>d``)."""
    from devices import twin
    a = _normal(rng, *shape, dtype=np.float64)
    unpool_kwargs = {k: v for k, v in kwargs.items() if k in ("kernel_size", "stride", "padding")}
    results = []
    for lib, x in ((gt, gt.from_numpy(a.copy(), requires_grad=True)), (torch, twin(a, True))):
        pool = getattr(lib.nn, f"MaxPool{n}d")(**kwargs, return_indices=True)
        out, idx = pool(x)
        fout, fidx = getattr(lib.nn.functional, f"max_pool{n}d")(x, **kwargs, return_indices=True)
        up = getattr(lib.nn, f"MaxUnpool{n}d")(**unpool_kwargs)(out * 2, idx) if not kwargs.get("dilation") else out
        w = lib.tensor(np.linspace(-1, 1, up.numel()).reshape(tuple(up.shape)), dtype=up.dtype).to(up.device)
        (up * w).sum().backward()
        results.append((out, idx, fout, fidx, up, x.grad, repr(pool)))
    for g, t in zip(*results):
        if isinstance(t, str):
            assert g == t
        else:
            assert tuple(g.shape) == tuple(t.shape) and g.dtype == t.dtype
            np.testing.assert_allclose(g.detach().numpy(), t.detach().cpu().numpy(), rtol=1e-12)


def test_max_unpool_output_size_and_errors_are_torchs(rng):
    from devices import twin
    a = _normal(rng, 1, 2, 5, 5, dtype=np.float64)
    results = []
    for lib, x in ((gt, gt.from_numpy(a.copy())), (torch, twin(a))):
        out, idx = lib.nn.functional.max_pool2d(x, 2, return_indices=True)
        results.append(lib.nn.functional.max_unpool2d(out, idx, 2, output_size=(5, 5)))
        results.append(lib.nn.functional.max_unpool2d(out, idx, 2, output_size=torch.Size((1, 2, 4, 5))))
        for bad in ((7, 7), (5,)):
            with pytest.raises(ValueError) as exc:
                lib.nn.functional.max_unpool2d(out, idx, 2, output_size=bad)
            results.append(str(exc.value))
    half = len(results) // 2
    for g, t in zip(results[:half], results[half:]):
        if isinstance(t, str):
            assert g == t
        else:
            np.testing.assert_array_equal(g.numpy(), t.cpu().numpy())
    assert repr(gt.nn.MaxUnpool3d(2, padding=1)) == repr(torch.nn.MaxUnpool3d(2, padding=1))


# -- fold and unfold -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"dilation": 2, "padding": 1}, {"stride": (2, 1), "padding": (1, 0)}])
def test_unfold_and_fold_equal_torch(kwargs, rng, against_torch):
    x = _normal(rng, 2, 3, 6, 7)
    cols, _ = against_torch(lambda a: F.unfold(a, (2, 3), **kwargs), lambda a: TF.unfold(a, (2, 3), **kwargs),
                            [x], [0])
    against_torch(lambda a: F.fold(a, (6, 7), (2, 3), **kwargs), lambda a: TF.fold(a, (6, 7), (2, 3), **kwargs),
                  [cols.detach().numpy()], [0])
    g, t = gt.nn.Fold((6, 7), (2, 3), **kwargs), torch.nn.Fold((6, 7), (2, 3), **kwargs)
    assert repr(g) == repr(t) and repr(gt.nn.Unfold(2, **kwargs)) == repr(torch.nn.Unfold(2, **kwargs))
    against_torch(g, t, [cols.detach().numpy()], [0])
    with pytest.raises(RuntimeError):
        F.fold(gt.from_numpy(cols.detach().numpy()[:, :5]), (6, 7), (2, 3), **kwargs)
