"""Views share their base's value: in-place ops through a view change the base, and in-place
ops on a base change its views, as in torch.  Each case runs in torch and in GT side by side."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.worker.worker import Worker


def _values(out) -> list:
    return [np.asarray(t.tolist()) for t in out]


def _same(case) -> None:
    expected, got = _values(case(torch)), _values(case(gt))
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6)


def _base(lib):
    return lib.arange(12, dtype=lib.float32).reshape(3, 4)


def _slice_written(lib):
    x = _base(lib)
    v = x[1:3]
    v.add_(1.0)
    x.mul_(2.0)
    return x, v


def _select_filled(lib):
    x = _base(lib)
    row = x[1]
    row.fill_(-1.0)
    col = x[:, 2]
    col.mul_(10.0)
    return x, row, col


def _transposed(lib):
    x = _base(lib)
    t = x.t()
    t[0] += 100.0
    x.sub_(1.0)
    p = x.unsqueeze(0).permute(2, 0, 1)
    p.mul_(-1.0)
    return x, t, p


def _reshaped(lib):
    x = _base(lib)
    flat = x.view(-1)
    flat[5] = 0.5
    sq = x.unsqueeze(1).squeeze(1)
    sq.add_(3.0)
    f = x.flatten()
    x.div_(2.0)
    return x, flat, sq, f


def _chain(lib):
    x = _base(lib)
    v = x[1:].t()[1:3]
    v.mul_(0.0)
    x.add_(1.0)
    return x, v


def _split_and_unbind(lib):
    x = _base(lib)
    a, b = x.split(2, dim=1)
    b.zero_()
    rows = x.unbind(0)
    rows[2].add_(7.0)
    first = x.narrow(1, 0, 1)
    first.fill_(9.0)
    return x, a, b, rows[0], rows[2], first


def _written_into_view(lib):
    x = _base(lib)
    r = x[0]
    r[1] = 42.0
    r[2:] = lib.tensor([5.0, 6.0])
    return x, r


def _detach_and_data(lib):
    x = _base(lib).requires_grad_(True)
    d = x.detach()
    d.mul_(2.0)
    data = x.data
    with lib.no_grad():
        x.add_(1.0)
    return x.detach(), d, data


def _contiguous_copy(lib):
    x = _base(lib)
    c = x.t().contiguous()
    c.add_(1.0)
    return x, c


def _reshape_views_or_copies_as_torch(lib):
    x = _base(lib)
    copied = x.t().reshape(-1)        # a transposed layout cannot be flattened in place: a copy
    copied.add_(100.0)
    cols = x[:, 1:3].reshape(-1)      # nor can a column slice
    cols.mul_(0.0)
    rows = x[1:3].reshape(-1)         # whole rows can: a view
    rows.add_(1.0)
    lifted = x.t().unsqueeze(0)       # adding a dim always views
    lifted[0, 0].fill_(-5.0)
    heads = _base(lib).reshape(1, 3, 2, 2)
    merged = heads.transpose(1, 2).reshape(1, 2, 6)   # attention's head merge copies
    merged += 1.0
    return x, copied, cols, rows, lifted, heads, merged


def _contiguous_views(lib):
    x = _base(lib)
    rows = x[1:].contiguous()         # already contiguous in torch: the view itself
    rows.add_(1.0)
    cols = x[:, 1:].contiguous()      # not: a copy
    cols.add_(10.0)
    return x, rows, cols


def _diagonals(lib):
    x = lib.arange(24, dtype=lib.float32).reshape(2, 3, 4)
    d = x.diagonal(1, 1, 2)        # a (2, 3) view of x
    d.add_(100.0)
    main = lib.diagonal(x[0])
    main[1] = -5.0
    x.mul_(2.0)                    # reaches both diagonals
    return x, d, main, d.t().contiguous()


def _moved(lib):
    x = lib.arange(24, dtype=lib.float32).reshape(2, 3, 4)
    m = x.movedim(0, -1)           # a permuted view
    m[0] = 7.0
    a = lib.moveaxis(x, (0, 1), (2, 0))
    x.add_(1.0)
    flags = lib.tensor([float(m.is_contiguous()), float(a.is_contiguous()), float(m.flatten().is_contiguous())])
    return x, m, a, flags


@pytest.mark.parametrize("case", [_slice_written, _select_filled, _transposed, _reshaped, _chain, _split_and_unbind,
                                  _written_into_view, _detach_and_data, _contiguous_copy,
                                  _reshape_views_or_copies_as_torch, _contiguous_views, _diagonals, _moved],
                         ids=lambda f: f.__name__.strip("_"))
def test_views_share_their_base_as_in_torch(use_worker, case):
    use_worker(batch_size=1)
    _same(case)


def test_views_share_their_base_in_batched_and_compiled_workers(use_worker):
    use_worker(batch_size=1024)
    _same(_chain)
    cfg = gt_config.Config(auto_compile=False, hot_threshold=10, batch_size=1024, compile=True, device="cpu")
    runtime.connect(Worker("compiled_views", batch_size=1024, config=cfg))

    def loop(lib):
        x = lib.ones(3, 4) * 1.5
        out = []
        for _ in range(3):
            with lib.no_grad():
                v, w = x.t(), x[1]
            with lib.no_grad():
                x.mul_(2.0)
                w.add_(1.0)
            out += [v.sum(), w.sum(), x.sum()]
        return out
    _same(loop)


def test_view_refuses_a_shape_the_layout_cannot_view_as_in_torch(use_worker):
    use_worker(batch_size=1)
    for lib in (torch, gt):
        x = _base(lib)
        with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
            x.t().view(-1)
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            x[:, 1:3].view(6)
        assert x[1:3].view(8).shape == (8,) and x.t().view(4, 1, 3).shape == (4, 1, 3)


def test_in_place_on_an_expanded_view_is_refused_as_in_torch(use_worker):
    use_worker(batch_size=1)
    for lib in (torch, gt):
        e = lib.ones(1, 3).expand(2, 3)
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            e.add_(1.0)


def test_in_place_on_a_view_of_a_leaf_that_requires_grad_is_refused_before_any_change(use_worker):
    use_worker(batch_size=1)
    for lib in (torch, gt):
        w = lib.zeros(2, 3, requires_grad=True)
        v = w[0]
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            v.add_(1.0)
        np.testing.assert_array_equal(np.asarray(v.tolist()), np.zeros(3))
        with lib.no_grad():
            v.add_(1.0)
        np.testing.assert_array_equal(np.asarray(w.tolist()), [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


def test_gradients_through_a_view_written_in_place(use_worker):
    use_worker(batch_size=1)

    def case(lib):
        lib.manual_seed(0)
        x = lib.randn(3, 4).requires_grad_(True) if lib is gt else torch.randn(3, 4, requires_grad=True)
        y = x * 2.0
        v = y[1:]
        v.mul_(3.0)
        (y * y).sum().backward()
        return x.grad, y.detach()
    _same(case)


def test_gradients_through_a_diagonal_written_in_place(use_worker):
    grads = []
    for lib in (torch, gt):
        w = lib.tensor(np.arange(1.0, 10.0).reshape(3, 3), requires_grad=True)
        y = w * 1.0
        y.diagonal().mul_(2.0).add_(w[0] * w[1])       # writes into y through its diagonal
        (y * lib.tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
        grads.append((y.detach().numpy(), w.grad.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])


def test_gradients_of_two_leaves_stay_apart_when_one_is_changed(use_worker):
    """Backward reshapes one upstream gradient for each leaf: those must not be views of one another."""
    use_worker(batch_size=1)

    def case(lib):
        a = lib.ones(2, 2, requires_grad=True)
        b = lib.ones(4, 1, requires_grad=True)
        (a.reshape(4) + b.reshape(4)).sum().backward()   # both gradients: reshapes of one
        a.grad.zero_()
        return a.grad, b.grad
    _same(case)


def test_an_optimizer_step_reaches_kept_views_of_a_parameter(use_worker):
    use_worker(batch_size=1)

    def case(lib):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 2)
        data, entry = model.weight.data, model.state_dict()["bias"]
        opt = lib.optim.SGD(model.parameters(), lr=0.5)
        model(lib.ones(4, 3)).sum().backward()
        opt.step()
        return model.weight.detach(), data, model.bias.detach(), entry
    _same(case)
