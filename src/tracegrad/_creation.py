"""Tensor factories: from data, filled, ranges and random numbers (PyTorch's names and defaults)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

import numpy as np

from tracegrad import _dtypes
from tracegrad._dispatch import wrap
from tracegrad._dtypes import DTypeLike, default_float_np, from_numpy_dtype, to_numpy_dtype
from tracegrad._functions import stack
from tracegrad._grad_mode import no_grad
from tracegrad._tensor import DeviceLike, Number, Size, Tensor, TensorData
from tracegrad._trace import TRACE, const_ir, random_input

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "eye", "arange", "linspace",
           "rand", "randn", "randint", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
           "randn_like", "randint_like", "manual_seed", "seed", "initial_seed", "logspace", "FloatTensor",
           "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "is_tensor", "numel"]

# PyTorch's generator starts from a fixed seed, so programs are reproducible without manual_seed.
_DEFAULT_SEED = 67280421310721
_rng: list[Any] = [np.random.Generator(np.random.PCG64(_DEFAULT_SEED)), _DEFAULT_SEED]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the random number generator used by rand, randn and randint."""
    seed = int(seed)
    _rng[0] = np.random.Generator(np.random.PCG64(seed & (2 ** 64 - 1)))
    _rng[1] = seed
    return _rng[0]


class Generator:
    """A random number generator of its own (``torch.Generator``): pass it as ``generator=`` to rand,
    randn, randint, randperm or a shuffling DataLoader to draw apart from the global one.

    >>> import tracegrad as tg
    >>> a = tg.rand(2, generator=tg.Generator().manual_seed(3))
    >>> bool((a == tg.rand(2, generator=tg.Generator().manual_seed(3))).all())
    True
    """

    def __init__(self, device: DeviceLike | None = None) -> None:
        self._seed = _DEFAULT_SEED
        self._numpy = np.random.Generator(np.random.PCG64(_DEFAULT_SEED))

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from `seed`; returns self."""
        self._seed = int(seed)
        self._numpy = np.random.Generator(np.random.PCG64(self._seed & (2 ** 64 - 1)))
        return self

    def seed(self) -> int:
        """Restart from the operating system's entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))
        return self._seed

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return self._seed


def _source(generator: Generator | np.random.Generator | None) -> np.random.Generator:
    """The numpy generator to draw from: `generator`'s, or the global one."""
    if generator is None:
        return _rng[0]
    return generator._numpy if isinstance(generator, Generator) else generator


def seed() -> int:
    """Seed the generator from the operating system's entropy and return the seed."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed the generator was last seeded with."""
    return _rng[1]


