"""A whole training step compiled: the loss, the gradients of every parameter and the optimizer's
update, traced once and run as one compiled program per argument shape.

>>> import tracegrad as tg
>>> w = tg.nn.Parameter(tg.tensor([1.0, -2.0]))
>>> opt = tg.optim.SGD([w], lr=0.25)
>>> @tg.train_step(opt)
... def step(target):
...     return ((w - target) ** 2).sum()
>>> step(tg.tensor([0.0, 0.0]))
tensor(5.)
>>> w
Parameter containing:
tensor([ 0.5000, -1.0000], requires_grad=True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad._dispatch import wrap, write_in_place
from tracegrad._grad_mode import enable_grad, no_grad
from tracegrad._tensor import Tensor
from tracegrad._trace import TRACE
from tracegrad._transforms import jit
from tracegrad.autograd import grad as tape_grad
from tracegrad.optim.optimizer import Optimizer, store_state

__all__ = ["train_step", "TrainStep"]


class _TensorMath:
    """What an update formula calls besides arithmetic, for traced Tensors."""

    @staticmethod
    def sqrt(x: Tensor) -> Tensor:
        return x.sqrt()

    scalar_sqrt = sqrt

    @staticmethod
    def maximum(a: Tensor, b: Tensor) -> Tensor:
        return a.maximum(b)

    @staticmethod
    def copy(x: Tensor) -> Tensor:
        return x.clone()

    @staticmethod
    def scalar(step: Tensor) -> Tensor:
        """A step count (float32, as PyTorch keeps it) in double precision, as the eager update reads it."""
        return step.double()


TENSOR_MATH = _TensorMath()


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is float or t is int or (t is not bool and isinstance(v, (int, float)))


def _numbers(group: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The group's numeric settings, as (name, position in a tuple or None): the compiled step's scalar inputs."""
    out = []
    for key in sorted(group):
        value = group[key]
        if _is_number(value):
            out.append((key, None))
        elif isinstance(value, tuple) and value and all(_is_number(v) for v in value):
            out.extend((key, i) for i in range(len(value)))
    return out


def _branch_key(value: Any) -> Any:
    """What of a setting decides the update's structure: zero or not for numbers, the value otherwise."""
    if _is_number(value):
        return value != 0
    if type(value) is tuple:
        return tuple([v != 0 if _is_number(v) else v for v in value])
    return value


class _Returned:
    """What a traced step returns besides the loss, learnt while tracing: the state names of each
    parameter after an update, and the module state tensors the function wrote."""

    def __init__(self) -> None:
        self.state_names: list[list[str]] = []
        self.written: list[Tensor] = []


