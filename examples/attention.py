"""A one-block causal self-attention model learning to continue a repeating token pattern:
Embedding, LayerNorm, a causal mask (tril, register_buffer, masked_fill), softmax, AdamW,
a cosine learning-rate schedule and gradient clipping."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)

vocab, block, d_model, batch = 8, 8, 32, 16


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.register_buffer("mask", torch.tril(torch.ones(block, block)))

    def forward(self, x):
        T = x.shape[1]
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
        scores = scores.masked_fill(self.mask[:T, :T] == 0, float("-inf"))
        return self.proj(F.softmax(scores, dim=-1) @ v)


class TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(block, d_model)
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention()
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return self.head(x)


# A text of tokens counting up and wrapping around: every next token is predictable.
text = torch.arange(vocab).repeat(64)


def make_batch():
    """Windows of ``block + 1`` tokens at random offsets: inputs and next-token targets."""
    starts = torch.randint(0, len(text) - block - 1, (batch, 1))
    seq = text[starts + torch.arange(block + 1)]
    return seq[:, :-1], seq[:, 1:]


model = TinyModel()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
steps = 40
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

for step in range(steps):
    inputs, targets = make_batch()
    logits = model(inputs)
    loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    if step % 10 == 9:
        print(step, loss.item(), scheduler.get_last_lr()[0])

# Sample a sequence from the trained model, one token at a time.
model.eval()
with torch.no_grad():
    idx = torch.zeros((1, 1), dtype=torch.long)
    for _ in range(block - 1):
        probs = F.softmax(model(idx)[:, -1, :], dim=-1)
        idx = torch.cat([idx, torch.multinomial(probs, num_samples=1)], dim=1)
print("sample", idx[0].tolist())
