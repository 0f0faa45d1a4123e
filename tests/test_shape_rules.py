"""The op table's cheap shape rules (gt.ops.rules): the same result as the kernel on meta
tensors wherever a rule answers, and a first eager training step that never runs torch's
Python meta kernels (whose first call imports torch._dynamo, seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from gt.ops import OP_FUNCS, OP_NAMES, OP_RULES, OPCODE

F32, F64, F16, I64, BOOL = torch.float32, torch.float64, torch.float16, torch.int64, torch.bool


def _t(shape, dtype=F32):
    return SimpleNamespace(shape=torch.Size(shape), dtype=dtype)


# (op, tensor inputs as (shape, dtype), params): the shapes a training step gives, and
# mixed or integer dtypes, for which a rule must leave the answer to the meta kernel.
CASES = [
    ("mse_loss", [(4, 3), (4, 3)], ("mean",)),
    ("mse_loss", [(4, 3), (4, 3)], ("none",)),
    ("mse_loss", [((4, 3), F64), ((4, 3), F64)], ("sum",)),
    ("mse_loss", [((4, 3), F64), (4, 3)], ("mean",)),
    ("mse_loss", [((4, 3), I64), ((4, 3), I64)], ("mean",)),
    ("mse_loss_backward", [(), (4, 3), (4, 3)], ("mean",)),
    ("mse_loss_backward", [(4, 3), (4, 3), (4, 3)], ("none",)),
    ("mse_loss_backward", [((), F64), (4, 3), (4, 3)], ("mean",)),
    ("tanh_backward", [(4, 3), (4, 3)], ()),
    ("tanh_backward", [((4, 3), F16), ((4, 3), F16)], ()),
    ("tanh_backward", [((4, 3), F64), (4, 3)], ()),
    ("sigmoid_backward", [(2, 5), (2, 5)], ()),
    ("threshold_backward", [(2, 5), (2, 5)], (0,)),
    ("threshold_backward", [((2, 5), I64), ((2, 5), I64)], (0,)),
    ("linear_weight_grad", [(16, 8), (16, 4)], ()),
    ("linear_weight_grad", [(2, 16, 8), (2, 16, 4)], ()),
    ("linear_weight_grad", [(8,), (4,)], ()),
    ("linear_weight_grad", [((16, 8), F64), (16, 4)], ()),
    ("gelu", [(4, 3)], ("none",)),
    ("gelu", [((4, 3), F64)], ("tanh",)),
    ("gelu", [((4, 3), I64)], ("none",)),
    ("gelu_backward", [(4, 3), (4, 3)], ("tanh",)),
    ("silu", [(4, 3)], ()),
    ("silu_backward", [(4, 3), (4, 3)], ()),
    ("leaky_relu", [(4, 3)], (0.01,)),
    ("leaky_relu_backward", [(4, 3), (4, 3)], (0.2,)),
    ("cross_entropy", [(16, 3), ((16,), I64)], (1, -100)),
    ("cross_entropy", [(16, 3), ((16,), I64)], (0, -100)),
    ("cross_entropy", [(4, 3, 5, 5), ((4, 5, 5), I64)], (2, -100)),
    ("cross_entropy", [(16, 3), ((16,), I64), (3,)], (1, -100)),
    ("cross_entropy", [(16, 3), (16, 3)], (1, -100)),
    ("cross_entropy", [(3,), ((), I64)], (1, -100)),
    ("cross_entropy_backward", [(), (16, 3), ((16,), I64)], (1, -100)),
    ("cross_entropy_backward", [(16,), (16, 3), ((16,), I64)], (0, -100)),
    ("nll_loss", [(16, 3), ((16,), I64)], (1, -100)),
    ("nll_loss", [((16, 3), F64), ((16,), I64)], (0, -100)),
    ("nll_loss_backward", [(), (16, 3), ((16,), I64)], (1, -100)),
    # batch_norm: x, [weight, bias,] [running mean, var,] (affine, training, momentum, eps, which)
    *[("batch_norm", [(8, 4, 5, 5), (4,), (4,), (4,), (4,)], (True, training, 0.1, 1e-5, which))
      for training in (True, False) for which in (0, 1, 2)],
    ("batch_norm", [(8, 4), (4,), (4,)], (False, True, 0.1, 1e-5, 1)),
    ("batch_norm", [(8, 4), (4,), (4,)], (True, True, 0.1, 1e-5, 1)),
    ("batch_norm", [(8, 4, 6)], (False, True, 0.1, 1e-5, 0)),
    ("batch_norm", [(8, 4, 2, 3, 3), (4,), (4,)], (True, True, 0.1, 1e-5, 0)),
    ("batch_norm", [((8, 4, 5, 5), F64), ((4,), F64), ((4,), F64)], (True, True, 0.1, 1e-5, 0)),
    ("batch_norm", [((8, 4, 5, 5), F16), (4,), (4,), (4,), (4,)], (True, True, 0.1, 1e-5, 0)),
    ("batch_norm", [(8, 4, 5, 5), (3,), (3,)], (True, True, 0.1, 1e-5, 0)),
    ("batch_norm", [(4,)], (False, True, 0.1, 1e-5, 0)),
    *[("batch_norm_backward", [(8, 4, 5, 5), (8, 4, 5, 5), (4,), (4,), (4,), (4,)], (True, True, 0.1, 1e-5, which))
      for which in (0, 1, 2)],
    ("batch_norm_backward", [(8, 4), (8, 4), (4,), (4,)], (False, False, 0.1, 1e-5, 0)),
    ("batch_norm_backward", [(8, 4, 6), (8, 4, 6), (4,), (4,)], (True, True, 0.1, 1e-5, 2)),
    ("softmax_backward", [(4, 2, 5, 5), (4, 2, 5, 5)], (-1,)),
    ("log_softmax_backward", [(16, 3), (16, 3)], (1,)),
    ("log_softmax_backward", [((16, 3), F64), (16, 3)], (1,)),
    ("masked_fill", [(2, 5, 5), ((5, 5), BOOL)], (float("-inf"),)),
    ("masked_fill", [(5, 5), ((2, 5, 5), BOOL)], (0.0,)),
    ("masked_fill", [((5, 5), I64), ((5, 5), BOOL)], (0,)),
    ("masked_fill", [(5, 5), ((5, 5), F32)], (0.0,)),
    ("triu", [(4, 5)], (1,)),
    ("triu", [((2, 4, 5), I64)], (0,)),
    ("triu", [(5,)], (0,)),
    ("tril", [(5, 5)], (-1,)),
    # attention: q, k, v[, mask] (is_causal, scale, enable_gqa); its backward: g first, needs last
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 5)], (False, None, False)),
    ("attention", [(6, 8), (7, 8), (7, 8)], (True, 0.5, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 8), ((6, 7), BOOL)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 8), (2, 1, 6, 7)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 8), (2, 1, 5, 7)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 8), ((6, 7), I64)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 6), (2, 4, 7, 8)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 6, 8)], (False, None, False)),
    ("attention", [(2, 4, 6, 8), (2, 2, 7, 8), (2, 2, 7, 8)], (False, None, True)),
    ("attention", [((2, 4, 6, 8), F64), (2, 4, 7, 8), (2, 4, 7, 8)], (False, None, False)),
    ("attention_backward", [(2, 4, 6, 5), (2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 5)],
     (False, None, False, (True, True, True))),
    ("attention_backward", [(2, 4, 6, 5), (2, 4, 6, 8), (2, 4, 7, 8), (2, 4, 7, 5)],
     (True, None, False, (True, False, True))),
    ("attention_backward", [(2, 6, 8), (2, 6, 8), (2, 7, 8), (2, 7, 8), ((6, 7), BOOL)],
     (False, None, False, (True, True, True, False))),
    # layer_norm: x[, weight[, bias]] (normalized_shape, eps); its backward: g first, which last
    ("layer_norm", [(8, 16, 64), (64,), (64,)], ((64,), 1e-5)),
    ("layer_norm", [(8, 16, 64)], ((16, 64), 1e-5)),
    ("layer_norm", [(8, 16, 64), (64,)], ((64,), 1e-5)),
    ("layer_norm", [(8, 16, 64), (32,), (32,)], ((64,), 1e-5)),
    ("layer_norm", [(8, 16, 64)], ((32,), 1e-5)),
    ("layer_norm", [((8, 16, 64), F64), (64,), (64,)], ((64,), 1e-5)),
    *[("layer_norm_backward", [(8, 16, 64), (8, 16, 64), (64,), (64,)], ((64,), 1e-5, which)) for which in (0, 1, 2)],
    ("layer_norm_backward", [(8, 16, 64), (8, 16, 64)], ((16, 64), 1e-5, 0)),
]


def _spec(s):
    return _t(s[0], s[1]) if len(s) == 2 and isinstance(s[0], tuple) else _t(s)


@pytest.mark.parametrize("name,specs,params", CASES)
def test_rule_agrees_with_meta_kernel(name, specs, params):
    code = OPCODE[name]
    inputs = tuple(_spec(s) for s in specs)
    answer = OP_RULES[code](inputs, params)
    metas = [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in inputs]
    try:
        res = OP_FUNCS[code](*metas, *params)
    except RuntimeError:   # torch refuses these inputs: the rule must not answer for them
        assert answer is None
        return
    if answer is not None:
        assert (torch.Size(answer[0]), answer[1]) == (res.shape, res.dtype), OP_NAMES[code]


def test_rules_answer_for_training_inputs():
    """The rules answer for what a training step gives (a test of the rules above that always
    returned None would pass them)."""
    answered = [name for name, specs, params in CASES
                if OP_RULES[OPCODE[name]](tuple(_spec(s) for s in specs), params) is not None]
    assert {"mse_loss", "mse_loss_backward", "tanh_backward", "sigmoid_backward", "threshold_backward",
            "linear_weight_grad", "gelu", "gelu_backward", "silu", "leaky_relu", "cross_entropy",
            "cross_entropy_backward", "nll_loss", "nll_loss_backward", "batch_norm",
            "batch_norm_backward", "softmax_backward", "log_softmax_backward", "masked_fill", "triu", "tril", "attention", "attention_backward", "layer_norm",
            "layer_norm_backward"} <= set(answered)


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as exc:   # noqa: BLE001 - the type is what is compared
        return type(exc)
    return None


@pytest.mark.parametrize("fn,x,target", [
    ("cross_entropy", ((4, 3), F32), ((3,), I64)),
    ("cross_entropy", ((4, 3), F32), ((4, 3), I64)),
    ("mse_loss", ((4, 3), F32), ((4, 2), F32)),
])
def test_bad_inputs_raise_torchs_errors(fn, x, target):
    import gt
    import gt.nn.functional as F
    xs, ts = torch.zeros(x[0], dtype=x[1]), torch.zeros(target[0], dtype=target[1])
    want = _error(getattr(torch.nn.functional, fn), xs, ts)
    assert want is not None
    assert _error(getattr(F, fn), gt.tensor(xs), gt.tensor(ts)) is want


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_mixed_dtypes_promote_as_torch(reduction):
    """The meta kernel's answer where the rule steps aside: float32 against float64."""
    import gt
    import gt.nn.functional as F
    a, b = torch.randn(4, 3), torch.randn(4, 3, dtype=F64)
    want = torch.nn.functional.mse_loss(a, b, reduction=reduction)
    got = F.mse_loss(gt.tensor(a), gt.tensor(b), reduction=reduction)
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
    torch.testing.assert_close(torch.as_tensor(got.numpy()), want.cpu())