class TrainStep:
    """A training step of `optimizer`: ``step(*batch)`` computes ``loss = fn(*batch)``, the gradient of
    every parameter the optimizer holds, and the optimizer's update, in one compiled program; then
    writes the new parameters (in place), their ``.grad`` and the optimizer's state, and returns the
    loss (detached).

    The same as ``optimizer.zero_grad(); loss = fn(*batch); loss.backward(); optimizer.step()`` in
    eager mode, for every optimizer in :mod:`tracegrad.optim` and every setting.  The settings
    (``lr`` and the other numbers of each parameter group) are inputs of the compiled program, so a
    learning-rate scheduler changes them without a re-trace; switching a setting between zero and
    non-zero, or any other setting, traces anew.  The parameters are read from the optimizer at each
    call.  A step is traced per argument shape (and once more after the first update of an optimizer
    whose state appears then, as SGD's momentum buffer).
    """

    def __init__(self, fn: Callable[..., Tensor], optimizer: Optimizer, backend: str | None = None,
                 tier: str | None = None) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"train_step expects an optimizer from tracegrad.optim, got {type(optimizer).__name__}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.optimizer = optimizer
        self.backend = backend
        self.tier = tier
        self._programs: dict[Any, Any] = {}   # layout -> (jit-compiled pure step, settings read, _Returned)

    def __repr__(self) -> str:
        return f"<tracegrad.train_step of {getattr(self.fn, '__name__', 'function')}>"

    def __call__(self, *batch: Any) -> Tensor:
        if TRACE.builders:
            raise RuntimeError("a train_step cannot run inside a compiled function: it writes the parameters "
                               "and the optimizer's state after each call")
        opt = self.optimizer
        entries = [(p, opt.state_of(p, group)) for group in opt.param_groups for p in group["params"]]
        layout = (tuple([id(p) for p, _ in entries]),
                  tuple([tuple([(k, _branch_key(v)) for k, v in g.items() if k != "params"])
                         for g in opt.param_groups]),
                  tuple([tuple(state) for _, state in entries]))
        found = self._programs.get(layout)
        if found is None:
            found = self._programs[layout] = self._program(entries)
        program, numbers, returned = found
        arrays = [p._data for p, _ in entries]
        arrays += [v._data for _, state in entries for v in state.values()]
        arrays += [np.asarray(g[k] if i is None else g[k][i], dtype=np.float64)
                   for g, names in zip(opt.param_groups, numbers) for k, i in names]
        arrays += [b._data if isinstance(b, Tensor) else b for b in batch]
        with no_grad():  # the program differentiates inside; its outputs need no tape
            out = program(*arrays)
        rest = iter(out[1:])
        for (p, state), keys in zip(entries, returned.state_names):
            new_p, grad = next(rest), next(rest)
            if grad is None:
                continue  # not used by the loss: left alone, as the eager step leaves it
            write_in_place(p, new_p)
            store_state(state, {key: next(rest) for key in keys})
            p._grad = wrap(grad)  # the program's fresh array, of p's shape and dtype
        for t in returned.written:  # module state the step wrote (running statistics)
            write_in_place(t, next(rest))
        return wrap(np.asarray(out[0]))

    def _program(self, entries: list[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Any, list, _Returned]:
        """``(jit-compiled pure step, numeric settings per group, what it returns besides the loss)`` for
        the current layout of parameters, settings and state."""
        numbers = [_numbers(g) for g in self.optimizer.param_groups]
        returned = _Returned()
        params = [p for p, _ in entries]
        program = jit(functools.partial(self._pure, params, [list(state) for _, state in entries], numbers,
                                        returned), backend=self.backend, tier=self.tier)
        return program, numbers, returned

    def _pure(self, params: list[Tensor], state_keys: list[list[str]], numbers: list[list[tuple[str, int | None]]],
              returned: _Returned, *flat: Any) -> tuple[Any, ...]:
        """The step as a function of arrays (traced by :func:`tracegrad.jit`): parameters, state values,
        settings and the batch in; loss, then per parameter its new value and gradient and its new state,
        then the new values of the module state the function wrote (running statistics), out."""
        values = list(flat[:len(params)])
        pos = len(params)
        state_values = []
        for keys in state_keys:
            state_values.append(dict(zip(keys, flat[pos:pos + len(keys)])))
            pos += len(keys)
        groups = self.optimizer.param_groups  # their branch settings are part of the program's layout
        settings = []
        for group, names in zip(groups, numbers):
            h = {k: v for k, v in group.items() if k != "params"}
            for k, i in names:
                h[k] = flat[pos] if i is None else tuple(flat[pos] if j == i else e for j, e in enumerate(h[k]))
                pos += 1
            settings.append(h)
        batch = flat[pos:]
        builder = TRACE.builder
        builder.outside_writes = {}  # writes into module state become outputs (see _trace.functional_write)
        for p, v in zip(params, values):  # the function reads the parameters: they are these inputs
            builder.restore.append((p, p._ir))
            p._ir = v._ir
        with enable_grad():
            loss = self.fn(*batch)
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise TypeError("a train_step function must return the loss: a tensor with one element")
            grads = tape_grad(loss, params, allow_unused=True)
        group_of = {id(p): k for k, g in enumerate(groups) for p in g["params"]}
        out: list[Any] = [loss.detach()]
        returned.state_names.clear()
        with no_grad():
            for p, v, g, state in zip(params, values, grads, state_values):
                if g is None:
                    out += [v, None]
                    returned.state_names.append([])
                    continue
                k = group_of[id(p)]
                new_p, new_state = self.optimizer._formula(TENSOR_MATH, v, g, groups[k], settings[k], state)
                out += [new_p, g]
                returned.state_names.append(sorted(new_state))
                out += [new_state[key] for key in sorted(new_state)]
        written = list(builder.outside_writes.values())
        for t, before in written:  # the tracing run wrote them; the compiled run starts from the same values
            t._data[...] = before
        returned.written = [t for t, _ in written]
        return tuple(out) + tuple(returned.written)  # (their traced values, as they are at the end)


def train_step(optimizer: Optimizer, *, backend: str | None = None,
               tier: str | None = None) -> Callable[[Callable[..., Tensor]], TrainStep]:
    """Decorate a function returning the loss of a batch: calling it runs a whole compiled training step
    of `optimizer` (see :class:`TrainStep`); `backend` and `tier` as for :func:`tracegrad.jit` (by
    default the executor first, the step's kernel once it has run long enough to pay for compiling).

    >>> import tracegrad as tg
    >>> model = tg.nn.Linear(3, 1)
    >>> opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    >>> @tg.train_step(opt)
    ... def step(x, y):
    ...     return tg.nn.functional.mse_loss(model(x), y)
    >>> loss = step(tg.ones(4, 3), tg.zeros(4, 1))   # forward, gradients and Adam's update, compiled
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"train_step expects an optimizer from tracegrad.optim, got {type(optimizer).__name__}")

    def decorate(fn: Callable[..., Tensor]) -> TrainStep:
        return TrainStep(fn, optimizer, backend, tier)
    return decorate
