"""Errors: bad calls raise at the line that made them, like torch's, and the session keeps working.

An error that only the worker can find (the op itself fails while running)
surfaces at the next sync point, naming the operation.
"""
from __future__ import annotations

import gc
import operator
import sys

import numpy as np
import pytest
import torch

import gt
from gt.ops import OPCODE


def _names_shape(message: str, shape: tuple) -> bool:
    """Whether an error message names ``shape`` in one of the usual spellings."""
    inner = ", ".join(map(str, shape))
    spellings = {f"({inner})", f"[{inner}]", "x".join(map(str, shape)), f"torch.Size([{inner}])"}
    if len(shape) == 1:
        spellings.add(f"({shape[0]},)")
    return any(s in message for s in spellings)


@pytest.fixture
def survivor(rng):
    """A tensor made before the error; after the error it must still read back, and new ops must work."""
    a = rng.standard_normal((2, 3)).astype(np.float32)
    x = gt.from_numpy(a)

    def check():
        np.testing.assert_array_equal(x.numpy(), a)
        np.testing.assert_allclose((x * 2 + 1).sum().item(), float((torch.from_numpy(a) * 2 + 1).sum()),
                                   rtol=1e-5)
        assert (gt.tensor([1.0, 2.0]) @ gt.tensor([3.0, 4.0])).item() == 11.0
    return check


# -- shape errors ----------------------------------------------------------------------------------
def test_matmul_shape_mismatch_names_both_shapes(survivor):
    a, b = gt.randn(3, 4), gt.randn(5, 6)
    with pytest.raises(RuntimeError):
        torch.randn(3, 4) @ torch.randn(5, 6)
    with pytest.raises(RuntimeError) as info:
        a @ b
    msg = str(info.value)
    assert _names_shape(msg, (3, 4)) and _names_shape(msg, (5, 6)), msg
    survivor()


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 2, 5)), ((2, 3, 4), (3, 4, 5)), ((4,), (3,))])
def test_matmul_mismatch_raises_like_torch(sa, sb, survivor):
    with pytest.raises(RuntimeError):
        torch.randn(sa) @ torch.randn(sb)
    with pytest.raises(RuntimeError) as info:
        gt.randn(sa) @ gt.randn(sb)
    msg = str(info.value)
    assert _names_shape(msg, sa) and _names_shape(msg, sb), msg
    survivor()


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                                operator.gt, operator.eq])
@pytest.mark.parametrize("sa, sb", [((3, 4), (5,)), ((2, 3), (3, 2)), ((4, 1, 3), (2, 4))])
def test_bad_broadcast_names_the_shapes(op, sa, sb, survivor):
    with pytest.raises(RuntimeError):
        op(torch.ones(sa), torch.ones(sb))
    with pytest.raises(RuntimeError) as info:
        op(gt.ones(sa), gt.ones(sb))
    msg = str(info.value)
    assert _names_shape(msg, sa) and _names_shape(msg, sb), msg
    survivor()


def test_inplace_broadcast_that_would_grow_the_target_raises(survivor):
    t, g = torch.ones(3), gt.ones(3)
    with pytest.raises(RuntimeError):
        t += torch.ones(2, 3)
    with pytest.raises(RuntimeError):
        g += gt.ones(2, 3)
    np.testing.assert_array_equal(g.numpy(), np.ones(3, np.float32))  # unchanged
    survivor()


@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(5, 2),
    lambda x: x.reshape(-1, 5),
    lambda x: x.view(7),
    lambda x: x.reshape(-1, -1),
    lambda x: x.view(2, 2, 2),
])
def test_reshape_to_a_wrong_size_raises(fn, survivor):
    with pytest.raises(RuntimeError):
        fn(torch.ones(3, 4))
    with pytest.raises(RuntimeError, match="12|-1"):
        fn(gt.ones(3, 4))
    survivor()


@pytest.mark.parametrize("name, fn", [
    ("sum(dim=2)", lambda x: x.sum(dim=2)),
    ("sum(-3)", lambda x: x.sum(-3)),
    ("mean(dim=(0, 5))", lambda x: x.mean(dim=(0, 5))),
    ("max(dim=2)", lambda x: x.max(dim=2)),
    ("transpose(0, 2)", lambda x: x.transpose(0, 2)),
    ("unsqueeze(3)", lambda x: x.unsqueeze(3)),
    ("squeeze(2)", lambda x: x.squeeze(2)),
    ("permute(0, 2)", lambda x: x.permute(0, 2)),
    ("flatten(0, 2)", lambda x: x.flatten(0, 2)),
    ("size(2)", lambda x: x.size(2)),
])
def test_dim_out_of_range_raises_index_error(name, fn, survivor):
    with pytest.raises(IndexError):
        fn(torch.ones(3, 4))
    with pytest.raises(IndexError, match="range"):
        fn(gt.ones(3, 4))
    survivor()


@pytest.mark.parametrize("key", [3, -4, (0, 4), (0, 0, 0)])
def test_index_out_of_bounds_raises_index_error(key, survivor):
    with pytest.raises(IndexError):
        torch.ones(3, 4)[key]
    with pytest.raises(IndexError):
        gt.ones(3, 4)[key]
    survivor()


