"""Train a small MLP on synthetic data with GT: train_mlp_pytorch.py with `import gt as torch`."""
import numpy as np
import gt as torch
import gt.nn as nn

torch.manual_seed(0)
rng = np.random.default_rng(0)

# Synthetic binary classification: the label depends non-linearly on the features.
X_np = rng.standard_normal((256, 8)).astype(np.float32)
y_np = ((X_np[:, 0] * X_np[:, 1] + X_np[:, 2]) > 0).astype(np.float32).reshape(-1, 1)
X = torch.from_numpy(X_np)
y = torch.from_numpy(y_np)

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
loss_fn = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

for epoch in range(100):
    optimizer.zero_grad()
    pred = model(X)
    loss = loss_fn(pred, y)
    loss.backward()
    optimizer.step()
    if epoch % 10 == 0 or epoch == 99:
        print(f"Epoch {epoch:3d}  loss {loss.item():.4f}")

with torch.no_grad():
    accuracy = ((model(X) > 0.5).float() == y).float().mean().item()
print(f"Final accuracy: {accuracy:.3f}")
