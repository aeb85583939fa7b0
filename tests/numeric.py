"""Central finite differences, shared by the gradient tests, and a custom Function with a known derivative."""

from __future__ import annotations

import numpy as np

import tracegrad as tg


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


def numeric_jacobian(fn, x: np.ndarray, eps=1e-6) -> np.ndarray:
    """Central differences of the array function ``fn(x)`` (arrays in and out): shape ``fn(x).shape + x.shape``."""
    base = fn(x)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.reshape(-1)[i] = eps
        cols.append((fn(x + e) - fn(x - e)) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(base) + x.shape)


class Cube(tg.autograd.Function):
    """x ** 3 with a hand-written backward, 3 x^2 g."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g
