"""``tracegrad.func``: PyTorch's functional API (``torch.func``), backed by the compiler.

``functional_call`` runs a module with the parameters and buffers you pass
(a dict by qualified name), so a model's loss is a function of its
parameters; ``grad``, ``grad_and_value``, ``vjp``, ``jacrev`` and
``hessian`` compile such functions (trace, symbolic adjoint, executor or
kernel) like :func:`tracegrad.grad`.

>>> import tracegrad as tg
>>> from tracegrad.func import functional_call, grad
>>> net = tg.nn.Linear(2, 1)
>>> params = {"weight": tg.tensor([[1.0, 1.0]]), "bias": tg.tensor([0.0])}
>>> x = tg.tensor([[1.0, 2.0]])
>>> grad(lambda p: functional_call(net, p, (x,)).sum())(params)
{'weight': tensor([[1., 2.]]), 'bias': tensor([1.])}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tracegrad import _transforms
from tracegrad.nn.modules import Module

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jacrev", "hessian"]


def _owner(module: Module, name: str) -> tuple[Module, str]:
    *path, attr = name.split(".")
    owner = module
    for part in path:
        child = owner._modules.get(part)
        if child is None:
            return module, name  # not a submodule path: reported as an unexpected key
        owner = child
    return owner, attr


def functional_call(module: Module, parameter_and_buffer_dicts: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    args: Any = None, kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the named parameters and buffers replaced by the given tensors for
    this call only (the module is left as it was).  Names are qualified (``"0.weight"``); with
    `tie_weights`, a tensor registered under several names is replaced under all of them; with `strict`,
    the dicts must name every parameter and buffer and nothing else."""
    dicts = [parameter_and_buffer_dicts] if isinstance(parameter_and_buffer_dicts, Mapping) \
        else list(parameter_and_buffer_dicts)
    merged: dict[str, Any] = {}
    for d in dicts:
        for key, value in d.items():
            if key in merged:
                raise ValueError(f"{key} appeared in multiple dictionaries; behavior of functional call is "
                                 f"ambiguous")
            merged[key] = value
    own = module.state_dict(keep_vars=True)
    own.update({name: b for name, b in module.named_buffers() if name not in own})  # non-persistent ones too
    if strict:
        unexpected = sorted(set(merged) - set(own))
        missing = sorted(set(own) - set(merged))
        if unexpected or missing:
            lines = ([f"\tUnexpected key(s): {', '.join(repr(k) for k in unexpected)}."] if unexpected else []) + \
                    ([f"\tMissing key(s): {', '.join(repr(k) for k in missing)}."] if missing else [])
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n" + "\n".join(lines))
    if tie_weights:  # every other name of a replaced tensor takes the same value
        by_id = {id(own[k]): v for k, v in merged.items() if k in own}
        merged.update({k: by_id[id(t)] for k, t in own.items() if k not in merged and id(t) in by_id})
    swapped: list[tuple[dict[str, Any], str, Any]] = []
    try:
        for name, value in merged.items():
            owner, attr = _owner(module, name)
            table = owner._parameters if attr in owner._parameters else \
                owner._buffers if attr in owner._buffers else None
            if table is None:
                continue  # not a parameter or buffer of the module: ignored unless strict
            swapped.append((table, attr, table[attr]))
            table[attr] = value
        positional = () if args is None else args if isinstance(args, tuple) else (args,)
        return module(*positional, **(kwargs or {}))
    finally:
        for table, attr, original in reversed(swapped):
            table[attr] = original


def _ordered_like(result: Any, like: Any) -> Any:
    """`result` with its dicts' keys in `like`'s order (the compiler's trees sort keys; PyTorch keeps
    the caller's order)."""
    if isinstance(like, Mapping) and isinstance(result, Mapping):
        return {k: _ordered_like(result[k], like[k]) for k in like if k in result}
    if isinstance(like, (tuple, list)) and isinstance(result, (tuple, list)) and len(like) == len(result):
        return type(result)(_ordered_like(r, s) for r, s in zip(result, like))
    return result


def _differentiated(args: tuple[Any, ...], argnums: int | tuple[int, ...]) -> Any:
    return args[argnums] if isinstance(argnums, int) else tuple(args[k] for k in argnums)


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of scalar `func` with respect to argument(s) `argnums` (trees of tensors: dicts of
    parameters included), compiled; with `has_aux`, ``(gradient, aux)``."""
    compiled = _transforms.grad(func, argnums=argnums, has_aux=has_aux)

    def gradient(*args: Any, **kwargs: Any) -> Any:
        out = compiled(*args, **kwargs)
        like = _differentiated(args, argnums)
        return (_ordered_like(out[0], like), out[1]) if has_aux else _ordered_like(out, like)
    return gradient


def grad_and_value(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """``(gradient, value)`` of scalar `func` (``(gradient, (value, aux))`` with `has_aux`), compiled."""
    compiled = _transforms.value_and_grad(func, argnums=argnums, has_aux=has_aux)

    def both(*args: Any, **kwargs: Any) -> Any:
        value, gradient = compiled(*args, **kwargs)
        return _ordered_like(gradient, _differentiated(args, argnums)), value
    return both


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """``(output, vjp_fn)`` (and ``aux`` with `has_aux`): ``vjp_fn(cotangent)`` is the tuple of
    cotangents of `primals`."""
    return _transforms.vjp(func, *primals, has_aux=has_aux)


def jacrev(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Jacobian of `func` with respect to argument(s) `argnums`, by reverse mode, compiled."""
    return _transforms.jacobian(func, argnums=argnums)


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Hessian of scalar `func` with respect to argument(s) `argnums`, compiled."""
    return _transforms.hessian(func, argnums=argnums)
