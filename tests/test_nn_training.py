"""A tutorial-style model trained under gt and under torch from the same seed prints the same losses."""
from __future__ import annotations

import math

import numpy as np
import torch

import gt


def _tiny_attention(lib, vocab=11, d=8, T=6):
    nn, F = lib.nn, lib.nn.functional

    class TinyAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(lib.zeros(T, d))
            self.ln = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.drop = nn.Dropout(0.1)
            self.mlp = nn.Sequential(nn.Linear(d, 16), nn.GELU(), nn.Dropout(0.1), nn.Linear(16, d))
            self.norm = nn.BatchNorm1d(d)
            self.head = nn.Linear(d, vocab)
            self.register_buffer("mask", lib.tril(lib.ones(T, T)))

        def forward(self, idx):
            x = self.embed(idx) + self.pos
            q, k, v = self.qkv(self.ln(x)).chunk(3, dim=-1)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
            att = att.masked_fill(self.mask == 0, float("-inf"))
            x = x + self.proj(self.drop(F.softmax(att, dim=-1)) @ v)
            x = x + self.mlp(x)
            x = self.norm(x.transpose(1, 2)).transpose(1, 2)
            return self.head(x)

    return TinyAttention()


def _train(lib, data, targets, steps=4):
    lib.manual_seed(0)
    model = _tiny_attention(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss(label_smoothing=0.05)
    idx, tgt = lib.tensor(data), lib.tensor(targets)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model(idx)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    with lib.no_grad():
        eval_loss = loss_fn(model(idx).reshape(-1, 11), tgt.reshape(-1)).item()
    return losses, eval_loss, {k: v.detach().numpy() for k, v in model.state_dict().items()}


def test_tiny_attention_trains_to_torchs_numbers():
    rng = np.random.default_rng(0)
    data, targets = rng.integers(0, 11, (4, 6)), rng.integers(0, 11, (4, 6))
    g_losses, g_eval, g_state = _train(gt, data, targets)
    t_losses, t_eval, t_state = _train(torch, data, targets)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-5)
    np.testing.assert_allclose(g_eval, t_eval, rtol=1e-5)
    assert list(g_state) == list(t_state)
    for key in t_state:
        np.testing.assert_allclose(g_state[key], t_state[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert g_losses[-1] < g_losses[0]


def test_eval_mode_is_deterministic_and_train_mode_draws_dropout():
    gt.manual_seed(1)
    model = _tiny_attention(gt)
    idx = gt.tensor(np.arange(24).reshape(4, 6) % 11)
    model.eval()
    a, b = model(idx), model(idx)
    assert bool((a == b).all())
    model.train()
    c, d = model(idx), model(idx)
    assert not bool((c == d).all())


def _tiny_cnn(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):  # the shape of PyTorch's "Training a classifier" tutorial, smaller
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
            self.fc = nn.Linear(6 * 3 * 3, 5)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = F.relu(self.conv2(x))
            return self.fc(lib.flatten(x, 1))

    return Net()


def test_tiny_cnn_trains_to_torchs_numbers():
    rng = np.random.default_rng(1)
    images, labels = rng.standard_normal((4, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 4)
    results = []
    for lib in (gt, torch):
        lib.manual_seed(0)
        model = _tiny_cnn(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x, y = lib.tensor(images), lib.tensor(labels)
        losses = []
        for _ in range(4):
            opt.zero_grad()
            loss = lib.nn.CrossEntropyLoss()(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append(losses)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
    assert results[0][-1] < results[0][0]