def _finish(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = wrap(data)
    const_ir(t)
    if requires_grad:
        if data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t._requires_grad = True
    return t


def _flatten_tensors(data: Any) -> Any:
    """Nested sequences may hold one-element Tensors; numpy needs plain numbers."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_flatten_tensors(d) for d in data]
    return data


def _check_ragged(data: Any, dim: int = 0) -> None:
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple)):
        n = len(data[0])
        for item in data:
            if not isinstance(item, (list, tuple)) or len(item) != n:
                got = len(item) if isinstance(item, (list, tuple)) else type(item).__name__
                raise ValueError(f"expected sequence of length {n} at dim {dim + 1} (got {got})")
        for item in data:
            _check_ragged(item, dim + 1)


def _infer_dtype(data: Any, arr: np.ndarray) -> np.dtype:
    if isinstance(data, Tensor):
        return data._data.dtype  # as PyTorch: a copy of a tensor keeps its dtype
    if isinstance(data, (np.ndarray, np.generic)):
        return from_numpy_dtype(arr.dtype).np
    kind = arr.dtype.kind
    if kind == "f":
        return default_float_np()
    if kind in "iu":
        return np.dtype(np.int64)
    if kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data: TensorData, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
           requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (numbers, nested lists, numpy arrays, tensors).

    Python floats give float32 (the default dtype), ints int64, bools bool;
    numpy arrays and tensors keep their dtype.  ``dtype=float`` means float64.

    >>> tensor([1.0, 2.0])
    tensor([1., 2.])
    >>> tensor([0.1, 1.0], dtype=float)
    tensor([0.1000, 1.0000], dtype=torch.float64)
    """
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
        arr = data._data.copy()
    else:
        if isinstance(data, (list, tuple)):
            _check_ragged(data)
        arr = np.array(_flatten_tensors(data))
    nd = to_numpy_dtype(dtype) if dtype is not None else _infer_dtype(data, arr)
    if TRACE.builders and _holds_traced(data):
        return _traced_copy(data, nd, arr.shape, requires_grad)
    arr = np.array(arr, dtype=nd, copy=True)
    return _finish(arr, requires_grad)


def _holds_traced(data: Any) -> bool:
    """Whether `data` is, or (nested in lists) holds, a tensor computed from a traced function's inputs."""
    if isinstance(data, Tensor):
        return data._ir is not None and data._ir.const is None
    if isinstance(data, (list, tuple)):
        return any(_holds_traced(d) for d in data)
    return False


def _traced_copy(data: Any, nd: np.dtype, shape: tuple[int, ...], requires_grad: bool) -> Tensor:
    """``tensor(data)`` inside a trace when `data` holds traced values: a detached copy built from traced ops.

    Copying the concrete array would make the copy a constant of the trace, and later calls would
    return the first call's values.
    """

    def build(d: Any) -> Tensor:
        if isinstance(d, Tensor):
            return d.to(nd)
        if isinstance(d, (list, tuple)):
            return stack([build(item) for item in d])
        return _finish(np.array(d, dtype=nd), False)

    with no_grad():  # no_grad values are detached in the trace: the copy carries no gradient
        copy = build(data).reshape(shape)
        if isinstance(data, Tensor) and np.shares_memory(copy._data, data._data):
            copy = copy.clone()
    if requires_grad:
        if nd.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        copy._requires_grad = True
    return copy


def as_tensor(data: TensorData, dtype: DTypeLike | None = None, device: DeviceLike | None = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a numpy array or tensor of the right dtype."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray):
        nd = to_numpy_dtype(dtype) if dtype is not None else from_numpy_dtype(data.dtype).np
        return wrap(data if data.dtype == nd else data.astype(nd))
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array`."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    from_numpy_dtype(array.dtype)
    return wrap(array)


def _size(size: tuple[int | Sequence[int], ...], keyword: Sequence[int] | None = None) -> tuple[int, ...]:
    """The shape of ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    if keyword is not None:
        if size:
            raise TypeError("got multiple values for argument 'size'")
        size = (keyword,)
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _dtype_or_default(dtype: DTypeLike | None, default: np.dtype | None = None) -> np.dtype:
    if dtype is not None:
        return to_numpy_dtype(dtype)
    return default if default is not None else default_float_np()


def zeros(*shape: int | Sequence[int], size: Sequence[int] | None = None,
          dtype: DTypeLike | None = None, device: DeviceLike | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size (float32 unless `dtype`)."""
    return _finish(np.zeros(_size(shape, size), dtype=_dtype_or_default(dtype)), requires_grad)


def ones(*shape: int | Sequence[int], size: Sequence[int] | None = None,
         dtype: DTypeLike | None = None, device: DeviceLike | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size (float32 unless `dtype`)."""
    return _finish(np.ones(_size(shape, size), dtype=_dtype_or_default(dtype)), requires_grad)


def empty(*shape: int | Sequence[int], size: Sequence[int] | None = None,
          dtype: DTypeLike | None = None, device: DeviceLike | None = None,
          requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor; tracegrad fills it with zeros so results are reproducible."""
    return zeros(*shape, size=size, dtype=dtype, requires_grad=requires_grad)


def full(size: int | Sequence[int], fill_value: Number | Tensor, dtype: DTypeLike | None = None,
         device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with `fill_value`; its dtype follows the value (bool, int64, or the default float)."""
    if dtype is None:
        dtype = _dtypes.scalar_dtype(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    return _finish(np.full(_size((size,)), fill_value, dtype=to_numpy_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix."""
    return _finish(np.eye(n, m, dtype=_dtype_or_default(dtype)), requires_grad)


def arange(start: Number | Tensor, end: Number | Tensor | None = None, step: Number | Tensor = 1,
           dtype: DTypeLike | None = None, device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Values from start to end (exclusive) by step; int64 when all are ints, else the default float."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
        nd = np.dtype(np.int64) if is_int else default_float_np()
    else:
        nd = to_numpy_dtype(dtype)
    start, end, step = vals
    n = max(int(np.ceil((end - start) / step)), 0)
    data = (start + step * np.arange(n, dtype=np.float64)) if nd.kind == "f" else np.arange(start, end, step)
    return _finish(data.astype(nd), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end inclusive."""
    return _finish(np.linspace(start, end, int(steps)).astype(_dtype_or_default(dtype)), requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: DTypeLike | None = None,
             device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """`steps` values from base ** start to base ** end, evenly spaced in the exponent.

    >>> import tracegrad as tg
    >>> tg.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    exponents = np.linspace(start, end, int(steps))
    return _finish(np.power(float(base), exponents).astype(_dtype_or_default(dtype)), requires_grad)


def _random(draw: Callable[[], np.ndarray], requires_grad: bool) -> Tensor:
    """A tensor of `draw()`'s numbers; inside a trace, an input the compiled function draws anew per call."""
    t = _finish(draw(), requires_grad)
    if TRACE.builders:
        # The call that traced uses the numbers it drew, so a seeded stream advances once per call.
        pending = [t._data]

        def per_call() -> np.ndarray:
            return pending.pop() if pending else draw()
        random_input(t, per_call)
    return t


def rand(*shape: int | Sequence[int], size: Sequence[int] | None = None,
         dtype: DTypeLike | None = None, generator: Generator | np.random.Generator | None = None,
         device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform random numbers in [0, 1).  Inside a compiled function, new numbers every call."""
    nd = _dtype_or_default(dtype)
    drawn = nd if nd.kind == "f" and nd.itemsize >= 4 else np.float64
    dims = _size(shape, size)
    return _random(lambda: _source(generator).random(dims, dtype=drawn).astype(nd, copy=False), requires_grad)


def randn(*shape: int | Sequence[int], size: Sequence[int] | None = None,
          dtype: DTypeLike | None = None, generator: Generator | np.random.Generator | None = None,
          device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random numbers.  Inside a compiled function, new numbers every call."""
    nd = _dtype_or_default(dtype)
    drawn = nd if nd.kind == "f" and nd.itemsize >= 4 else np.float64
    dims = _size(shape, size)
    return _random(lambda: _source(generator).standard_normal(dims, dtype=drawn).astype(nd, copy=False),
                   requires_grad)


def randint(low: int, high: int | Sequence[int] | None = None, size: Sequence[int] | None = None,
            dtype: DTypeLike | None = None, generator: Generator | np.random.Generator | None = None,
            device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Random integers in [low, high) (``randint(high, size)`` also works), int64 by default."""
    if size is None:
        low, high, size = 0, low, high
    nd = _dtype_or_default(dtype, np.dtype(np.int64))
    dims = tuple(size)
    return _random(lambda: _source(generator).integers(low, high, size=dims).astype(nd), requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: DTypeLike | None = None,
             device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 .. n - 1 (int64 by default).

    >>> import tracegrad as tg
    >>> sorted(tg.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    nd = _dtype_or_default(dtype, np.dtype(np.int64))
    return _random(lambda: _source(generator).permutation(int(n)).astype(nd), requires_grad)


def _like(fn: Callable[..., Tensor], call: str = "") -> Callable[..., Tensor]:
    """``<fn>_like(input, ...)``; `call` shows how the extra arguments are passed on, if there are any."""
    def like(input: Tensor, *args: Any, dtype: DTypeLike | None = None, requires_grad: bool = False,
             **kwargs: Any) -> Tensor:
        dt = dtype if dtype is not None else input.dtype
        return fn(*args, *input.shape, dtype=dt, requires_grad=requires_grad, **kwargs) if fn is not full \
            else full(input.shape, *args, dtype=dt, requires_grad=requires_grad)
    like.__name__ = like.__qualname__ = fn.__name__ + "_like"
    like.__doc__ = f"``{call or fn.__name__}`` with the shape (and, unless given, dtype) of `input`."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
full_like = _like(full, "full_like(input, fill_value)")
rand_like = _like(rand)
randn_like = _like(randn)


def randint_like(input: Tensor, low: int, high: int | None = None, dtype: DTypeLike | None = None,
                 requires_grad: bool = False) -> Tensor:
    """``randint(low, high)`` (or ``randint(0, low)``) with the shape (and, unless given, dtype) of `input`."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype)


def legacy_constructor(cls: type[Tensor], dtype: DTypeLike, *args: Any, requires_grad: bool = False,
                       **kwargs: Any) -> Tensor:
    """``Tensor(3, 5)`` (zeros of that shape) or ``Tensor(data)`` (a copy of data as float32)."""
    nd = to_numpy_dtype(dtype)
    if not args:
        return _finish(np.zeros((0,), dtype=nd), requires_grad)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return _finish(np.zeros(tuple(int(a) for a in args), dtype=nd), requires_grad)
    if len(args) == 1 and isinstance(args[0], (Size,)):
        return _finish(np.zeros(tuple(args[0]), dtype=nd), requires_grad)
    if len(args) == 1:
        return tensor(args[0], dtype=dtype, requires_grad=requires_grad)
    raise TypeError(f"new(): invalid arguments {args!r}")


class _LegacyTensorType(type):
    """The type of ``FloatTensor`` and its kin, as PyTorch's legacy tensor types behave.

    Calling one builds a tensor of its dtype (``FloatTensor(2, 3)`` is zeros, ``FloatTensor([1, 2])``
    a copy of data); ``isinstance(t, FloatTensor)`` asks whether `t` is a tensor of that dtype.
    """

    dtype: _dtypes.dtype

    def __call__(cls, *args: Any, **kwargs: Any) -> Tensor:
        return legacy_constructor(Tensor, cls.dtype, *args, **kwargs)

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype.np


def _legacy_type(name: str, dtype: _dtypes.dtype) -> _LegacyTensorType:
    doc = f"Legacy constructor and type test: a {dtype._name} tensor of a size (zeros) or of data."
    return _LegacyTensorType(name, (), {"dtype": dtype, "__doc__": doc, "__module__": "tracegrad"})


FloatTensor = _legacy_type("FloatTensor", _dtypes.float32)
DoubleTensor = _legacy_type("DoubleTensor", _dtypes.float64)
LongTensor = _legacy_type("LongTensor", _dtypes.int64)
IntTensor = _legacy_type("IntTensor", _dtypes.int32)
BoolTensor = _legacy_type("BoolTensor", _dtypes.bool)


def is_tensor(obj: object) -> TypeGuard[Tensor]:
    """True for tracegrad Tensors."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """Number of elements of `input`."""
    return input.numel()
