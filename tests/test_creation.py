"""Tensor creation against torch: values, dtypes, argument forms, seeds, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt


# -- deterministic -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("args, kw", [((2, 3), {}), (((2, 3),), {}), (([4],), {}), ((torch.Size([2, 1, 3]),), {}),
                                      (((),), {}), ((0, 3), {}), ((2,), {"dtype": torch.float64}),
                                      ((3,), {"dtype": torch.int64}), ((3,), {"dtype": torch.bool})])
def test_filled_creations_equal_torch(name, args, kw, assert_matches):
    want = getattr(torch, name)(*args, **kw)
    if name == "empty":
        want = torch.zeros_like(want)      # GT's empty tensors hold zeros
    assert_matches(getattr(gt, name)(*args, **kw), want)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "randn", "rand"])
def test_size_as_a_keyword(name):
    assert tuple(getattr(gt, name)(size=(2, 3)).shape) == tuple(getattr(torch, name)(size=(2, 3)).shape) == (2, 3)
    with pytest.raises(TypeError):
        getattr(torch, name)(2, size=(2,))
    with pytest.raises(TypeError, match="multiple values for argument 'size'"):
        getattr(gt, name)(2, size=(2,))


@pytest.mark.parametrize("size, value, kw", [((2, 3), 1.5, {}), ((2,), 3, {}), ((3,), True, {}), ((), -0.0, {}),
                                             ((2, 2), float("inf"), {}), ((2,), 7, {"dtype": torch.float16}),
                                             (4, 2.5, {"dtype": torch.float64})])
def test_full_equals_torch_including_dtype_inference(size, value, kw, assert_matches):
    want = torch.full((size,) if isinstance(size, int) else size, value, **kw)
    got = gt.full(size, value, **kw)
    assert_matches(got, want)
    assert np.signbit(got.numpy()).tolist() == np.signbit(want.numpy()).tolist()


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like"])
@pytest.mark.parametrize("dtype", [None, torch.float64, torch.int32])
def test_like_creations_follow_the_input(name, dtype, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 2)).astype(np.float32))
    want = getattr(torch, name)(t, dtype=dtype)
    if name == "empty_like":
        want = torch.zeros_like(want)
    assert_matches(getattr(gt, name)(g, dtype=dtype), want)


def test_full_like_casts_the_value_to_the_inputs_dtype(assert_matches):
    t = torch.arange(4)
    assert_matches(gt.full_like(gt.arange(4), 2.7), torch.full_like(t, 2.7))
    assert_matches(gt.full_like(gt.arange(4), 2.7, dtype=torch.float32), torch.full_like(t, 2.7, dtype=torch.float32))


@pytest.mark.parametrize("args, kw", [((5,), {}), ((2, 9), {}), ((1, 2, 0.25), {}), ((0.5, 3.0), {}),
                                      ((10, 0, -3), {}), ((5,), {"dtype": torch.float64}), ((0,), {}),
                                      ((1, 4), {"dtype": "float32"})])
def test_arange_equals_torch(args, kw, assert_matches):
    want_kw = {k: (getattr(torch, v) if isinstance(v, str) else v) for k, v in kw.items()}
    assert_matches(gt.arange(*args, **kw), torch.arange(*args, **want_kw), rtol=0, atol=0)


@pytest.mark.parametrize("args, kw", [((-np.pi, np.pi, 2000), {}), ((0, 1, 5), {}), ((3, -1, 4), {}),
                                      ((0, 1, 1), {}), ((0, 1, 0), {}), ((0, 10, 4), {"dtype": torch.int64}),
                                      ((0.0, 1.0, 7), {"dtype": torch.float64})])
def test_linspace_equals_torch(args, kw, assert_matches):
    assert_matches(gt.linspace(*args, **kw), torch.linspace(*args, **kw), rtol=0, atol=0)


@pytest.mark.parametrize("args, kw", [((3,), {}), ((2, 4), {}), ((4, 2), {}), ((0,), {}),
                                      ((3,), {"dtype": torch.int64}), ((2,), {"dtype": torch.bool})])
def test_eye_equals_torch(args, kw, assert_matches):
    assert_matches(gt.eye(*args, **kw), torch.eye(*args, **kw))


def test_deterministic_creations_are_worker_ops_not_data(use_worker):
    """They ship no data: one instruction each, no put."""
    w = use_worker(batch_size=1)
    puts = []
    w.put = lambda i, v: puts.append(i)
    before = w.get_stats()["operations"]["total"]
    gt.zeros(1000, 1000), gt.ones(3), gt.full((2,), 1.0), gt.arange(10**6), gt.linspace(0, 1, 10**6), gt.eye(500)
    gt.zeros_like(gt.ones(2)), gt.empty(4)
    assert puts == []
    assert w.get_stats()["operations"]["total"] - before == 9


def test_requires_grad_and_dtype_names(assert_matches):
    for x in (gt.zeros(2, requires_grad=True), gt.ones(2, dtype="float64", requires_grad=True),
              gt.randn(2, requires_grad=True), gt.linspace(0, 1, 3, requires_grad=True)):
        assert x.requires_grad and x.is_leaf
    assert gt.zeros(2, dtype="float64").dtype == torch.float64
    assert gt.ones(2, dtype="torch.int32").dtype == torch.int32
    assert gt.full((2,), 1, dtype="long").dtype == torch.int64
    assert gt.tensor([1, 2], dtype="float16").dtype == torch.float16
    assert gt.zeros(2, device="cpu").shape == (2,)
    (gt.ones(2, requires_grad=True) * 3).sum().backward()


# -- from data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, kw", [([1, 2, 3], {}), ([[1.5, 2], [3, 4]], {}), (3.0, {}), (True, {}),
                                      ([1, 2], {"dtype": torch.float32}), ([], {}), ([[1, 0]], {"dtype": torch.bool})])
def test_tensor_from_python_data_equals_torch(data, kw, assert_matches):
    assert_matches(gt.tensor(data, **kw), torch.tensor(data, **kw))


def test_tensor_from_numpy_torch_and_gt_tensors_copies(rng, assert_matches):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    g = gt.from_numpy(a)
    a[0, 0] = 100.0                       # GT copied the array: later writes do not reach it
    assert g.numpy()[0, 0] != 100.0
    t = torch.tensor(a)
    assert_matches(gt.tensor(t), t)
    assert_matches(gt.tensor(t, dtype=torch.float64), t.double())
    assert_matches(gt.tensor(gt.tensor(t), dtype=torch.float64), t.double())


def test_bad_creation_arguments_raise_torchs_errors():
    with pytest.raises(RuntimeError):
        torch.zeros(-1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        gt.zeros(-1)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        gt.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        gt.arange(0, 5, -1)
    with pytest.raises(RuntimeError, match="number of steps must be non-negative"):
        gt.linspace(0, 1, -2)
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0"):
        gt.eye(-1)
    with pytest.raises(TypeError, match="unknown dtype name 'float33'"):
        gt.zeros(2, dtype="float33")
    with pytest.raises(TypeError, match="does not support dtype torch.complex64"):
        gt.ones(2, dtype=torch.complex64)
    with pytest.raises(TypeError, match="fill_value must be a number"):
        gt.full((2,), "x")
    with pytest.raises(TypeError, match="expected np.ndarray"):
        gt.from_numpy([1, 2])
    with pytest.raises(TypeError, match="does not support numpy arrays of dtype complex128"):
        gt.from_numpy(np.ones(2, np.complex128))
    with pytest.raises(RuntimeError, match="floating point"):
        gt.zeros(2, dtype=torch.int64, requires_grad=True)


# -- random ------------------------------------------------------------------------------------
RANDOM = [
    ("randn", (3, 4), {}), ("randn", ((2, 5),), {"dtype": torch.float64}), ("randn", ((),), {}),
    ("rand", (4, 3), {}), ("rand", ([6],), {"dtype": torch.float16}),
    ("randint", (10, (5,)), {}), ("randint", (3, 10, (2, 3)), {}), ("randint", (5, (4,)), {"dtype": torch.int32}),
    ("randperm", (10,), {}), ("randperm", (7,), {"dtype": torch.int32}),
]


@pytest.mark.parametrize("name, args, kw", RANDOM, ids=[f"{n}{a}" for n, a, _ in RANDOM])
@pytest.mark.parametrize("seed", [0, 1234])
def test_random_values_equal_torchs_under_the_same_seed(name, args, kw, seed, assert_matches):
    torch.manual_seed(seed)
    want = [getattr(torch, name)(*args, **kw) for _ in range(2)]
    gt.manual_seed(seed)
    got = [getattr(gt, name)(*args, **kw) for _ in range(2)]
    for g, t in zip(got, want):
        assert_matches(g, t, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["randn_like", "rand_like"])
def test_random_like_equals_torch(name, assert_matches):
    t_in = torch.zeros(3, 2, dtype=torch.float64)
    torch.manual_seed(5)
    want = getattr(torch, name)(t_in)
    gt.manual_seed(5)
    assert_matches(getattr(gt, name)(gt.zeros(3, 2, dtype=torch.float64)), want, rtol=0, atol=0)


SAMPLERS = [
    ("normal", (0.5, 2.0, (3, 2)), {}),
    ("normal", ("probs", 1.0), {}),
    ("normal", ("probs", "probs"), {}),
    ("bernoulli", ("probs",), {}),
    ("bernoulli", ("probs", 0.3), {}),
    ("multinomial", ("probs", 2), {}),
    ("multinomial", ("probs", 6, True), {}),
]


@pytest.mark.parametrize("name, args, kw", SAMPLERS, ids=[f"{n}{a}" for n, a, _ in SAMPLERS])
def test_samplers_equal_torchs_under_the_same_seed(name, args, kw, rng, pair, assert_matches):
    """Sampling from a tensor of parameters (a sync point: the values are read) draws torch's samples."""
    g_probs, t_probs = pair(rng.random((3, 4)).astype(np.float32) + 0.05)
    t_probs = t_probs.cpu()   # GT draws with torch's CPU generator, on the client: so does the reference
    torch.manual_seed(21)
    want = getattr(torch, name)(*[t_probs if a == "probs" else a for a in args], **kw)
    gt.manual_seed(21)
    got = getattr(gt, name)(*[g_probs if a == "probs" else a for a in args], **kw)
    assert_matches(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("name, args", [("uniform_", (-0.1, 0.1)), ("normal_", (0.5, 2.0)), ("random_", (0, 10)),
                                        ("exponential_", ()), ("bernoulli_", (0.3,))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_place_random_methods_equal_torchs(name, args, dtype, assert_matches):
    torch.manual_seed(8)
    want = getattr(torch.zeros(3, 4, dtype=dtype), name)(*args)
    gt.manual_seed(8)
    x = gt.zeros(3, 4, dtype=dtype)
    assert getattr(x, name)(*args) is x
    assert_matches(x, want, rtol=0, atol=0)


def test_in_place_random_methods_follow_torchs_autograd_rules(assert_matches):
    p, tp = gt.nn.Parameter(gt.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tp.uniform_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        p.uniform_()
    torch.manual_seed(2)
    tp.data.uniform_(-1, 1)             # the classic init idiom, through .data
    gt.manual_seed(2)
    p.data.uniform_(-1, 1)
    assert_matches(p.detach(), tp.detach(), rtol=0, atol=0)
    assert p.requires_grad and p.is_leaf


def test_tensor_sampling_methods_equal_torchs(rng, pair, assert_matches):
    g, t = pair(rng.random((2, 5)).astype(np.float32))
    t = t.cpu()   # GT draws with torch's CPU generator, on the client: so does the reference
    torch.manual_seed(4)
    want = (t.multinomial(3), t.bernoulli())
    gt.manual_seed(4)
    assert_matches(g.multinomial(3), want[0], rtol=0, atol=0)
    assert_matches(g.bernoulli(), want[1], rtol=0, atol=0)


def test_a_generator_argument_is_used(assert_matches):
    want = torch.randn(4, generator=torch.Generator().manual_seed(7))
    assert_matches(gt.randn(4, generator=torch.Generator().manual_seed(7)), want, rtol=0, atol=0)
    assert_matches(gt.randint(0, 9, size=(3,), generator=torch.Generator().manual_seed(2)),
                   torch.randint(0, 9, size=(3,), generator=torch.Generator().manual_seed(2)))


def test_manual_seed_seeds_torchs_generator_too():
    gt.manual_seed(3)
    a = torch.randn(3)
    torch.manual_seed(3)
    assert torch.equal(a, torch.randn(3))


def test_rng_state_round_trips_and_matches_torchs(tmp_path, assert_matches):
    gt.manual_seed(11)
    state = gt.get_rng_state()
    assert isinstance(state, gt.Tensor) and state.dtype == torch.uint8
    torch.manual_seed(11)
    assert torch.equal(torch.from_numpy(state.numpy()), torch.get_rng_state())
    first = gt.rand(4)
    gt.set_rng_state(state)
    assert_matches(gt.rand(4), torch.from_numpy(first.numpy()), rtol=0, atol=0)
    gt.set_rng_state(torch.from_numpy(state.numpy()))   # a torch tensor works too
    assert_matches(gt.rand(4), torch.from_numpy(first.numpy()), rtol=0, atol=0)
    assert gt.Generator is torch.Generator and gt.initial_seed() == torch.initial_seed() == 11
    with pytest.raises(TypeError):
        gt.set_rng_state([1, 2])


def test_random_tensor_inside_a_pending_batch_does_not_cut_it(batched_worker, assert_matches):
    """A put of a fresh id leaves the pending batch alone, and the batch still sees the value."""
    x = gt.ones(3) * 2.0
    y = x + 1.0
    assert batched_worker.pending_operations
    pending = len(batched_worker.pending_operations)
    gt.manual_seed(0)
    noise = gt.randn(3)
    assert len(batched_worker.pending_operations) == pending
    z = y * noise
    torch.manual_seed(0)
    assert_matches(z, (torch.ones(3) * 2.0 + 1.0) * torch.randn(3), rtol=0, atol=0)
