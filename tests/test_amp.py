"""Mixed precision: gt.autocast with torch's op lists (as explicit casts, so they are part of
the batch signature) and gt.amp.GradScaler, side by side with torch on the CPU (bfloat16)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import gt
import gt.amp

from devices import ON_GPU

# On CUDA, cuBLAS picks its bfloat16 GEMM kernels by the operands' layouts: GT's product and torch's may
# round an element a bfloat16 ulp (up to 2**-7 of it) apart, and the float32 results after it carry that.
BF16_TOLERANCE = {"rtol": 1e-2, "atol": 1e-5} if ON_GPU else {}


def _device() -> torch.device:
    """The worker's device: torch's references run there, under autocast for its type."""
    return gt.debug.get_worker().device


def _mlp(fw):
    return fw.nn.Sequential(fw.nn.Linear(6, 16), fw.nn.ReLU(), fw.nn.Linear(16, 4))


def test_autocast_casts_as_torchs_cpu_lists(pair, assert_matches):
    gx, tx = pair(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32))
    gw, tw = pair(np.random.default_rng(1).standard_normal((6, 6)).astype(np.float32))
    y = torch.tensor([0, 1, 2, 3])
    tf, gf = torch.nn.functional, gt.nn.functional
    cases = [lambda fw, F, x, w: x @ w, lambda fw, F, x, w: fw.matmul(x, w), lambda fw, F, x, w: F.linear(x, w),
             lambda fw, F, x, w: x.mm(w), lambda fw, F, x, w: F.softmax(x @ w, 1),
             lambda fw, F, x, w: F.cross_entropy(x @ w[:, :4], y), lambda fw, F, x, w: F.mse_loss(x @ w, x),
             lambda fw, F, x, w: (x @ w) + x, lambda fw, F, x, w: F.relu(x @ w).sum(),
             lambda fw, F, x, w: F.conv1d(x[None], w[None, :4, :2])]
    dev = _device()
    tx, tw, y = tx.to(dev), tw.to(dev), y.to(dev)
    for case in cases:
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            want = case(torch, tf, tx, tw)
        with gt.autocast(dev.type, dtype=torch.bfloat16):
            got = case(gt, gf, gx, gw)
        assert got.dtype is want.dtype
        assert_matches(got.float(), want.float(), **BF16_TOLERANCE)
    assert (gx @ gw).dtype is torch.float32   # outside autocast: float32 again


def test_autocast_nests_disables_and_restores_the_plain_functions(pair):
    plain = (gt.Tensor.__matmul__, gt.nn.functional.linear, gt.matmul)
    gx, _ = pair(np.ones((2, 2), dtype=np.float32))
    kind = _device().type
    other = "cuda" if kind == "cpu" else "cpu"
    with gt.amp.autocast(kind, dtype=torch.bfloat16):
        assert (gx @ gx).dtype is torch.bfloat16
        with gt.autocast(kind, enabled=False):
            assert (gx @ gx).dtype is torch.float32
        with gt.autocast(other, enabled=False):   # another device type's autocast: no change here
            assert (gx @ gx).dtype is torch.bfloat16
        assert (gx @ gx).dtype is torch.bfloat16
    with gt.autocast(other, dtype=torch.bfloat16):
        assert (gx @ gx).dtype is torch.float32
    assert (gt.Tensor.__matmul__, gt.nn.functional.linear, gt.matmul) == plain

    seen = []
    with gt.autocast(kind, dtype=torch.bfloat16):   # another thread's ops are not cast
        t = threading.Thread(target=lambda: seen.append((gx @ gx).dtype))
        t.start()
        t.join()
    assert seen == [torch.float32]


def test_autocast_refuses_what_torch_refuses():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        gt.autocast("tpu")
    with pytest.raises(RuntimeError, match="not supported"):
        gt.autocast("cpu", dtype=torch.float64)


def test_training_loop_with_autocast_and_grad_scaler_gives_torchs_numbers(assert_matches, twins):
    dev = _device()
    tm, gm = twins(_mlp)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    gopt = gt.optim.SGD(gm.parameters(), lr=0.1)
    tscaler = torch.amp.GradScaler(dev.type, init_scale=2.0 ** 8, growth_interval=2)
    gscaler = gt.amp.GradScaler(dev.type, init_scale=2.0 ** 8, growth_interval=2)
    rng = np.random.default_rng(0)
    for step in range(4):
        x = torch.from_numpy(rng.standard_normal((8, 6)).astype(np.float32)).to(dev)
        y = torch.from_numpy(rng.integers(0, 4, 8)).to(dev)
        losses = []
        for fw, model, opt, scaler in ((torch, tm, topt, tscaler), (gt, gm, gopt, gscaler)):
            opt.zero_grad()
            with fw.autocast(dev.type, dtype=torch.bfloat16):
                loss = fw.nn.functional.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            losses.append(loss)
        assert_matches(losses[1], losses[0].detach(), **BF16_TOLERANCE)
        assert gscaler.get_scale() == tscaler.get_scale()
    for gp, tp in zip(gm.parameters(), tm.parameters()):
        assert_matches(gp.detach(), tp.detach(), **BF16_TOLERANCE)
    assert gscaler.state_dict()["scale"] == tscaler.state_dict()["scale"]


def test_grad_scaler_skips_a_step_with_inf_gradients_and_backs_off():
    for fw in (torch, gt):
        p = fw.nn.Parameter(fw.ones(2))
        opt = fw.optim.SGD([p], lr=1.0)
        scaler = fw.amp.GradScaler("cpu", init_scale=4.0)
        scaler.scale((p * float("inf")).sum()).backward()
        assert scaler.step(opt) is None
        scaler.update()
        assert p.tolist() == [1.0, 1.0] and scaler.get_scale() == 2.0
        opt.zero_grad()
        scaler.scale((p * 3).sum()).backward()
        scaler.unscale_(opt)
        assert p.grad.tolist() == [3.0, 3.0]
        with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
            scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        assert p.tolist() == [-2.0, -2.0]
    disabled = gt.amp.GradScaler(enabled=False)
    assert disabled.scale(gt.ones(1)).tolist() == [1.0] and disabled.get_scale() == 1.0


def test_cuda_amp_spellings():
    assert isinstance(gt.cuda.amp.GradScaler(), gt.amp.GradScaler)
    with gt.cuda.amp.autocast(enabled=False):
        assert (gt.ones(1, 1) @ gt.ones(1, 1)).dtype is torch.float32


def test_autocast_state_is_part_of_the_batch_signature(use_worker):
    """The same step with and without autocast: the autocast one carries two casts more (the
    signature pins ops and dtypes, so a pattern compiled for one never runs the other)."""
    worker = use_worker(batch_size=1)
    gx = gt.ones(2, 2)

    def ops() -> int:
        return worker.get_stats()["operations"]["total"]
    start = ops()
    plain = (gx @ gx).sum()
    middle = ops()
    with gt.autocast("cpu"):
        mixed = (gx @ gx).sum()
    assert ops() - middle == (middle - start) + 2
    assert plain.dtype is torch.float32 and mixed.dtype is torch.bfloat16
    with torch.autocast("cpu"):
        assert mixed.item() == (torch.ones(2, 2) @ torch.ones(2, 2)).sum().item()
