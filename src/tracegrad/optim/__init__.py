"""``tracegrad.optim``: PyTorch's optimizers with PyTorch's update formulas (SGD, Adam, AdamW, RMSprop,
Adagrad), ``optim.lr_scheduler``, and ``train_step``, a whole training step compiled.

Each optimizer updates its parameters in place, outside autograd, from their ``.grad``.

>>> import tracegrad as tg
>>> w = tg.nn.Parameter(tg.tensor([1.0, -2.0]))
>>> opt = tg.optim.SGD([w], lr=0.5)
>>> (w ** 2).sum().backward()
>>> opt.step()
>>> w
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""

from tracegrad.optim import lr_scheduler
from tracegrad.optim.compiled import TrainStep, train_step
from tracegrad.optim.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, store_state

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler", "train_step", "TrainStep",
           "store_state"]
