"""Device and dtype idioms of torch scripts: gt.cuda / gt.accelerator / gt.backends answer for
the worker's device; Tensor.to/cuda/cpu/is_cuda/type, legacy constructors, default dtype,
formatting, gt.compile."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import gt


def _worker_device() -> torch.device:
    return gt.debug.get_worker().device


def test_cuda_and_accelerator_answer_for_the_worker():
    on_gpu = _worker_device().type == "cuda"
    assert gt.cuda.is_available() is on_gpu
    assert gt.cuda.device_count() == (1 if on_gpu else 0)
    assert gt.accelerator.is_available() is on_gpu
    assert gt.accelerator.current_accelerator() == (torch.device("cuda") if on_gpu else None)
    assert gt.cuda.memory_allocated() >= 0 and gt.cuda.max_memory_allocated() >= 0
    gt.cuda.manual_seed(0)
    gt.cuda.manual_seed_all(0)
    gt.cuda.synchronize()
    gt.cuda.empty_cache()
    if on_gpu:
        assert gt.cuda.get_device_name() == torch.cuda.get_device_name(_worker_device())
        assert gt.cuda.is_bf16_supported() == torch.cuda.is_bf16_supported()
    else:
        assert gt.cuda.is_bf16_supported() is False
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            gt.cuda.get_device_name()


def test_cuda_device_info_comes_with_a_workers_statistics():
    stats = gt.debug.get_worker().get_stats()
    if _worker_device().type == "cuda":
        assert stats["device_info"]["name"] == torch.cuda.get_device_name(_worker_device())
    else:
        assert stats["device_info"] == {}


def test_backends_flags_are_torchs_for_the_embedded_worker():
    assert gt.backends.cudnn is torch.backends.cudnn
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        gt.backends.cuda.matmul.allow_tf32 = not before
        assert torch.backends.cuda.matmul.allow_tf32 is (not before)
    finally:
        gt.backends.cuda.matmul.allow_tf32 = before
    gt.backends.cudnn.benchmark = gt.backends.cudnn.benchmark
    assert gt.backends.mps.is_available() is (_worker_device().type == "mps")


def test_unsupported_cuda_name_says_so():
    with pytest.raises(AttributeError, match="GT does not support torch.cuda.get_rng_state yet"):
        gt.cuda.get_rng_state   # noqa: B018


def test_tensor_device_idioms():
    x = gt.ones(2, 3)
    device = gt.device("cuda" if gt.cuda.is_available() else "cpu")
    assert x.to(device) is x and x.cpu() is x and x.cuda() is x
    assert x.device == _worker_device() and x.is_cuda is (_worker_device().type == "cuda")
    assert x.nelement() == torch.ones(2, 3).nelement() == 6
    assert x.element_size() == 4 and x.is_floating_point() and not gt.ones(2, dtype=gt.long).is_floating_point()
    model = gt.nn.Linear(2, 2)
    assert model.to(device) is model


def test_type_names_and_conversions():
    where = "torch.cuda." if _worker_device().type == "cuda" else "torch."
    for dtype in (torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8):
        assert gt.ones(2, dtype=dtype).type() == where + torch.ones(2, dtype=dtype).type()[len("torch."):]
    t = torch.tensor([1.5, -2.5])
    g = gt.tensor([1.5, -2.5])
    assert g.type(gt.int64).tolist() == t.type(torch.int64).tolist()
    assert g.type("torch.DoubleTensor").dtype is t.type("torch.DoubleTensor").dtype is torch.float64


def test_legacy_constructors_as_torch(assert_matches):
    assert gt.Tensor(2, 3).shape == torch.Tensor(2, 3).shape and gt.Tensor(2, 3).dtype is torch.float32
    assert_matches(gt.Tensor([1, 2]), torch.Tensor([1, 2]))
    assert_matches(gt.FloatTensor([[1, 2]]), torch.FloatTensor([[1, 2]]))
    assert_matches(gt.LongTensor([1, 2]), torch.LongTensor([1, 2]))
    assert_matches(gt.DoubleTensor([1, 2]), torch.DoubleTensor([1, 2]))
    assert_matches(gt.BoolTensor([1, 0]), torch.BoolTensor([1, 0]))
    assert gt.LongTensor(3).shape == (3,) and gt.LongTensor(3).dtype is torch.int64
    assert gt.Tensor(torch.Size([2])).shape == torch.Tensor(torch.Size([2])).shape
    assert isinstance(gt.Tensor([1.0]), gt.Tensor)


def test_default_dtype_drives_creation_and_parameters(assert_matches):
    before = gt.get_default_dtype()
    try:
        gt.set_default_dtype(gt.float64)
        torch.set_default_dtype(torch.float64)
        assert gt.tensor([1.5]).dtype is torch.tensor([1.5]).dtype is torch.float64
        assert gt.zeros(2).dtype is gt.randn(2).dtype is torch.float64
        assert gt.nn.Linear(2, 2).weight.dtype is torch.nn.Linear(2, 2).weight.dtype
    finally:
        gt.set_default_dtype(before)
    assert gt.get_default_dtype() is torch.float32 and gt.tensor([1.5]).dtype is torch.float32


def test_matmul_precision_and_printoptions_are_torchs():
    before = gt.get_float32_matmul_precision()
    gt.set_float32_matmul_precision("high")
    assert torch.get_float32_matmul_precision() == "high"
    gt.set_float32_matmul_precision(before)
    try:
        gt.set_printoptions(precision=2)
        assert str(gt.tensor([1.23456])) == str(torch.tensor([1.23456]))
    finally:
        gt.set_printoptions(profile="default")


def test_format_and_repr_as_torch():
    t = torch.tensor(2.0 / 3.0)
    g = gt.tensor(2.0 / 3.0)
    assert f"{g:.4f}" == f"{t:.4f}" and format(g, "") == format(t, "")
    assert f"{gt.tensor([1.0, 2.0])}" == f"{torch.tensor([1.0, 2.0])}"
    with pytest.raises(TypeError):
        f"{torch.ones(2):.2f}"
    with pytest.raises(TypeError):
        f"{gt.ones(2):.2f}"
    w = torch.ones(2, requires_grad=True)
    gw = gt.ones(2, requires_grad=True)
    assert repr(gw) == repr(w) and repr(gw * 2) == repr(w * 2)


def test_compile_returns_the_same_callable_and_logs_why(caplog):
    model = gt.nn.Linear(3, 2)
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)   # GT's logger does not propagate to the root
    try:
        with caplog.at_level(logging.DEBUG, logger="gt"):
            compiled = gt.compile(model, mode="max-autotune")
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert compiled is model and "compiles the batches that repeat" in caplog.text
    fn = gt.compile(lambda x: x * 2)
    assert fn(gt.ones(2)).tolist() == [2.0, 2.0]

    @gt.compile(fullgraph=True)
    def double(x):
        return x + x
    assert double(gt.ones(1)).tolist() == [2.0]
    x = np.ones((1, 3), dtype=np.float32)
    assert compiled(gt.from_numpy(x)).tolist() == model(gt.from_numpy(x)).tolist()
