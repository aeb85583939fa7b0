"""``nn.Parameter``: a leaf tensor that a :class:`~tracegrad.nn.Module` registers as one of its parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad._dispatch import wrap
from tracegrad._tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning one to a module attribute registers it.

    It shares `data`'s values (and version counter) and requires grad unless told otherwise.

    >>> import tracegrad as tg
    >>> tg.nn.Parameter(tg.tensor([1.0, 2.0]))
    Parameter containing:
    tensor([1., 2.], requires_grad=True)
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        source = wrap(np.empty(0, np.float32)) if data is None else data
        if not isinstance(source, Tensor):
            raise TypeError(f"Parameter(): expected a Tensor, got {type(source).__name__}")
        p = object.__new__(cls)
        plain = wrap(source._data, version=source._version_box)  # every slot at a leaf's value
        for slot in Tensor.__slots__:
            if slot != "__weakref__":
                object.__setattr__(p, slot, getattr(plain, slot))
        p._requires_grad = bool(requires_grad)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (Parameter, (wrap(self._data.copy()), self._requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) not in memo:
            memo[id(self)] = Parameter(wrap(self._data.copy()), self._requires_grad)
        return memo[id(self)]
