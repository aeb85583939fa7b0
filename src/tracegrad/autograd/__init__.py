"""Automatic differentiation: ``backward``, ``grad``, custom ``Function`` and grad-mode switches."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tracegrad.autograd.anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from tracegrad.autograd.function import Function, FunctionCtx, once_differentiable
from tracegrad.autograd.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tracegrad.autograd.graph import Node, run_backward

if TYPE_CHECKING:
    # Bound at runtime by tracegrad._tensor, which imports this package before it defines Tensor.
    from tracegrad._tensor import Tensor, TensorLike

__all__ = ["backward", "grad", "Function", "FunctionCtx", "once_differentiable", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "is_grad_enabled", "Node", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "functional", "gradcheck", "gradgradcheck",
           "GradcheckError"]


def _as_tuple(x: Any) -> tuple[Any, ...] | None:
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def _root_grads(outputs: Sequence[Tensor], grad_outputs: Sequence[TensorLike | None] | None, create_graph: bool,
                what: str = "grad_output") -> list[Any]:
    from tracegrad._tensor import Tensor, wrap
    if grad_outputs is None and len(outputs) == 1:
        out = outputs[0]
        # The common case, loss.backward(): a scalar seed of ones.
        if isinstance(out, Tensor) and out.grad_fn is not None and out._data.size == 1:
            g_arr = np.ones(out._data.shape, dtype=out._data.dtype)
            return [wrap(g_arr) if create_graph else g_arr]
    grads = []
    grad_outputs = grad_outputs or (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError("grad can be implicitly created only for scalar outputs" if not grad_outputs else
                           f"Mismatch in length: {what}s has {len(grad_outputs)} elements but outputs has "
                           f"{len(outputs)}")
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g_arr = np.ones(out._data.shape, dtype=out._data.dtype)
            grads.append(wrap(g_arr) if create_graph else g_arr)
            continue
        g_t = g if isinstance(g, Tensor) else wrap(np.asarray(g))
        if g_t.shape != out.shape:
            raise RuntimeError(f"Mismatch in shape: {what}[{i}] has a shape of {g_t.shape!r} and output[{i}] has "
                               f"a shape of {out.shape!r}.")
        if create_graph:
            grads.append(g_t.to(out._data.dtype))
        else:
            arr = g_t._data
            grads.append(arr if arr.dtype == out._data.dtype else arr.astype(out._data.dtype))
    return grads


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: TensorLike | Sequence[TensorLike | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of `tensors` into the ``.grad`` of graph leaves (or of `inputs` only).

    A non-scalar tensor needs a matching `grad_tensors` entry (the vector of
    the vector-Jacobian product); its dtype is cast to the tensor's.
    """
    tensors = _as_tuple(tensors)
    grads = _root_grads(tensors, _as_tuple(grad_tensors), create_graph)
    if create_graph:
        warnings.warn("Using backward() with create_graph=True will create a reference cycle between the parameter "
                      "and its gradient which can cause a memory leak. We recommend using autograd.grad when "
                      "creating the graph to avoid this. If you have to use this function, make sure to reset the "
                      ".grad fields of your parameters to None after use to break the cycle and avoid the leak.",
                      UserWarning, stacklevel=3)
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(tensors, grads, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=_as_tuple(inputs), accumulate=True)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: TensorLike | Sequence[TensorLike | None] | None = None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned (``.grad`` is left alone).

    >>> import tracegrad as tg
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> (g,) = tg.autograd.grad(x ** 3, x, create_graph=True)
    >>> g, tg.autograd.grad(g, x)[0]
    (tensor(12., grad_fn=<MulBackward0>), tensor(12.))
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grads = _root_grads(outputs, _as_tuple(grad_outputs), create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    result = run_backward(outputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                          inputs=inputs, accumulate=False, allow_unused=allow_unused)
    if materialize_grads:
        from tracegrad._creation import zeros_like
        result = [zeros_like(i) if r is None else r for r, i in zip(result, inputs)]
    return tuple(result)


# Imported last: they use grad, defined above.
from tracegrad.autograd import functional  # noqa: E402
from tracegrad.autograd._gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
