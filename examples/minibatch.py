"""Linear regression trained with shuffled minibatches: randperm each epoch and index
tensors into the data (X[idx]), SGD with momentum and a step learning-rate schedule."""
import torch

torch.manual_seed(0)

n, d = 256, 5
true_w = torch.randn(d, 1)
X = torch.randn(n, d)
Y = X @ true_w + 0.1 * torch.randn(n, 1)

model = torch.nn.Linear(d, 1)
loss_fn = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
batch_size = 32

for epoch in range(8):
    perm = torch.randperm(n)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        xb, yb = X[idx], Y[idx]
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    scheduler.step()
    print(epoch, total / n)

print("weight error", (model.weight.detach().t() - true_w).abs().max().item())
