"""The named tuples that reductions along a dimension return, under PyTorch's names.

>>> import tracegrad as tg
>>> isinstance(tg.tensor([[1.0, 3.0]]).max(1), tg.return_types.max)
True
"""

from tracegrad._tensor import _Kthvalue, _Max, _Median, _Min, _Sort, _Topk
from tracegrad.linalg import linalg_slogdet_result, slogdet_result

# The builtins' names on purpose: ``torch.return_types.max`` is what PyTorch users write.
max = _Max
min = _Min
sort = _Sort
topk = _Topk
median = _Median
kthvalue = _Kthvalue
slogdet = slogdet_result
linalg_slogdet = linalg_slogdet_result

__all__ = ["max", "min", "sort", "topk", "median", "kthvalue", "slogdet", "linalg_slogdet"]