# -- dtype errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ["from_numpy", "tensor"])
@pytest.mark.parametrize("array", [
    np.zeros(3, dtype=np.complex128),
    np.array([1, None, "a"], dtype=object),
], ids=["complex128", "object"])
def test_unsupported_numpy_dtype_raises_type_error_naming_it(make, array, survivor):
    with pytest.raises(TypeError) as info:
        getattr(gt, make)(array)
    assert str(array.dtype) in str(info.value)
    survivor()


def test_unsupported_torch_dtype_raises_type_error(survivor):
    with pytest.raises(TypeError, match="complex64"):
        gt.zeros(2, dtype=torch.complex64)
    survivor()


def test_inplace_float_result_into_int_tensor_raises(survivor):
    t, g = torch.tensor([1, 2]), gt.tensor([1, 2])
    with pytest.raises(RuntimeError):
        t += 1.5
    with pytest.raises(RuntimeError):
        g += 1.5
    with pytest.raises(RuntimeError):
        g /= 2
    assert g.dtype == torch.int64 and g.tolist() == [1, 2]
    survivor()


@pytest.mark.parametrize("fn", [
    lambda T: T([True, False]) - T([True, True]),
    lambda T: T([True, False]) - True,
    lambda T: T([True, False]) - 1,
    lambda T: 1 - T([True, False]),
    lambda T: T([1, 2]) - True,
    lambda T: T([1, 2]) - T([True, False]),
    lambda T: T([1, 2]) ** -1,
    lambda T: -T([True, False]),
])
def test_ops_torch_refuses_raise_at_the_call(fn, survivor):
    with pytest.raises(RuntimeError):
        fn(torch.tensor)
    with pytest.raises(RuntimeError):
        fn(gt.tensor)
    survivor()


def test_matmul_of_different_dtypes_raises(survivor):
    with pytest.raises(RuntimeError):
        torch.ones(2, 3) @ torch.ones(3, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="dtype"):
        gt.ones(2, 3) @ gt.ones(3, 2, dtype=gt.float64)
    survivor()


def test_mean_of_int_tensor_raises(survivor):
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError):
        gt.tensor([1, 2]).mean()
    survivor()


def test_requires_grad_on_int_tensor_raises(survivor):
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        gt.tensor([1, 2]).requires_grad_()
    survivor()


# -- reading data --------------------------------------------------------------------------------
def test_item_of_a_multi_element_tensor_raises(survivor):
    with pytest.raises(RuntimeError):
        torch.ones(3).item()
    with pytest.raises(RuntimeError, match="3 elements"):
        gt.ones(3).item()
    survivor()


def test_bool_of_a_multi_element_tensor_raises(survivor):
    with pytest.raises(RuntimeError):
        bool(torch.ones(2))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(gt.ones(2))
    assert bool(gt.ones(1)) is True and bool(gt.zeros(())) is False
    survivor()


def test_numpy_of_a_tensor_that_requires_grad_raises(survivor):
    with pytest.raises(RuntimeError):
        torch.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="detach"):
        gt.ones(2, requires_grad=True).numpy()
    survivor()


def test_legacy_constructor_refuses_bad_data_without_a_half_built_tensor(monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    for args in (("abc",), (2, "x")):
        with pytest.raises(TypeError):
            torch.Tensor(*args)
        with pytest.raises(TypeError):
            gt.Tensor(*args)
    gc.collect()
    assert not unraisable, [str(u.exc_value) for u in unraisable]  # e.g. a half-built tensor's __del__


def test_tensor_of_a_string_raises_type_error(survivor):
    with pytest.raises(TypeError):
        torch.tensor("abc")
    with pytest.raises(TypeError):
        gt.tensor("abc")
    survivor()


# -- errors found only by the worker ----------------------------------------------------------------
def _fail_exp(*args):
    raise ValueError("injected failure in the exp kernel")


@pytest.fixture
def broken_exp(monkeypatch):
    """Make the worker's 'exp' kernel raise; the original table comes back when the test ends."""
    worker = gt.debug.get_worker()
    code = OPCODE["exp"]
    original = worker._funcs
    funcs = list(original)
    funcs[code] = _fail_exp
    monkeypatch.setattr(worker, "_funcs", tuple(funcs))
    engine = getattr(worker, "engine", None)
    if engine is not None and getattr(engine, "funcs", None) is original:  # the batched path's table
        monkeypatch.setattr(engine, "funcs", tuple(funcs))

    def restore():
        monkeypatch.undo()
        assert gt.debug.get_worker()._funcs is original
    return restore


@pytest.mark.parametrize("read", ["item", "numpy", "tolist", "repr"])
def test_worker_side_failure_surfaces_at_the_next_sync_point(read, broken_exp, rng):
    a = rng.standard_normal(()).astype(np.float32)
    x = gt.from_numpy(a)
    before = x * 2            # computed before the failure
    y = x.exp()               # returns: the failure is not known yet
    assert isinstance(y, gt.Tensor) and y.shape == () and y.dtype == torch.float32
    with pytest.raises(RuntimeError, match="exp") as info:
        {"item": y.item, "numpy": y.numpy, "tolist": y.tolist, "repr": lambda: repr(y)}[read]()
    assert "injected failure" in str(info.value)
    broken_exp()
    # the session works again: old values read back, and exp itself runs
    np.testing.assert_allclose(before.item(), float(a) * 2, rtol=1e-6)
    np.testing.assert_allclose(x.exp().item(), float(np.exp(a)), rtol=1e-6)
    np.testing.assert_allclose(gt.exp(gt.tensor([0.0, 1.0])).numpy(), np.exp([0.0, 1.0]), rtol=1e-6)


def test_worker_side_failure_is_reported_by_dependent_reads(broken_exp, rng):
    x = gt.from_numpy(rng.standard_normal(4).astype(np.float32))
    z = (x.exp() + 1).sum()   # depends on the failing op
    with pytest.raises(RuntimeError, match="exp"):
        z.item()
    broken_exp()
    np.testing.assert_allclose((x.exp() + 1).sum().item(), float((np.exp(x.numpy()) + 1).sum()), rtol=1e-5)


def test_failed_result_stays_unreadable_after_the_error_is_reported(broken_exp):
    y = gt.ones(3).exp()
    with pytest.raises(RuntimeError, match="exp"):
        y.numpy()
    broken_exp()
    with pytest.raises(RuntimeError):
        y.numpy()  # never computed: an error, never stale or garbage values
    assert (gt.ones(3).exp().numpy() == np.float32(np.e)).all()


def test_worker_side_failure_in_backward_surfaces(broken_exp, rng):
    a = rng.standard_normal(3).astype(np.float32)
    x = gt.from_numpy(a, requires_grad=True)
    y = x.exp()
    y.sum().backward()
    with pytest.raises(RuntimeError, match="exp"):
        x.grad.numpy()
    broken_exp()
    x.grad = None
    x.exp().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(a), rtol=1e-6)


