"""The named tuples that reductions along a dimension return, under PyTorch's names.

>>> import tracegrad as tg
>>> isinstance(tg.tensor([[1.0, 3.0]]).max(1), tg.return_types.max)
True
"""

from tracegrad._tensor import _Aminmax, _Cummax, _Cummin, _Kthvalue, _Max, _Median, _Min, _Mode, _Sort, _Topk
from tracegrad.linalg import (
                              linalg_eigh_result,
                              linalg_qr_result,
                              linalg_slogdet_result,
                              linalg_svd_result,
                              qr_result,
                              slogdet_result,
                              svd_result,
)

# The builtins' names on purpose: ``torch.return_types.max`` is what PyTorch users write.
max = _Max
min = _Min
sort = _Sort
topk = _Topk
median = _Median
kthvalue = _Kthvalue
cummax = _Cummax
cummin = _Cummin
mode = _Mode
aminmax = _Aminmax
slogdet = slogdet_result
linalg_slogdet = linalg_slogdet_result
linalg_eigh = linalg_eigh_result
linalg_svd = linalg_svd_result
svd = svd_result
linalg_qr = linalg_qr_result
qr = qr_result

__all__ = ["max", "min", "sort", "topk", "median", "kthvalue", "cummax", "cummin", "mode", "aminmax", "slogdet",
           "linalg_slogdet", "linalg_eigh", "linalg_svd", "svd", "linalg_qr", "qr"]
