"""PyTorch's VAE example, shrunk to run in seconds: a variational autoencoder on synthetic
8x8 binary-ish images from a DataLoader, with the reparameterisation trick (randn_like),
a summed binary cross-entropy plus KL divergence, Adam, a test pass under no_grad and
samples decoded from random codes."""
import numpy as np
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F


class Blobs(torch.utils.data.Dataset):
    """8x8 images of one bright bar (a row or a column), made with numpy."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.images = np.full((n, 1, 8, 8), 0.05, dtype=np.float32)
        for i in range(n):
            k = rng.integers(0, 8)
            if rng.random() < 0.5:
                self.images[i, 0, k, :] = 0.95
            else:
                self.images[i, 0, :, k] = 0.95

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], 0


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def main():
    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = torch.utils.data.DataLoader(Blobs(256, seed=0), batch_size=32, shuffle=True)
    test_loader = torch.utils.data.DataLoader(Blobs(64, seed=1), batch_size=32, shuffle=False)
    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    for epoch in range(1, 4):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader.dataset)))

        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data, _ in test_loader:
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        print('====> Test set loss: {:.4f}'.format(test_loss / len(test_loader.dataset)))

        with torch.no_grad():
            sample = model.decode(torch.randn(4, 4).to(device)).cpu()
            print('samples', sample.view(4, 8, 8).mean(dim=(1, 2)).tolist())


if __name__ == "__main__":
    main()