def test_worker_side_failure_surfaces_with_a_batching_worker(batched_worker, broken_exp, rng):
    a = rng.standard_normal(4).astype(np.float32)
    x = gt.from_numpy(a)
    y = (x.exp() * 2).sum()   # queued in the batch: nothing runs yet
    with pytest.raises(RuntimeError, match="exp"):
        y.item()
    broken_exp()
    np.testing.assert_array_equal(x.numpy(), a)
    np.testing.assert_allclose((x.exp() * 2).sum().item(), float((np.exp(a) * 2).sum()), rtol=1e-5)


def test_results_queued_before_a_failing_op_survive_with_a_batching_worker(batched_worker, broken_exp, rng):
    a = rng.standard_normal(4).astype(np.float32)
    x = gt.from_numpy(a)
    before = (x * 3).sum()    # queued before the failing op, independent of it
    y = x.exp()
    with pytest.raises(RuntimeError, match="exp"):
        y.numpy()
    broken_exp()
    np.testing.assert_allclose(before.item(), float(a.sum() * 3), rtol=1e-5)


def test_index_tensors_read_as_torch_reads_them():
    x = gt.ones(2, 3)
    assert x[gt.tensor([1])].shape == torch.ones(2, 3)[torch.tensor([1])].shape
    assert x[gt.tensor(1)].shape == torch.ones(2, 3)[torch.tensor(1)].shape   # a 0-d int index is an int


@pytest.mark.parametrize("call", [
    lambda: gt.nn.functional.nll_loss(gt.ones(2, 2), "labels"), lambda: gt.cat([gt.ones(1), "a"]),
    lambda: gt.where(gt.ones(1) > 0, gt.ones(1), "a"), lambda: gt.ones(2).masked_fill(object(), 1.0),
    lambda: gt.nn.functional.embedding([0], gt.ones(2, 2)), lambda: gt.ones(2) + "a",
    lambda: gt.mm(gt.ones(2, 2), "a"), lambda: gt.index_select(gt.ones(2), 0, [0])])
def test_wrong_operands_never_show_internal_names(call):
    with pytest.raises((TypeError, AttributeError, RuntimeError)) as info:
        call()
    assert "_id" not in str(info.value) and "_data_of" not in str(info.value)


@pytest.mark.parametrize("owner, name, torch_name", [
    ("gt", "stft", "torch.stft"), ("gt.nn", "AdaptiveLogSoftmaxWithLoss", "torch.nn.AdaptiveLogSoftmaxWithLoss"),
    ("gt.nn.functional", "fractional_max_pool2d", "torch.nn.functional.fractional_max_pool2d"),
    ("gt.optim", "SparseAdam", "torch.optim.SparseAdam"), ("gt.cuda", "get_rng_state", "torch.cuda.get_rng_state")])
def test_a_missing_name_is_worded_alike_everywhere(owner, name, torch_name):
    import importlib
    module = importlib.import_module(owner)
    with pytest.raises(AttributeError, match=f"^module '{owner}' has no attribute '{name}': GT does not support "
                                             f"{torch_name} yet$"):
        getattr(module, name)
    with pytest.raises(AttributeError, match="GT does not support torch.Tensor.stft yet"):
        gt.ones(1).stft   # noqa: B018
