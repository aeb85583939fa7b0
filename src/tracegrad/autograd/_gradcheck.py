"""``gradcheck`` and ``gradgradcheck``: a function's gradients against finite differences, as PyTorch checks them.

Users check their own :class:`~tracegrad.autograd.Function` (or any function of tensors) with
them, in float64:

>>> import tracegrad as tg
>>> x = tg.tensor([0.3, -1.2], dtype=tg.float64, requires_grad=True)
>>> tg.autograd.gradcheck(lambda x: (x.sin() * x).sum(), (x,))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad._creation import tensor, zeros, zeros_like
from tracegrad._engine import grad
from tracegrad._tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """A gradient differs from its finite-difference estimate (raised by :func:`gradcheck`)."""


def _tensors(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(func: Callable[..., Any], inputs: tuple) -> tuple:
    return _tensors(func(*inputs))


def _numerical(func: Callable[..., Any], inputs: tuple, k: int, o: int, eps: float) -> np.ndarray:
    """d output[o] / d inputs[k] by central differences: shape (input numel, output numel)."""
    # Grad mode stays as it is: gradgradcheck's function computes gradients itself.
    data = inputs[k]._data
    flat = data.reshape(-1)  # a view: the input is perturbed in place and restored
    if flat.size and not np.shares_memory(flat, data):
        raise ValueError(f"gradcheck: input {k} is not contiguous; pass a contiguous copy (x.contiguous())")
    columns = []
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        plus = np.array(_outputs(func, inputs)[o]._data, dtype=np.float64).reshape(-1)
        flat[i] = keep - eps
        minus = np.array(_outputs(func, inputs)[o]._data, dtype=np.float64).reshape(-1)
        flat[i] = keep
        columns.append((plus - minus) / (2 * eps))
    size = _outputs(func, inputs)[o].numel() if not columns else columns[0].size
    return np.stack(columns) if columns else np.zeros((0, size))


def _analytical(func: Callable[..., Any], inputs: tuple, k: int, o: int) -> np.ndarray:
    """d output[o] / d inputs[k] by backward passes, one per output element."""
    out = _outputs(func, inputs)[o]
    rows = []
    for j in range(out.numel()):
        seed = zeros(out.numel(), dtype=out.dtype)
        seed[j] = 1.0
        (g,) = grad(out.reshape(-1), inputs[k], seed, retain_graph=True, allow_unused=True)
        rows.append(np.zeros(inputs[k].numel()) if g is None else np.asarray(g._data, np.float64).reshape(-1))
    return np.stack(rows, axis=1) if rows else np.zeros((inputs[k].numel(), 0))


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_batched_forward_grad: bool = False, check_forward_ad: bool = False,
              check_backward_ad: bool = True, fast_mode: bool = False, masked: bool | None = None) -> bool:
    """Whether the gradients of `func` at `inputs` match central differences (PyTorch's tolerances).

    Every floating-point input that requires grad is checked against every floating-point
    output; inputs should be float64 (PyTorch warns otherwise, and so does this).  Raises
    :class:`GradcheckError` with the two Jacobians on a mismatch, or returns False when
    `raise_exception` is False.
    """
    import warnings

    tensors = _tensors(inputs)
    checked = [k for k, x in enumerate(tensors) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them "
                         "have requires_grad=True.")
    for k in checked:
        if tensors[k]._data.dtype != np.float64:
            warnings.warn(f"Input #{k} requires gradient and is not a double precision floating point. This check "
                          f"will likely fail if all the inputs are not of double precision floating point. ",
                          UserWarning, stacklevel=2)
    outputs = _outputs(func, tensors)
    for o, out in enumerate(outputs):
        if not isinstance(out, Tensor) or out._data.dtype.kind != "f":
            continue
        for k in checked:
            numerical = _numerical(func, tensors, k, o, eps)
            analytical = _analytical(func, tensors, k, o)
            if not np.allclose(analytical, numerical, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {o} with respect to input {k},\n"
                                     f"numerical:{_format(numerical)}\nanalytical:{_format(analytical)}\n")
    return True


def _format(jacobian: np.ndarray) -> str:
    return repr(tensor(jacobian))


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
                  check_grad_dtypes: bool = False, check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False, masked: bool = False) -> bool:
    """:func:`gradcheck` of the gradients of `func` (second derivatives), with random `grad_outputs` by default."""
    tensors = _tensors(inputs)
    outputs = _outputs(func, tensors)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(tensor(rng.standard_normal(o.shape), dtype=o.dtype, requires_grad=True)
                             for o in outputs if isinstance(o, Tensor) and o._data.dtype.kind == "f")
    else:
        grad_outputs = _tensors(grad_outputs)
    n = len(tensors)
    differentiable = [k for k, x in enumerate(tensors) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivatives(*args):
        xs, gs = args[:n], args[n:]
        outs = [o for o in _outputs(func, xs) if isinstance(o, Tensor) and o._data.dtype.kind == "f"]
        got = grad(outs, [xs[k] for k in differentiable], list(gs), create_graph=True, allow_unused=True)
        return tuple(zeros_like(xs[k]) if g is None else g for g, k in zip(got, differentiable))
    return gradcheck(first_derivatives, tensors + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
