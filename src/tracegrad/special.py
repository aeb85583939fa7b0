"""``tracegrad.special``: PyTorch's ``torch.special`` names for functions tracegrad has.

>>> import tracegrad as tg
>>> tg.special.expit(tg.tensor([0.0])), tg.special.xlogy(tg.tensor([0.0, 2.0]), tg.tensor([0.0, 1.0]))
(tensor([0.5000]), tensor([0., 0.]))
"""

from tracegrad._functions import (
           digamma,
           erf,
           erfc,
           erfinv,
           exp2,
           expm1,
           lgamma,
           log1p,
           log_softmax,
           logsumexp,
           mvlgamma,
           polygamma,
           round,
           sigmoid,
           softmax,
           xlogy,
)

__all__ = ["expit", "erf", "erfc", "erfinv", "exp2", "expm1", "log1p", "logsumexp", "softmax", "log_softmax", "round",
           "xlogy", "gammaln", "digamma", "psi", "polygamma", "multigammaln"]

#: The logistic function, ``sigmoid``'s name in ``torch.special``.
expit = sigmoid
#: ``lgamma``'s name in ``torch.special``.
gammaln = lgamma
#: ``digamma``'s other name in ``torch.special``.
psi = digamma
#: ``mvlgamma``'s name in ``torch.special``.
multigammaln = mvlgamma
