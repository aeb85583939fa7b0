"""Anomaly detection: stop at the first operation that produces NaN.

While :class:`detect_anomaly` is active, every eager operation checks its
forward result and every backward function its gradients, and compiled
functions run a checked variant of their kernel that keeps every
intermediate value; the first NaN raises a ``RuntimeError`` naming the op,
its eager ``grad_fn`` name and the user's source line.  Checking costs a
scan of every result, so it is for debugging only.
"""

from __future__ import annotations

import linecache
import os
import threading
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
           "set_anomaly_enabled", "ANOMALY", "has_nan", "forward_nan_error", "backward_nan_error"]

F = TypeVar("F", bound=Callable[..., Any])


class _AnomalyState(threading.local):
    """Per thread, like PyTorch's anomaly mode."""

    enabled = False
    check_nan = True


ANOMALY = _AnomalyState()


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread."""
    return ANOMALY.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection, when on, checks for NaN (``check_nan``; True by default, as in PyTorch)."""
    return ANOMALY.check_nan


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off in this thread, outside any context manager."""
    ANOMALY.enabled, ANOMALY.check_nan = bool(enabled), bool(check_nan)


class detect_anomaly:
    """Context manager (and decorator) that raises at the first op producing NaN.

    >>> import tracegrad as tg
    >>> x = tg.tensor([-1.0, 4.0], requires_grad=True)
    >>> with tg.autograd.detect_anomaly():
    ...     y = x.sqrt()                                    # doctest: +ELLIPSIS
    Traceback (most recent call last):
    RuntimeError: Function 'sqrt' returned nan values in its output (its grad_fn would be SqrtBackward0) ...
    """

    def __init__(self, check_nan: bool = True) -> None:
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                      "enabled for debugging.", UserWarning, stacklevel=2)
        self.check_nan = check_nan
        self._saved: tuple[bool, bool] = (False, True)

    def __enter__(self) -> detect_anomaly:
        self._saved = (ANOMALY.enabled, ANOMALY.check_nan)
        ANOMALY.enabled, ANOMALY.check_nan = True, self.check_nan
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        ANOMALY.enabled, ANOMALY.check_nan = self._saved

    def __call__(self, fn: F) -> F:
        import functools

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return checked  # type: ignore[return-value]


class set_detect_anomaly:
    """Turn anomaly detection on or off; usable as a function or a context manager.

    >>> import tracegrad as tg
    >>> _ = tg.autograd.set_detect_anomaly(True)
    >>> tg.autograd.is_anomaly_enabled()
    True
    >>> _ = tg.autograd.set_detect_anomaly(False)
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._saved = (ANOMALY.enabled, ANOMALY.check_nan)
        ANOMALY.enabled, ANOMALY.check_nan = bool(mode), check_nan

    def __enter__(self) -> set_detect_anomaly:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        ANOMALY.enabled, ANOMALY.check_nan = self._saved


def has_nan(a: Any) -> bool:
    """Whether array `a` is floating point and holds a NaN."""
    a = np.asarray(a)
    return a.dtype.kind in "fc" and bool(np.isnan(a).any())


def _where(loc: tuple[str, int] | None) -> str:
    if loc is None:
        return ""
    file, line = loc
    text = linecache.getline(file, line).strip()
    return f" at {os.path.basename(file)}:{line}" + (f": {text}" if text else "")


def forward_nan_error(op: str, node_name: str | None, loc: tuple[str, int] | None, inputs_nan: bool,
                      ir: str | None = None) -> RuntimeError:
    """The error for an op whose forward result holds NaN."""
    grad_fn = f" (its grad_fn would be {node_name})" if node_name else ""
    cause = " (its inputs hold NaN already)" if inputs_nan else ""
    compiled = f" [compiled: {ir}]" if ir else ""
    return RuntimeError(f"Function '{op}' returned nan values in its output{grad_fn}{cause}{_where(loc)}{compiled}")


def backward_nan_error(node_name: str, index: int | None, loc: tuple[str, int] | None,
                       ir: str | None = None) -> RuntimeError:
    """PyTorch's error for a backward function returning NaN, plus where its forward call was."""
    which = f" in its {index}th output" if index is not None else ""
    forward = f"\nThe forward call was{_where(loc)}" if loc else ""
    compiled = f"\n[compiled: {ir}]" if ir else ""
    return RuntimeError(f"Function '{node_name}' returned nan values{which}.{forward}{compiled}")
