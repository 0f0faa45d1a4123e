"""``gt.optim``: torch.optim's optimizers and learning-rate schedulers for GT tensors."""
from gt.client.optim import lr_scheduler, swa_utils
from gt.client.optim.adadelta import Adadelta
from gt.client.optim.adagrad import Adagrad
from gt.client.optim.adam import Adam, AdamW
from gt.client.optim.adamax import Adamax
from gt.client.optim.asgd import ASGD
from gt.client.optim.lbfgs import LBFGS
from gt.client.optim.nadam import NAdam, RAdam
from gt.client.optim.optimizer import Optimizer
from gt.client.optim.rmsprop import RMSprop
from gt.client.optim.rprop import Rprop
from gt.client.optim.sgd import SGD

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "Rprop", "SGD", "lr_scheduler", "swa_utils"]