STEP = r"""
import json, sys, time
import gt, gt.nn as nn
act, loss_name, opt_name = sys.argv[1:4]
gt.manual_seed(0)
if act == "cnn":   # convolution, BatchNorm, pooling
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    x = gt.randn(16, 3, 4, 4)
elif act == "transformer":   # triu (the mask), attention, LayerNorm
    layer, head = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), nn.Linear(8, 3)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    model = nn.ModuleDict({"layer": layer, "head": head})
    forward = lambda x: head(layer(x, src_mask=mask, is_causal=True)).mean(dim=1)
    x = gt.randn(16, 5, 8)
else:
    A = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[act]
    model = nn.Sequential(nn.Linear(4, 8), A(), nn.Linear(8, 3))
    x = gt.randn(16, 4)
if act != "transformer":
    forward = model
y, loss_fn = (gt.randn(16, 3), nn.MSELoss()) if loss_name == "mse" else (gt.randint(0, 3, (16,)), nn.CrossEntropyLoss())
opt = gt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt_name == "sgd" else \
    gt.optim.Adam(model.parameters(), lr=0.01)
before = "torch._dynamo" in sys.modules
start = time.perf_counter()
for _ in range(2):
    opt.zero_grad()
    loss = loss_fn(forward(x), y)
    loss.backward()
    opt.step()
    value = loss.item()
print(json.dumps({"before": before, "after": "torch._dynamo" in sys.modules, "loss": value,
                  "seconds": time.perf_counter() - start}))
"""


@pytest.mark.parametrize("act,loss,opt", [("tanh", "mse", "sgd"), ("relu", "ce", "adam"), ("sigmoid", "mse", "adam"),
                                          ("gelu", "ce", "sgd"), ("cnn", "ce", "sgd"),
                                          ("transformer", "mse", "adam")])
def test_first_eager_step_imports_no_dynamo(act, loss, opt):
    env = dict(os.environ, GT_AUTO_COMPILE="0", PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", STEP, act, loss, opt], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert not res["after"], "a first eager training step imported torch._dynamo (a Python meta kernel ran)"
    assert res["loss"] == res["loss"] and res["loss"] > 0
