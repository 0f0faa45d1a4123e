"""A small MLP classifier on three Gaussian blobs: Dropout, cross-entropy, Adam, accuracy
with argmax, evaluation mode for the test set, and a checkpoint saved and restored."""
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)

n_classes, n_per_class, n_features = 3, 100, 2
centers = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
X = torch.cat([centers[c] + 0.8 * torch.randn(n_per_class, n_features) for c in range(n_classes)])
y = torch.cat([torch.full((n_per_class,), c, dtype=torch.long) for c in range(n_classes)])
X_test = torch.cat([centers[c] + 0.8 * torch.randn(20, n_features) for c in range(n_classes)])
y_test = torch.cat([torch.full((20,), c, dtype=torch.long) for c in range(n_classes)])


class Classifier(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.fc1 = nn.Linear(n_features, hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


model = Classifier()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

for epoch in range(60):
    model.train()
    optimizer.zero_grad()
    logits = model(X)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    if epoch % 10 == 9:
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        print(epoch, loss.item(), accuracy.item())

model.eval()
with torch.no_grad():
    test_logits = model(X_test)
    test_loss = F.cross_entropy(test_logits, y_test)
    test_accuracy = (test_logits.argmax(dim=1) == y_test).float().mean()
print("test", test_loss.item(), test_accuracy.item())

# Save a checkpoint and restore it into a fresh model.
path = os.path.join(tempfile.mkdtemp(), "classifier.pt")
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
checkpoint = torch.load(path)
restored = Classifier()
restored.load_state_dict(checkpoint["model"])
restored.eval()
with torch.no_grad():
    print("restored", F.cross_entropy(restored(X_test), y_test).item(), len(checkpoint["optimizer"]["state"]))
os.remove(path)
