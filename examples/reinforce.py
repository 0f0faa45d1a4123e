"""REINFORCE on a tiny corridor world (after PyTorch's examples/reinforcement_learning/reinforce.py,
with a synthetic environment instead of gym's CartPole): a policy network picks left or right,
torch.distributions.Categorical samples the action and gives its log-probability, and the
policy gradient is -log_prob * normalised return."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

torch.manual_seed(543)
gamma = 0.99
eps = np.finfo(np.float32).eps.item()
N_CELLS, MAX_STEPS = 6, 20


class Corridor:
    """Start in cell 0; reach the last cell (+1) within MAX_STEPS moves, each costing 0.01."""

    def reset(self):
        self.pos, self.steps = 0, 0
        return self.observe()

    def observe(self):
        obs = torch.zeros(1, N_CELLS)
        obs[0, self.pos] = 1.0
        return obs

    def step(self, action):
        self.pos = min(max(self.pos + (1 if action == 1 else -1), 0), N_CELLS - 1)
        self.steps += 1
        done = self.pos == N_CELLS - 1 or self.steps == MAX_STEPS
        return self.observe(), (1.0 if self.pos == N_CELLS - 1 else -0.01), done


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(N_CELLS, 16)
        self.affine2 = nn.Linear(16, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        return F.softmax(self.affine2(x), dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)


def select_action(state):
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    returns = []
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    policy_loss = torch.cat([-log_prob * R for log_prob, R in zip(policy.saved_log_probs, returns)]).sum()
    optimizer.zero_grad()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]
    return policy_loss.item()


env = Corridor()
running_reward = 0.0
for i_episode in range(1, 41):
    state, ep_reward = env.reset(), 0.0
    done = False
    while not done:
        action = select_action(state)
        state, reward, done = env.step(action)
        policy.rewards.append(reward)
        ep_reward += reward
    running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
    loss = finish_episode()
    if i_episode % 5 == 0:
        print(f"Episode {i_episode}\tsteps: {env.steps}\tLast reward: {ep_reward:.2f}\t"
              f"Average reward: {running_reward:.4f}\tloss: {loss:.6f}")
