"""``tracegrad.autograd.functional``: Jacobians, Hessians and their products on the eager tape, as PyTorch's.

Each function takes a Python function of tensors and a tensor or a tuple of tensors, and
returns results in the same structure (a tensor for a tensor, tuples for tuples).  They run
eagerly, by reverse mode on the tape; ``tracegrad.jacobian`` and ``tracegrad.hessian`` are the
compiled counterparts.

>>> import tracegrad as tg
>>> from tracegrad.autograd.functional import jacobian, hvp
>>> jacobian(lambda x: x ** 2, tg.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
>>> hvp(lambda x: (x ** 3).sum(), tg.tensor([1.0, 2.0]), tg.tensor([1.0, 0.0]))[1]
tensor([6., 0.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracegrad._creation import ones_like, zeros, zeros_like
from tracegrad._engine import grad as _grad
from tracegrad._functions import stack
from tracegrad._grad_mode import enable_grad
from tracegrad._tensor import Tensor

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _tuple(x: Any, what: str, fn: str) -> tuple[bool, tuple]:
    """(whether `x` was a tuple or list, `x` as a tuple of tensors), with PyTorch's error for anything else."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            where = f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the"
            raise TypeError(f"{where} value at index {i} has type {type(item)}." if is_tuple
                            else f"{where} given {what} has type {type(item)}.")
    return is_tuple, items


def _untuple(is_tuple: bool, items: tuple) -> Any:
    return items if is_tuple else items[0]


def _prepared(inputs: tuple, create_graph: bool) -> tuple:
    """Inputs that require grad, as PyTorch's functional API makes them (views when the graph is kept)."""
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_() for x in inputs)


def _input_vector(v: Any, inputs: tuple, name: str) -> tuple:
    """`v` as a tuple of tensors; omitted, ones, which PyTorch allows for one input of one element."""
    if v is not None:
        return _tuple(v, "v", name)[1]
    if len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided function is a single "
                           "Tensor with a single element.")
    return (ones_like(inputs[0]),)


def _called(func: Callable[..., Any], inputs: tuple, create_graph: bool, name: str) -> tuple[tuple, bool, tuple]:
    """``(inputs made to require grad, whether func returned a tuple, its outputs as a tuple)``."""
    xs = _prepared(inputs, create_graph)
    out_tuple, outs = _tuple(func(*xs), "outputs of the user-provided function", name)
    return xs, out_tuple, outs


def _grads(outputs: tuple, inputs: tuple, grad_outputs: tuple, create_graph: bool) -> tuple:
    """Gradients of `outputs` with `grad_outputs`; zeros for inputs they do not depend on."""
    wanted = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not wanted:
        return tuple(zeros_like(x) for x in inputs)
    got = _grad([o for o, _ in wanted], inputs, [g for _, g in wanted], retain_graph=True,
                create_graph=create_graph, allow_unused=True)
    return tuple(zeros_like(x) if g is None else g for g, x in zip(got, inputs))


def _finish(items: tuple, create_graph: bool) -> tuple:
    return items if create_graph else tuple(x.detach() for x in items)


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T J)``: the vector-Jacobian product at `inputs` (`v` may be omitted for a scalar output)."""
    in_tuple, xs = _tuple(inputs, "inputs", "vjp")
    with enable_grad():
        xs, out_tuple, outs = _called(func, xs, create_graph, "vjp")
        if v is None:
            if len(outs) != 1 or outs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the user-provided function returns a single "
                                   "Tensor with a single element.")
            vs = (ones_like(outs[0]),)
        else:
            vs = _tuple(v, "v", "vjp")[1]
            for o, g in zip(outs, vs):
                if tuple(o.shape) != tuple(g.shape):
                    raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and output[0] "
                                       f"has a shape of {o.shape}.")
        result = _grads(outs, xs, vs, create_graph)
    return _untuple(out_tuple, _finish(outs, create_graph)), _untuple(in_tuple, _finish(result, create_graph))


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), J v)``: the Jacobian-vector product, by the double-backward trick (two reverse passes)."""
    in_tuple, xs = _tuple(inputs, "inputs", "jvp")
    vs = _input_vector(v, xs, "jvp")
    with enable_grad():
        xs, out_tuple, outs = _called(func, xs, create_graph, "jvp")
        # u -> J^T u is linear in u: differentiating it with respect to u along v gives J v.
        us = tuple(zeros_like(o).requires_grad_() for o in outs)
        jt_u = _grads(outs, xs, us, create_graph=True)
        result = _grads(jt_u, us, vs, create_graph)
    return _untuple(out_tuple, _finish(outs, create_graph)), _untuple(out_tuple, _finish(result, create_graph))


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of `func` at `inputs`: for each output and input, a tensor of shape output.shape + input.shape.

    Tuples of outputs and inputs give nested tuples, ``result[i][j]`` for output i and input j.
    """
    in_tuple, xs = _tuple(inputs, "inputs", "jacobian")
    with enable_grad():
        xs, out_tuple, outs = _called(func, xs, create_graph, "jacobian")
        per_output = []
        for out in outs:
            flat = out.reshape(-1)
            rows: list[list] = [[] for _ in xs]
            for k in range(flat.numel()):
                seed = zeros(flat.numel(), dtype=out.dtype)
                seed[k] = 1.0
                for j, g in enumerate(_grads((flat,), xs, (seed,), create_graph)):
                    rows[j].append(g)
            blocks = []
            for x, r in zip(xs, rows):
                block = stack(r) if r else zeros(0, *x.shape, dtype=x.dtype)
                blocks.append(block.reshape(*out.shape, *x.shape))
            per_output.append(_finish(tuple(blocks), create_graph))
    if out_tuple:
        return tuple(_untuple(in_tuple, blocks) for blocks in per_output)
    return _untuple(in_tuple, per_output[0])


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of scalar `func` at `inputs` (nested tuples for a tuple of inputs)."""
    in_tuple, xs = _tuple(inputs, "inputs", "hessian")

    def gradient(*args):
        out = func(*args)
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        grads = _grads((out.reshape(()),), args, (None,), create_graph=True)
        return _untuple(in_tuple, grads)
    return jacobian(gradient, _untuple(in_tuple, xs), create_graph=create_graph)


def _second_order(name: str, func: Callable[..., Any], inputs: Any, v: Any, create_graph: bool) -> tuple[Any, Any]:
    in_tuple, xs = _tuple(inputs, "inputs", name)
    vs = _input_vector(v, xs, name)
    with enable_grad():
        xs = _prepared(xs, create_graph)
        out = func(*xs)
        if out.numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a single element")
        grads = _grads((out.reshape(()),), xs, (None,), create_graph=True)
        if name == "vhp":
            result = _grads(grads, xs, vs, create_graph)
        else:  # H v as the jvp of the gradient (the double-backward trick)
            us = tuple(zeros_like(x).requires_grad_() for x in xs)
            ht_u = _grads(grads, xs, us, create_graph=True)
            result = _grads(ht_u, us, vs, create_graph)
    return _finish((out,), create_graph)[0], _untuple(in_tuple, _finish(result, create_graph))


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T H)`` for scalar `func`."""
    return _second_order("vhp", func, inputs, v, create_graph)


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), H v)`` for scalar `func`."""
    return _second_order("hvp", func, inputs, v, create_graph)
