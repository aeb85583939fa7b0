"""Grad mode: whether operations are recorded on the tape (per thread, as in PyTorch)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


class _State(threading.local):
    enabled = True
    inference = False


STATE = _State()

_F = TypeVar("_F", bound=Callable[..., Any])


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return STATE.inference


class _GradMode:
    """A context manager that is also a decorator, setting (grad, inference) modes.

    A stack of previous states makes one instance safe to nest and to reuse.
    """

    def __init__(self, grad: bool, inference: bool | None = None) -> None:
        self._grad = grad
        self._inference = inference
        self._saved: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        self._saved.append((STATE.enabled, STATE.inference))
        STATE.enabled = self._grad
        if self._inference is not None:
            STATE.inference = self._inference

    def __exit__(self, *exc: object) -> Literal[False]:
        STATE.enabled, STATE.inference = self._saved.pop()
        return False

    def __call__(self, fn: _F) -> _F:
        grad, inference = self._grad, self._inference

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(grad, inference):
                return fn(*args, **kwargs)
        return cast(_F, wrapper)


class no_grad(_GradMode):
    """Disable gradient recording in a block, or in a function it decorates.

    >>> import tracegrad as tg
    >>> x = tg.tensor([1.0], requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    # Returns the decorated function when used as ``@no_grad`` without parentheses, hence Any.
    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        self = super().__new__(cls)
        _GradMode.__init__(self, False)
        # ``@no_grad`` without parentheses hands the function straight in.
        return self(func) if callable(func) else self

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass


class enable_grad(_GradMode):
    """Re-enable gradient recording in a block (inside ``no_grad``) or a decorated function."""

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        self = super().__new__(cls)
        _GradMode.__init__(self, True)
        return self(func) if callable(func) else self

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass


class set_grad_enabled(_GradMode):
    """Set grad mode to `mode`.

    Called as a function it takes effect at once; used with ``with`` it
    restores the previous mode on exit; used as a decorator it applies to
    each call of the function only.
    """

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        self._before_call = STATE.enabled
        STATE.enabled = bool(mode)

    def __enter__(self) -> None:
        self._saved.append((self._before_call, STATE.inference))
        STATE.enabled = self._grad

    def __call__(self, fn: _F) -> _F:
        STATE.enabled = self._before_call
        return super().__call__(fn)


class inference_mode(_GradMode):
    """Like ``no_grad``, for code that will never need gradients; ``mode=False`` changes nothing."""

    def __new__(cls, mode: bool | Callable[..., Any] = True) -> Any:
        self = super().__new__(cls)
        if callable(mode):
            _GradMode.__init__(self, False, True)
            return self(mode)
        return self

    def __init__(self, mode: bool | Callable[..., Any] = True) -> None:
        if callable(mode):
            return
        if mode:
            super().__init__(False, True)
        else:
            super().__init__(STATE.enabled, False)
