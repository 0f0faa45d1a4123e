"""``gt.optim``: torch.optim's optimizers and learning-rate schedulers for GT tensors."""
from gt.client.optim import lr_scheduler
from gt.client.optim.adagrad import Adagrad
from gt.client.optim.adam import Adam, AdamW
from gt.client.optim.optimizer import Optimizer
from gt.client.optim.rmsprop import RMSprop
from gt.client.optim.sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
