"""``nn.utils``: gradient clipping, as PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tracegrad._dispatch import wrap, write_in_place
from tracegrad._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients in place so that their joint `norm_type` norm is at most `max_norm` (by
    max_norm / (norm + 1e-6) when larger); returns the norm before clipping.

    >>> import tracegrad as tg
    >>> w = tg.nn.Parameter(tg.tensor([3.0, 4.0]))
    >>> w.grad = tg.tensor([3.0, 4.0])
    >>> tg.nn.utils.clip_grad_norm_([w], 1.0)
    tensor(5.)
    """
    grads = _grads(parameters)
    if not grads:
        return wrap(np.asarray(0.0, np.float32))
    norm_type = float(norm_type)
    dtype = grads[0]._data.dtype
    if math.isinf(norm_type):
        norms = [np.abs(g._data).max(initial=0.0) for g in grads]
        total = max(norms) if norm_type > 0 else min(norms)
    else:
        norms = [np.sum(np.abs(g._data) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = np.sum(np.asarray(norms) ** norm_type) ** (1.0 / norm_type)
    total = np.asarray(total, dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    coefficient = min(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    for g in grads:
        write_in_place(g, g._data * coefficient)
    return wrap(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    for g in _grads(parameters):
        write_in_place(g, np.clip(g._data, -clip_value, clip_value))
