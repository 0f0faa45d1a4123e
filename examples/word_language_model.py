"""A tiny word-level LSTM language model on a synthetic corpus, trained as PyTorch's
word_language_model example trains one: batchify, truncated backpropagation through time
with the hidden state carried (detached) across chunks, dropout, gradient clipping, SGD.
Run it as written, or with ``import gt as torch``: the losses printed are the same."""
import math
import random

import torch
import torch.nn as nn

torch.manual_seed(0)
random.seed(0)

# A synthetic "language": each word is usually followed by one of two successors.
vocab = 20
words = [0]
for _ in range(1200):
    prev = words[-1]
    words.append((prev * 3 + random.choice((1, 2))) % vocab if random.random() < 0.9 else random.randrange(vocab))
data = torch.tensor(words)


def batchify(seq, batch_size):
    n = seq.size(0) // batch_size
    return seq[:n * batch_size].view(batch_size, n).t().contiguous()


class LanguageModel(nn.Module):
    def __init__(self, vocab, emb, hidden, layers, dropout):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


train = batchify(data[:1000], 8)
valid = batchify(data[1000:], 4)
model = LanguageModel(vocab, 16, 32, 2, 0.2)
optimizer = torch.optim.SGD(model.parameters(), lr=10.0)
criterion = nn.CrossEntropyLoss()
bptt = 10


def evaluate(source):
    model.eval()
    total, hidden = 0.0, None
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            n = min(bptt, source.size(0) - 1 - i)
            out, hidden = model(source[i:i + n], hidden)
            total += n * criterion(out.view(-1, vocab), source[i + 1:i + 1 + n].reshape(-1)).item()
    return total / (source.size(0) - 1)


for epoch in range(4):
    model.train()
    hidden, total, chunks = None, 0.0, 0
    for i in range(0, train.size(0) - 1 - bptt, bptt):
        x, y = train[i:i + bptt], train[i + 1:i + 1 + bptt]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = criterion(out.view(-1, vocab), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        total, chunks = total + loss.item(), chunks + 1
    val = evaluate(valid)
    print(f"epoch {epoch} train loss {total / chunks:.5f} valid loss {val:.5f} valid ppl {math.exp(val):.3f}")
