"""Central finite differences, shared by the gradient tests."""

from __future__ import annotations

import numpy as np


def numeric_grad(fn, args, i, eps=1e-6) -> np.ndarray:
    """Central differences of the scalar ``fn(args)`` with respect to ``args[i]`` (float64)."""
    base = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    x = base[i]
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + eps
        fp = fn(base)
        x[idx] = old - eps
        fm = fn(base)
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
    return grad
