"""Data from torch's world flows into GT: torch tensors as operands of every op, module and
loss; torch.utils.data as gt.utils.data, collating GT tensors; as_tensor / from_numpy /
tensor(torch) / numpy / tolist.  Side by side with torch in the same test."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.utils.data
from gt.utils.data import DataLoader, Dataset, TensorDataset, random_split

from devices import DEVICE


def test_gt_utils_data_is_torch_utils_data():
    assert gt.utils.data is torch.utils.data
    assert DataLoader is torch.utils.data.DataLoader and random_split is torch.utils.data.random_split


def test_torch_operands_in_arithmetic_both_ways(pair, assert_matches):
    """A CPU torch tensor is an operand's value: GT sends it to the worker's device (torch on a GPU
    would refuse to mix devices; its reference here takes the operand on the worker's device)."""
    g, t = pair(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    other = torch.linspace(-1, 1, 6).reshape(2, 3)
    o = other.to(DEVICE)
    for fn in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
               lambda a, b: a ** b.abs(), lambda a, b: a == b, lambda a, b: a > b):
        assert_matches(fn(g, other), fn(t, o))
        assert_matches(fn(other, g), fn(o, t))
    assert_matches(g @ other.T, t @ o.T)
    assert_matches(other @ g.T, o @ t.T)
    assert_matches(gt.cat([g, other]), torch.cat([t, o]))
    assert_matches(gt.maximum(other, g), torch.maximum(o, t))
    assert_matches(gt.exp(other), torch.exp(o))
    assert_matches(gt.where(other > 0, g, other), torch.where(o > 0, t, o))


def test_torch_method_given_a_gt_tensor_runs_gt_method(pair, assert_matches):
    g, t = pair(np.arange(4.0).reshape(4, 1))
    target = torch.tensor([0.0, 1.0, 5.0, 3.0])
    assert_matches(target.view_as(g), target.view_as(t))
    assert_matches(target.view_as(g).eq(g), target.to(DEVICE).view_as(t).eq(t))
    with pytest.raises(TypeError):
        torch.relu(g)   # torch functions stay torch's: it refuses a GT tensor


def test_torch_in_place_method_given_a_gt_tensor_writes_the_torch_tensor():
    t = torch.zeros(3)
    t.copy_(gt.ones(3))
    t[1] = gt.tensor(5.0)
    t.add_(gt.ones(3))
    t += gt.full((3,), 2.0)
    assert type(t) is torch.Tensor and t.tolist() == [4.0, 8.0, 4.0]


def test_torch_index_and_values_in_indexing(pair, assert_matches):
    g, t = pair(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    idx, mask = torch.tensor([2, 0]), torch.tensor([True, False, True, True])
    assert_matches(g[idx], t[idx])
    assert_matches(g[mask], t[mask])
    g[idx] = torch.full((2, 3), -1.0)
    t[idx] = torch.full((2, 3), -1.0, device=DEVICE)
    assert_matches(g, t)


def test_modules_and_losses_take_torch_tensors(assert_matches):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    gt.manual_seed(0)
    gm = gt.nn.Sequential(gt.nn.Conv2d(1, 2, 3), gt.nn.ReLU(), gt.nn.Flatten(), gt.nn.Linear(4, 3))
    x, y = torch.randn(5, 1, 4, 3), torch.tensor([0, 2, 1, 1, 0])
    tl = torch.nn.CrossEntropyLoss()(tm(x), y)
    gl = gt.nn.CrossEntropyLoss()(gm(x), y)
    assert_matches(gl, tl.detach())
    tl.backward()
    gl.backward()
    for gp, tp in zip(gm.parameters(), tm.parameters()):
        assert_matches(gp.grad, tp.grad)
    assert_matches(gt.nn.functional.mse_loss(gm(x), torch.zeros(5, 3)),
                   torch.nn.functional.mse_loss(tm(x), torch.zeros(5, 3)).detach())


def test_torch_operand_is_sent_once_and_again_after_it_changes(monkeypatch):
    worker = gt.debug.get_worker()
    puts = []
    real_put = worker.put
    monkeypatch.setattr(worker, "put", lambda i, v: (puts.append(i), real_put(i, v)))
    t = torch.ones(3)
    g = gt.zeros(3)
    a, b = g + t, g * t
    assert len(puts) == 1
    t.add_(1)    # torch's version counter moves: the next use sends the new value
    c = g + t
    assert len(puts) == 2
    assert a.tolist() == [1.0] * 3 and b.tolist() == [0.0] * 3 and c.tolist() == [2.0] * 3


def test_torch_operand_is_a_copy_the_caller_may_change(pair):
    t = torch.ones(3)
    out = gt.zeros(3) + t
    t.mul_(5)   # in place, after GT took the value: GT keeps the value it was given
    assert out.tolist() == [1.0, 1.0, 1.0]


def test_torch_operand_that_requires_grad_is_refused_by_name():
    with pytest.raises(RuntimeError, match="requires grad"):
        gt.ones(2) + torch.ones(2, requires_grad=True)


class _Squares(Dataset):
    """Items are GT tensors: default_collate stacks them into GT tensors."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return gt.full((2,), float(i)), gt.tensor(i * i)


def test_default_collate_stacks_gt_tensors():
    batches = list(DataLoader(_Squares(), batch_size=4))
    x, y = batches[0]
    assert isinstance(x, gt.Tensor) and isinstance(y, gt.Tensor)
    assert x.tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]] and y.tolist() == [0, 1, 4, 9]
    assert batches[1][1].tolist() == [16, 25]
    gx = list(DataLoader(TensorDataset(gt.arange(5.0)), batch_size=5))[0][0]
    assert isinstance(gx, gt.Tensor) and gx.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_loader_of_torch_tensors_trains_a_cnn_moved_with_to_device(assert_matches):
    """A script's loop: torch tensors from a shuffled DataLoader (two loader worker
    processes), .to(device), a CNN, SGD; the same losses and weights as torch."""
    data = TensorDataset(torch.randn(32, 1, 6, 6, generator=torch.Generator().manual_seed(3)),
                         torch.arange(32) % 3)
    device = gt.device("cuda" if gt.cuda.is_available() else "cpu")
    results = []
    for fw in (torch, gt):
        fw.manual_seed(0)
        model = fw.nn.Sequential(fw.nn.Conv2d(1, 4, 3), fw.nn.ReLU(), fw.nn.MaxPool2d(2), fw.nn.Flatten(),
                                 fw.nn.Linear(16, 3))
        model = model.to(device if fw is gt else "cpu")
        opt = fw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=2 if fw is gt else 0)
        losses = []
        for epoch in range(2):
            for x, y in loader:
                x, y = x.to("cpu"), y.to("cpu")
                opt.zero_grad()
                loss = fw.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
        results.append((losses, model[-1].weight))
    (tl, tw), (gl, gw) = results
    np.testing.assert_allclose(gl, tl, rtol=1e-5)
    assert_matches(gw.detach(), tw.detach(), rtol=1e-4, atol=1e-5)


def test_data_conversions_as_torch(pair, assert_matches):
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    assert_matches(gt.tensor(t), torch.tensor(t))
    assert_matches(gt.as_tensor(t, dtype=gt.float32), torch.as_tensor(t, dtype=torch.float32))
    assert_matches(gt.as_tensor([1, 2]), torch.as_tensor([1, 2]))
    g = gt.ones(2)
    assert gt.as_tensor(g) is g and gt.as_tensor(g, dtype=gt.float64).dtype is gt.float64
    a = np.arange(4, dtype=np.int32)
    assert_matches(gt.from_numpy(a), torch.from_numpy(a))
    gv, tv = pair(np.arange(4.0))
    np.testing.assert_array_equal(gv.numpy(), tv.cpu().numpy())
    assert gv.tolist() == tv.tolist()


def test_tensor_of_a_list_of_gt_scalars_as_torch():
    assert gt.tensor([gt.tensor(1.5), 2.0]).tolist() == torch.tensor([torch.tensor(1.5), 2.0]).tolist()
    assert gt.tensor([gt.tensor(1), gt.tensor(2)]).dtype is torch.tensor([torch.tensor(1), torch.tensor(2)]).dtype
    with pytest.raises(TypeError, match="only one element tensors"):
        gt.tensor([gt.ones(2), gt.ones(2)])


def test_torchvision_dataset_feeds_a_gt_model(assert_matches):
    """torchvision's transforms hand out torch tensors; a GT model takes them as torch's does."""
    datasets = pytest.importorskip("torchvision.datasets")
    transforms = pytest.importorskip("torchvision.transforms")
    data = datasets.FakeData(size=16, image_size=(1, 8, 8), num_classes=3, random_offset=0,
                             transform=transforms.Compose([transforms.ToTensor(),
                                                           transforms.Normalize((0.5,), (0.25,))]))
    x, y = next(iter(DataLoader(data, batch_size=16)))
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 3))
    gt.manual_seed(0)
    gm = gt.nn.Sequential(gt.nn.Conv2d(1, 2, 3), gt.nn.Flatten(), gt.nn.Linear(72, 3))
    assert_matches(gt.nn.functional.cross_entropy(gm(x), y),
                   torch.nn.functional.cross_entropy(tm(x), y).detach(), rtol=1e-4, atol=1e-5)
