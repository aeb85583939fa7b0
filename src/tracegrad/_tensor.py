"""The eager Tensor: PyTorch's API, each operation a thin layer over one op-table entry.

Every method comes down to :func:`tracegrad._dispatch.apply_op` (promotion, the numpy rule,
the tape node, the trace); no op is defined here.  Indexing keys are parsed in
:mod:`tracegrad._indexing`, and writes (in-place ops, writes through views) are carried out
by :mod:`tracegrad._inplace`.  The class is handed down to the modules it is built on once it
exists (:func:`tracegrad._dispatch.connect`, at the end of this module).
"""

from __future__ import annotations

import builtins
import functools
import math
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, NamedTuple, SupportsIndex, TypeAlias, overload

import numpy as np

from tracegrad import _dispatch, _dtypes
from tracegrad._dispatch import _EMPTY, _NUMBER, _InferenceVersion, _shape_text, apply_op, wrap
from tracegrad._dtypes import DTypeLike, default_float_np, from_numpy_dtype, to_numpy_dtype
from tracegrad._engine import (
    AccumulateGrad,
    Node,
    _RemovableHandle,
    created_by_trace,
    outside_grad_error,
)
from tracegrad._engine import backward as _autograd_backward
from tracegrad._format import format_tensor
from tracegrad._grad_mode import STATE
from tracegrad._indexing import parse_index
from tracegrad._inplace import assign_in_place, check_writable, in_place_op, overwrite
from tracegrad._results import result_type as _result_type
from tracegrad._trace import TRACE, concrete_read, detached_ir
from tracegrad._trace import WRITES as _WRITES
from tracegrad.ir.graph import Value
from tracegrad.ir.ops import (
    COMPOSITES,
    OPS,
    TABLE,
    axis_slice_spec,
    build_index,
    normalize_axes,
)
from tracegrad.ir.types import BOOL, DTYPE_TO_SHORT

__all__ = ["Tensor", "Size", "PythonScalar", "Number", "Scalar", "Dims", "TensorLike", "TensorData", "DeviceLike"]

# Aliases for the annotations of the eager API.  Inside class Tensor, annotations spell builtins.int,
# builtins.bool, _dtypes.dtype ...: a type checker looks names up in the class first, where the methods
# int(), bool() and the property dtype would shadow them.
Number: TypeAlias = int | float | bool
"""A Python number."""
Scalar: TypeAlias = int | float | bool | np.number | np.bool_
"""A Python or numpy scalar: what an op accepts in place of a tensor operand."""
Dims: TypeAlias = int | Sequence[int]
"""One dimension or several (reductions, squeeze)."""


class Size(tuple[int, ...]):
    """A tensor's shape: a tuple whose repr is PyTorch's ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(map(str, self))}])"

    def __getitem__(self, key):  # type: ignore[override]
        # A slice of a shape is a shape (``x.shape[1:]``), as in PyTorch.
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item

    def __add__(self, other: tuple) -> Size:  # type: ignore[override]
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other: tuple) -> Size:
        return Size(tuple(other) + tuple(self))

    def numel(self) -> int:
        """Number of elements of a tensor of this shape."""
        n = 1
        for d in self:
            n *= d
        return n


def _numpy_keywords(method: Callable[..., Any]) -> Callable[..., Any]:
    """Let a reduction take numpy's keyword names too (``axis=``, ``keepdims=``), as PyTorch's do."""
    @functools.wraps(method)
    def reduction(self, *args, **kwargs):
        if kwargs:
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
        return method(self, *args, **kwargs)
    return reduction


# --------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------

_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't "
    "be populated during autograd.backward(). If you indeed want the .grad field to be populated for a "
    "non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by "
    "mistake, make sure you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for "
    "more information.")


def _binary(name: str, op_name: str, reflected: bool = False,
            rnode_name: str | None = None) -> Callable[[Tensor, TensorLike], Tensor]:
    """The method `name`: op `op_name` on (self, other), or on (other, self) when `reflected`."""
    entry = OPS[op_name]

    def forward(self: Tensor, other: TensorLike) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray) + _NUMBER):
            return NotImplemented
        return apply_op(entry, (self, other))

    def backward(self: Tensor, other: TensorLike) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray) + _NUMBER):
            return NotImplemented
        return apply_op(entry, (other, self), _EMPTY, rnode_name)
    method = backward if reflected else forward
    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    operands = "`other` and self" if reflected else "self and `other`"
    method.__doc__ = (f"Elementwise ``{op_name}`` of {operands} (a tensor, array or number), with broadcasting "
                      f"and PyTorch's type promotion.")
    return method


def _unary(op_name: str) -> Callable[[Tensor], Tensor]:
    entry = TABLE[op_name]

    def method(self: Tensor) -> Tensor:
        return apply_op(entry, (self,))
    method.__name__ = op_name
    method.__qualname__ = f"Tensor.{op_name}"
    method.__doc__ = f"Elementwise ``{op_name}`` (see ``tracegrad.{op_name}``)."
    return method


def _rounding(op_name: str) -> Callable[[Tensor], Tensor]:
    entry = TABLE[op_name]

    def method(self: Tensor) -> Tensor:
        if self._data.dtype.kind != "f":
            return self.clone()  # integers are whole already: PyTorch returns a copy of the same dtype
        return apply_op(entry, (self,))
    method.__name__ = op_name
    method.__qualname__ = f"Tensor.{op_name}"
    method.__doc__ = f"Elementwise ``{op_name}`` (zero gradient; integer tensors come back unchanged)."
    return method


def _as_operand(x: Any) -> Tensor:
    """`x` as a Tensor (arrays and nested lists are wrapped, as the operators do)."""
    return x if isinstance(x, Tensor) else wrap(np.asarray(x))


def _check_gather_index(op: str, index: Any, ndim: int) -> None:
    """PyTorch's checks of a gather/scatter index, with its messages."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index")
    if index._data.ndim != ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")


def _dim(dim: int, ndim: int) -> int:
    """One dimension, wrapped (a 0-d tensor has dimension 0 and -1, as in PyTorch)."""
    return normalize_axes((dim,), ndim)[0] if ndim else 0


def _dims(dim: Dims | None, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return normalize_axes(tuple(dim), ndim) if len(dim) else None
    return normalize_axes((dim,), ndim)



class _Above:
    """What Tensor hands to the API built on it: ``Tensor(data)`` is the creation module's legacy
    constructor, and numpy's protocol (``__array_ufunc__``, ``__array_function__``) goes to the bridge
    that maps numpy names to tracegrad functions.  The package connects them as it loads
    (:func:`connect_above`), so that this module imports nothing above it."""

    def __init__(self) -> None:
        self.legacy_constructor: Callable[..., Tensor] = self._not_connected
        self.array_ufunc: Callable[..., Any] = self._not_connected
        self.array_function: Callable[..., Any] = self._not_connected

    @staticmethod
    def _not_connected(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracegrad._tensor is used before the tracegrad package finished loading")


ABOVE = _Above()


def connect_above(legacy_constructor: Callable[..., Tensor], array_ufunc: Callable[..., Any],
                  array_function: Callable[..., Any]) -> None:
    """Connect Tensor's constructor and numpy protocol to the layers built on Tensor (see :class:`_Above`)."""
    ABOVE.legacy_constructor = legacy_constructor
    ABOVE.array_ufunc = array_ufunc
    ABOVE.array_function = array_function


class Tensor:
    """A multi-dimensional array with PyTorch's autograd semantics.

    ``Tensor(3, 5)`` makes a zero-filled float32 tensor of that shape,
    ``Tensor([1, 2])`` a float32 tensor of that data (use
    :func:`tracegrad.tensor` to keep the data's own dtype).

    >>> import tracegrad as tg
    >>> x = tg.ones(2, 2, requires_grad=True)
    >>> y = (x + 2).mean()
    >>> y.backward()
    >>> x.grad
    tensor([[0.2500, 0.2500],
            [0.2500, 0.2500]])
    """

    __slots__ = ("_data", "grad_fn", "_requires_grad", "_grad", "_version_box", "_output_nr", "_retains_grad",
                 "_hooks", "_acc", "_ir", "_base", "_view", "__weakref__")
    __array_priority__ = 1000

    # For type checkers only (slots carry no types); wrap() sets every one of them.
    _data: np.ndarray
    grad_fn: Node | None
    _requires_grad: builtins.bool
    _grad: Tensor | None
    _version_box: list[builtins.int]  # shared with views: one counter per storage
    _output_nr: builtins.int
    _retains_grad: builtins.bool
    _hooks: list[tuple[builtins.int | None, Callable[[Tensor], Tensor | None]]] | None
    _acc: AccumulateGrad | None
    _ir: Value | None
    _base: Tensor | None
    _view: str | tuple[Any, ...] | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Tensor:
        return ABOVE.legacy_constructor(cls, _dtypes.float32, *args, **kwargs)

    # ---------------------------------------------------------------- basics
    @property
    def shape(self) -> Size:
        """The shape, as a :class:`Size`."""
        return Size(self._data.shape)

    @overload
    def size(self, dim: None = None) -> Size: ...
    @overload
    def size(self, dim: builtins.int) -> builtins.int: ...

    def size(self, dim: builtins.int | None = None) -> Size | builtins.int:
        """The shape, or the length of dimension `dim`."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[normalize_axes((dim,), self._data.ndim)[0]]

    def dim(self) -> builtins.int:
        """Number of dimensions."""
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> builtins.int:
        """Number of dimensions."""
        return self._data.ndim

    def numel(self) -> builtins.int:
        """Number of elements."""
        return self._data.size

    nelement = numel

    def element_size(self) -> builtins.int:
        """Bytes per element."""
        return self._data.itemsize

    @property
    def dtype(self) -> _dtypes.dtype:
        """The element type (``tracegrad.float32`` ...)."""
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> _Device:
        """Always the CPU."""
        return _CPU

    @property
    def is_cuda(self) -> builtins.bool:
        """Always False."""
        return False

    def is_floating_point(self) -> builtins.bool:
        """True for a floating dtype."""
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> builtins.bool:
        """True when the data is laid out in C order."""
        return self._data.flags.c_contiguous

    def stride(self, dim: builtins.int | None = None) -> tuple[builtins.int, ...] | builtins.int:
        """Steps in elements between neighbours along each dimension (or along `dim`).

        >>> import tracegrad as tg
        >>> tg.ones(2, 3).stride(), tg.ones(2, 3).t().stride()
        ((3, 1), (1, 3))
        """
        itemsize = self._data.itemsize
        strides = tuple(s // itemsize for s in self._data.strides)
        if dim is None:
            return strides
        return strides[normalize_axes((dim,), self._data.ndim)[0]]

    def contiguous(self) -> Tensor:
        """Self (kept for PyTorch code; every op accepts any layout)."""
        return self

    def cpu(self) -> Tensor:
        """Self: tensors live on the CPU."""
        return self

    @overload
    def type(self, dtype: None = None) -> str: ...
    @overload
    def type(self, dtype: DTypeLike) -> Tensor: ...

    def type(self, dtype: DTypeLike | None = None) -> str | Tensor:
        """Without argument, PyTorch's type string (``'torch.FloatTensor'``); else a cast."""
        if dtype is None:
            return f"torch.{self.dtype.tensor_type}"
        return self.to(dtype)

    # -------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> builtins.bool:
        """Whether gradients flow to this tensor; settable on leaves."""
        return self._requires_grad or self.grad_fn is not None

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        if value and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        if value and self.is_inference() and not STATE.inference:
            raise RuntimeError("Setting requires_grad=True on inference tensor outside InferenceMode is not allowed.")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        if requires_grad and self.grad_fn is None and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if self.grad_fn is not None and requires_grad:
            return self
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> builtins.bool:
        """True for tensors not produced by a recorded operation."""
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (None until a backward reaches this leaf)."""
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn(_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of "
                                   f"size '{list(self.shape)}'. Please ensure that the gradient and the tensor are "
                                   f"the same size")
        if TRACE.builders and not created_by_trace(self):
            raise outside_grad_error(self, "assigning .grad")
        self._grad = value

    @property
    def retains_grad(self) -> builtins.bool:
        """True after ``retain_grad()`` on a non-leaf tensor."""
        return self._retains_grad

    @property
    def output_nr(self) -> builtins.int:
        """Which output of its ``grad_fn`` this tensor is."""
        return self._output_nr

    @property
    def _version(self) -> builtins.int:
        """How many in-place changes this tensor (or a view sharing its storage) has seen, as in PyTorch."""
        if type(self._version_box) is _InferenceVersion:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._version_box[0]

    def is_inference(self) -> builtins.bool:
        """True for a tensor made under ``inference_mode()`` (views of ordinary tensors stay ordinary).

        >>> import tracegrad as tg
        >>> with tg.inference_mode():
        ...     t = tg.ones(2)
        >>> t.is_inference(), tg.ones(2).is_inference()
        (True, False)
        """
        return type(self._version_box) is _InferenceVersion

    def _edge(self) -> tuple[Node | None, builtins.int]:
        if self.grad_fn is not None:
            return (self.grad_fn, self._output_nr)
        if self._requires_grad:
            return (self._accumulator(), 0)
        return (None, 0)

    def _accumulator(self) -> AccumulateGrad:
        acc = self._acc
        if acc is None:
            acc = self._acc = AccumulateGrad(self)
            acc._pre_hooks = self._hooks
        return acc

    def backward(self, gradient: TensorLike | None = None, retain_graph: builtins.bool | None = None,
                 create_graph: builtins.bool = False, inputs: Tensor | Sequence[Tensor] | None = None) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of the leaves.

        `gradient` is required for non-scalar tensors; a gradient of another
        dtype is cast to this tensor's dtype.
        """
        _autograd_backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def retain_grad(self) -> None:
        """Make a non-leaf tensor keep its ``.grad`` after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        node = self.grad_fn
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a replacement."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._add_pre_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = []
            if self._acc is not None:
                self._acc._pre_hooks = self._hooks
        entry = (0, hook)
        self._hooks.append(entry)
        return _RemovableHandle(self._hooks, entry)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data (and version counter) but cut from the graph."""
        t = wrap(self._data, None, self._version_box)
        t._base, t._view = self, "detach"
        if TRACE.builders:
            t._ir = detached_ir(self)
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """The same data as a tensor that does not require grad (no version tracking)."""
        t = wrap(self._data)
        t._base, t._view = self, "detach"
        if TRACE.builders:
            t._ir = detached_ir(self)
        return t

    @data.setter
    def data(self, value: TensorLike) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    # ---------------------------------------------------------- conversions
    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        """The data as a numpy array (shared, not copied)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        if TRACE.builders:
            concrete_read(self, self._data, "numpy()")
        return self._data

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return ABOVE.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        return ABOVE.array_function(func, args, kwargs)

    def __array__(self, dtype: np.dtype | None = None, copy: builtins.bool | None = None) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        a = self._data
        if TRACE.builders:
            concrete_read(self, a, "conversion to a numpy array")
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self) -> Number:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        value = self._data.reshape(()).item()
        return concrete_read(self, value, "item()") if TRACE.builders else value

    def tolist(self) -> list[Any] | Number:
        """The data as (nested) Python lists of numbers."""
        value = self._data.tolist()
        return concrete_read(self, value, "tolist()") if TRACE.builders else value

    def __float__(self) -> builtins.float:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        value = float(self._data.reshape(()).item())
        return concrete_read(self, value, "float() (or a math function)") if TRACE.builders else value

    def __int__(self) -> builtins.int:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __index__(self) -> builtins.int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> builtins.bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        value = bool(self._data.reshape(()).item())
        return concrete_read(self, value, "bool") if TRACE.builders else value

    def __len__(self) -> builtins.int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> builtins.int:
        return id(self)

    def __repr__(self) -> str:
        tail = []
        if self.grad_fn is not None:
            tail.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self._requires_grad:
            tail.append("requires_grad=True")
        return format_tensor(self._data, tail)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Callable[[np.ndarray, builtins.bool], Tensor],
                                                             tuple[np.ndarray, builtins.bool]]:
        return (_rebuild, (self._data, self._requires_grad))

    def __deepcopy__(self, memo: dict[builtins.int, Any]) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                               "because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        t = wrap(self._data.copy())
        t._requires_grad = self._requires_grad
        if self._grad is not None:
            t._grad = wrap(self._grad._data.copy())
        memo[id(self)] = t
        return t

    # --------------------------------------------------------------- casts
    def to(self, *args: DTypeLike | Tensor | DeviceLike | None, **kwargs: Any) -> Tensor:
        """Cast to a dtype (``t.to(tg.float64)``); device arguments other than cpu are rejected."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) or type(a).__name__ == "device":
                if str(a) != "cpu":
                    raise RuntimeError(f"tracegrad runs on the CPU only, got device {a!r}")
            elif a is not None:
                dtype = a
        if dtype is None:
            return self
        nd = to_numpy_dtype(dtype)
        if nd == self._data.dtype:
            return self
        return apply_op(OPS["cast"], (self,), {"dtype": DTYPE_TO_SHORT[nd]})

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.to(_dtypes.float64)

    def long(self) -> Tensor:
        """Cast to int64."""
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        """Cast to int32."""
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        """Cast to bool."""
        return self.to(_dtypes.bool)

    def half(self) -> Tensor:
        """Cast to float16."""
        return self.to(_dtypes.float16)

    def clone(self) -> Tensor:
        """A copy that stays connected to the graph."""
        return apply_op(OPS["cast"], (self,), {"dtype": DTYPE_TO_SHORT[self._data.dtype]}, "CloneBackward0")

    # ----------------------------------------------------------- arithmetic
    __add__ = _binary("__add__", "add")
    __radd__ = _binary("__radd__", "add")  # commutative: PyTorch keeps the tensor first
    __sub__ = _binary("__sub__", "sub")
    __rsub__ = _binary("__rsub__", "sub", reflected=True, rnode_name="RsubBackward1")
    __mul__ = _binary("__mul__", "mul")
    __rmul__ = _binary("__rmul__", "mul")
    __floordiv__ = _binary("__floordiv__", "floor_divide")
    __rfloordiv__ = _binary("__rfloordiv__", "floor_divide", reflected=True)

    def __mod__(self, other: TensorLike) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray) + _NUMBER):
            return NotImplemented
        # PyTorch names the node by the divisor's kind, as for pow.
        name = "RemainderBackward0" if isinstance(other, _NUMBER) else "RemainderBackward1"
        return apply_op(OPS["remainder"], (self, other), _EMPTY, name)

    __rmod__ = _binary("__rmod__", "remainder", reflected=True)
    __truediv__ = _binary("__truediv__", "div")
    # PyTorch computes scalar / tensor as reciprocal * scalar, hence the node name.
    __rtruediv__ = _binary("__rtruediv__", "div", reflected=True, rnode_name="MulBackward0")
    # Comparisons are elementwise and return tensors, as in PyTorch (not the bool object.__eq__ promises).
    __eq__ = _binary("__eq__", "eq")  # type: ignore[assignment]
    __ne__ = _binary("__ne__", "ne")  # type: ignore[assignment]
    __lt__ = _binary("__lt__", "lt")
    __le__ = _binary("__le__", "le")
    __gt__ = _binary("__gt__", "gt")
    __ge__ = _binary("__ge__", "ge")
    __and__ = _binary("__and__", "logical_and")
    __or__ = _binary("__or__", "logical_or")
    __rand__ = _binary("__rand__", "logical_and", reflected=True)
    __ror__ = _binary("__ror__", "logical_or", reflected=True)

    def __pow__(self, other: TensorLike) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray) + _NUMBER):
            return NotImplemented
        name = "PowBackward0" if isinstance(other, _NUMBER) else "PowBackward1"
        return apply_op(OPS["pow"], (self, other), _EMPTY, name)

    def __rpow__(self, other: Scalar | np.ndarray) -> Tensor:
        if not isinstance(other, (np.ndarray,) + _NUMBER):
            return NotImplemented
        return apply_op(OPS["pow"], (other, self), _EMPTY, "PowBackward2")

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray)):
            return NotImplemented
        return apply_op(OPS["matmul"], (self, other))

    def __rmatmul__(self, other: np.ndarray) -> Tensor:
        if not isinstance(other, np.ndarray):
            return NotImplemented
        return apply_op(OPS["matmul"], (other, self))

    def __neg__(self) -> Tensor:
        return apply_op(OPS["neg"], (self,))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply_op(OPS["abs"], (self,))

    def __invert__(self) -> Tensor:
        if self._data.dtype == BOOL:
            return apply_op(OPS["logical_not"], (self,))
        if self._data.dtype.kind in "iu":
            return wrap(np.invert(self._data))
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")

    def add(self, other: TensorLike, *, alpha: Number = 1) -> Tensor:
        """``self + alpha * other``."""
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other: TensorLike, *, alpha: Number = 1) -> Tensor:
        """``self - alpha * other``."""
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other: TensorLike) -> Tensor:
        """``self * other``."""
        return self * other

    def div(self, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
        """``self / other``: true division, or rounded toward zero (``"trunc"``) or down (``"floor"``).

        The rounded forms have zero gradient, as in PyTorch.

        >>> import tracegrad as tg
        >>> tg.tensor([-7, 7]).div(2, rounding_mode="trunc")
        tensor([-3,  3])
        """
        if rounding_mode is None:
            return self / other
        name = "DivBackward2"  # PyTorch's node for both rounding modes
        if rounding_mode == "floor":
            return apply_op(OPS["floor_divide"], (self, other), _EMPTY, name)
        if rounding_mode == "trunc":
            return apply_op(COMPOSITES["trunc_divide"], (self, other), _EMPTY, name)
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")

    divide = div

    def remainder(self, other: TensorLike) -> Tensor:
        """Elementwise ``self % other``, with the sign of `other` (Python's and PyTorch's ``remainder``)."""
        return self % other

    def pow(self, exponent: TensorLike) -> Tensor:
        """``self ** exponent``."""
        return self ** exponent

    def matmul(self, other: Tensor | np.ndarray) -> Tensor:
        """Matrix product with ``torch.matmul`` semantics."""
        return apply_op(OPS["matmul"], (self, other))

    def mm(self, other: Tensor | np.ndarray) -> Tensor:
        """Product of two matrices."""
        if self._data.ndim != 2:
            raise RuntimeError("self must be a matrix")
        if np.ndim(other._data if isinstance(other, Tensor) else other) != 2:
            raise RuntimeError("mat2 must be a matrix")
        return apply_op(OPS["matmul"], (self, other))

    def dot(self, other: Tensor | np.ndarray) -> Tensor:
        """Inner product of two vectors."""
        return apply_op(OPS["matmul"], (self, other))

    def mv(self, vec: Tensor) -> Tensor:
        """Product of this matrix and vector `vec`."""
        v = _as_operand(vec)
        if self._data.ndim != 2 or v._data.ndim != 1 or self._data.shape[1] != v._data.shape[0]:
            raise RuntimeError(f"size mismatch, got input ({self._data.shape[0] if self._data.ndim else 0}), "
                               f"mat ({'x'.join(map(str, self._data.shape))}), vec ({v._data.shape[0]})"
                               if self._data.ndim == 2 and v._data.ndim == 1 else
                               "vector + matrix @ vector expected, got "
                               f"1, {self._data.ndim}, {v._data.ndim}")
        return apply_op(OPS["matmul"], (self, v), _EMPTY, "MvBackward0")

    def bmm(self, mat2: Tensor) -> Tensor:
        """Batched product of two stacks of matrices, (b, n, m) @ (b, m, p) -> (b, n, p), without broadcasting."""
        other = _as_operand(mat2)
        if self._data.ndim != 3:
            raise RuntimeError("batch1 must be a 3D tensor")
        if other._data.ndim != 3:
            raise RuntimeError("batch2 must be a 3D tensor")
        b, m, b2, m2 = self._data.shape[0], self._data.shape[2], other._data.shape[0], other._data.shape[1]
        if b != b2 or m != m2:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{b}, {m}] but "
                               f"got: [{b2}, {m2}].")
        return apply_op(OPS["matmul"], (self, other), _EMPTY, "BmmBackward0")

    def outer(self, vec2: Tensor) -> Tensor:
        """The outer product of two vectors: ``out[i, j] = self[i] * vec2[j]``."""
        other = _as_operand(vec2)
        return self.reshape(-1, 1) * other.reshape(1, -1)

    ger = outer

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: Number = 1, alpha: Number = 1) -> Tensor:
        """``beta * self + alpha * (mat1 @ mat2)`` for matrices (self broadcasts to the product's shape)."""
        a, b = _as_operand(mat1), _as_operand(mat2)
        if a._data.ndim != 2 or b._data.ndim != 2:
            raise RuntimeError(f"{'mat1' if a._data.ndim != 2 else 'mat2'} must be a matrix, got "
                               f"{(a if a._data.ndim != 2 else b)._data.ndim}-D tensor")
        return apply_op(COMPOSITES["addmm"], (self, a, b), {"beta": beta, "alpha": alpha})

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Number = 1, alpha: Number = 1) -> Tensor:
        """``beta * self + alpha * bmm(batch1, batch2)``."""
        a, b = _as_operand(batch1), _as_operand(batch2)
        if a._data.ndim != 3:
            raise RuntimeError("batch1 must be a 3D tensor")
        if b._data.ndim != 3:
            raise RuntimeError("batch2 must be a 3D tensor")
        return apply_op(COMPOSITES["addmm"], (self, a, b), {"beta": beta, "alpha": alpha}, "BaddbmmBackward0")

    def diag_embed(self, offset: builtins.int = 0, dim1: builtins.int = -2, dim2: builtins.int = -1) -> Tensor:
        """A tensor whose `dim1`, `dim2` diagonal (above it for `offset` > 0) holds the last dimension of self.

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 2.0]).diag_embed()
        tensor([[1., 0.],
                [0., 2.]])
        """
        out = apply_op(COMPOSITES["diag_embed"], (self,), {"offset": offset})
        ndim = out._data.ndim
        d1, d2 = normalize_axes((dim1,), ndim)[0], normalize_axes((dim2,), ndim)[0]
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return out if (d1, d2) == (ndim - 2, ndim - 1) else out.movedim((ndim - 2, ndim - 1), (d1, d2))

    def diag(self, diagonal: builtins.int = 0) -> Tensor:
        """A vector laid on diagonal `diagonal` of a square matrix, or a matrix's diagonal as a vector."""
        if self._data.ndim == 1:
            return self.diag_embed(diagonal)
        if self._data.ndim == 2:
            return apply_op(COMPOSITES["diagonal"], (self,), {"offset": diagonal, "dim1": 0, "dim2": 1},
                            "DiagonalBackward0_copy")
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{self._data.ndim}D")

    def repeat_interleave(self, repeats: builtins.int | Tensor, dim: builtins.int | None = None) -> Tensor:
        """Each element (or slice along `dim`) repeated `repeats` times in place (numpy's ``repeat``).

        >>> import tracegrad as tg
        >>> tg.tensor([1, 2]).repeat_interleave(2)
        tensor([1, 1, 2, 2])
        """
        x = self.reshape(-1) if dim is None else self
        axis = 0 if dim is None else self._axis(dim)
        n = x._data.shape[axis] if x._data.ndim else 1
        counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
        if counts.ndim == 0 and not isinstance(repeats, Tensor):
            # An int: each slice broadcast `repeats` times next to itself, then merged (PyTorch's ViewBackward0).
            shape = list(x._data.shape)
            spread = x.unsqueeze(axis + 1).expand(*shape[:axis + 1], int(counts), *shape[axis + 1:])
            shape[axis] *= int(counts)
            return spread.reshape(shape)
        if counts.ndim > 1 or (counts.ndim == 1 and counts.shape[0] not in (1, n)):
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        picks = np.repeat(np.arange(n, dtype=np.int64), np.broadcast_to(counts, (n,)))
        return x.index_select(axis, wrap(picks))

    def masked_select(self, mask: Tensor) -> Tensor:
        """The elements where `mask` (broadcast with self) is true, as a vector."""
        m = _as_operand(mask)
        shape = np.broadcast_shapes(self._data.shape, m._data.shape)
        x = self if self._data.shape == shape else self.expand(shape)
        m = m if m._data.shape == shape else m.expand(shape)
        spec, arrays = parse_index(m, shape)
        return apply_op(OPS["index"], (x, *arrays), {"spec": spec}, "MaskedSelectBackward0")

    def square(self) -> Tensor:
        """Elementwise ``self * self``."""
        return apply_op(OPS["mul"], (self, self), _EMPTY, "PowBackward0")

    def reciprocal(self) -> Tensor:
        """Elementwise ``1 / self``."""
        return apply_op(OPS["div"], (1.0, self), _EMPTY, "ReciprocalBackward0")

    def rsqrt(self) -> Tensor:
        """Elementwise ``1 / sqrt(self)``."""
        return apply_op(COMPOSITES["rsqrt"], (self,), _EMPTY)

    def polygamma(self, n: int) -> Tensor:
        """The `n`-th derivative of ``digamma`` (n = 0 is digamma itself); float64 inside, as PyTorch's
        ``torch.polygamma(n, input)``.

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 2.0]).polygamma(1)
        tensor([1.6449, 0.6449])
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"polygamma(): argument 'n' must be int, not {type(n).__name__}")
        if n < 0:
            raise RuntimeError("polygamma(n, x) does not support negative n.")
        return apply_op(TABLE["polygamma"], (self,), {"n": int(n)})

    def mvlgamma(self, p: builtins.int) -> Tensor:
        """The log of the multivariate gamma function of dimension `p`: ``p (p - 1) / 4 log(pi) + sum_i
        lgamma(x - i / 2)`` for i < p (finite where every element exceeds (p - 1) / 2).

        >>> import tracegrad as tg
        >>> tg.tensor([2.5]).mvlgamma(2)
        tensor([0.8570])
        """
        if p < 1:
            raise RuntimeError("p has to be greater than or equal to 1")
        x = self if self.is_floating_point() else self.to(from_numpy_dtype(default_float_np()))
        steps = wrap(-np.arange(p, dtype=x._data.dtype) / 2)
        total = (x.unsqueeze(-1) + steps).lgamma().sum(-1)
        return apply_op(OPS["add"], (total, p * (p - 1) / 4 * math.log(math.pi)), _EMPTY, "MvlgammaBackward0")

    def digamma(self) -> Tensor:
        """Elementwise ``digamma``: the derivative of ``lgamma`` (-inf at 0, NaN at negative integers)."""
        return apply_op(TABLE["polygamma"], (self,), {"n": 0}, "DigammaBackward0")

    # Spelled out one by one (not generated in a loop) so that type checkers see every method.
    eq = _binary("eq", "eq")
    ne = _binary("ne", "ne")
    lt = _binary("lt", "lt")
    le = _binary("le", "le")
    gt = _binary("gt", "gt")
    ge = _binary("ge", "ge")
    greater = _binary("greater", "gt")
    less = _binary("less", "lt")
    greater_equal = _binary("greater_equal", "ge")
    less_equal = _binary("less_equal", "le")
    maximum = _binary("maximum", "maximum")
    minimum = _binary("minimum", "minimum")
    logical_and = _binary("logical_and", "logical_and")
    logical_or = _binary("logical_or", "logical_or")
    exp = _unary("exp")
    log = _unary("log")
    log1p = _unary("log1p")
    expm1 = _unary("expm1")
    sin = _unary("sin")
    cos = _unary("cos")
    tanh = _unary("tanh")
    sigmoid = _unary("sigmoid")
    relu = _unary("relu")
    abs = _unary("abs")
    sqrt = _unary("sqrt")
    erf = _unary("erf")
    erfc = _unary("erfc")
    erfinv = _unary("erfinv")
    lgamma = _unary("lgamma")
    sign = _unary("sign")
    logical_not = _unary("logical_not")
    neg = _unary("neg")
    negative = neg
    asin = arcsin = _unary("asin")
    acos = arccos = _unary("acos")
    tan = _unary("tan")
    atan = arctan = _unary("atan")
    sinh = _unary("sinh")
    cosh = _unary("cosh")
    asinh = arcsinh = _unary("asinh")
    acosh = arccosh = _unary("acosh")
    atanh = arctanh = _unary("atanh")
    log2 = _unary("log2")
    log10 = _unary("log10")
    exp2 = _unary("exp2")
    floor = _rounding("floor")
    ceil = _rounding("ceil")
    trunc = fix = _rounding("trunc")
    atan2 = arctan2 = _binary("atan2", "atan2")
    hypot = _binary("hypot", "hypot")
    logaddexp = _binary("logaddexp", "logaddexp")

    def round(self, decimals: builtins.int = 0) -> Tensor:
        """Round half to even, at `decimals` decimal places (negative: tens, hundreds ...).

        >>> import tracegrad as tg
        >>> tg.tensor([0.5, 1.5, 2.567]).round(), tg.tensor([2.567]).round(decimals=2)
        (tensor([0., 2., 3.]), tensor([2.5700]))
        """
        if self._data.dtype.kind != "f":
            return self.clone() if decimals >= 0 else apply_op(COMPOSITES["round_decimals"], (self,),
                                                               {"decimals": decimals})
        if decimals == 0:
            return apply_op(OPS["round"], (self,))
        return apply_op(COMPOSITES["round_decimals"], (self,), {"decimals": decimals})

    def _counting(self, dtype: DTypeLike | None) -> Tensor:
        """Self as a running sum or product sees it: cast to `dtype`, or int64 for integers and bools (PyTorch)."""
        if dtype is not None:
            return self.to(dtype)
        return self if self._data.dtype.kind == "f" else self.to(_dtypes.int64)

    def cumsum(self, dim: builtins.int, *, dtype: DTypeLike | None = None) -> Tensor:
        """Running sums along `dim`.

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 2.0, 3.0]).cumsum(0)
        tensor([1., 3., 6.])
        """
        return apply_op(COMPOSITES["cumsum"], (self._counting(dtype),), {"axis": _dim(dim, self.ndim)})

    def cumprod(self, dim: builtins.int, *, dtype: DTypeLike | None = None) -> Tensor:
        """Running products along `dim` (gradients exact where elements are zero)."""
        return apply_op(COMPOSITES["cumprod"], (self._counting(dtype),), {"axis": _dim(dim, self.ndim)})

    @_numpy_keywords
    def prod(self, dim: builtins.int | None = None, keepdim: builtins.bool = False, *,
             dtype: DTypeLike | None = None) -> Tensor:
        """The product of all elements, or along `dim`.

        >>> import tracegrad as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).prod(1)
        tensor([ 2., 12.])
        """
        x = self._counting(dtype)
        return apply_op(COMPOSITES["prod"], (x,), {"axes": None if dim is None else _dims(dim, self.ndim),
                                                   "keepdims": keepdim if dim is not None else False})

    def frac(self) -> Tensor:
        """The fractional part ``self - trunc(self)``, with the sign of self."""
        return apply_op(COMPOSITES["frac"], (self,))

    def fmod(self, other: TensorLike) -> Tensor:
        """C's remainder ``self - trunc(self / other) * other``: the sign of self (``remainder`` takes other's)."""
        name = "FmodBackward0" if isinstance(other, _NUMBER) else "FmodBackward1"
        return apply_op(OPS["fmod"], (self, other), _EMPTY, name)

    def xlogy(self, other: TensorLike) -> Tensor:
        """``self * log(other)``, 0 where self is 0 (unless other is NaN)."""
        return apply_op(COMPOSITES["xlogy"], (self, other))

    def lerp(self, end: TensorLike, weight: TensorLike) -> Tensor:
        """Linear interpolation ``self + weight * (end - self)``.

        >>> import tracegrad as tg
        >>> tg.tensor([0.0, 10.0]).lerp(tg.tensor([10.0, 20.0]), 0.25)
        tensor([ 2.5000, 12.5000])
        """
        name = "LerpBackward0" if isinstance(weight, _NUMBER) else "LerpBackward1"
        return apply_op(COMPOSITES["lerp"], (self, end, weight), _EMPTY, name)

    def addcmul(self, tensor1: TensorLike, tensor2: TensorLike, *, value: Number = 1) -> Tensor:
        """``self + value * tensor1 * tensor2``."""
        return apply_op(COMPOSITES["addcmul"], (self, tensor1, tensor2), {"value": value})

    def addcdiv(self, tensor1: TensorLike, tensor2: TensorLike, *, value: Number = 1) -> Tensor:
        """``self + value * tensor1 / tensor2``."""
        if all(isinstance(t, Tensor) and t._data.dtype.kind != "f" for t in (tensor1, tensor2)):
            raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release "
                               "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
                               "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))."
                               "to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) for "
                               "float inputs. The future addcdiv behavior is just the latter implementation: "
                               "(input + value * tensor1 / tensor2), for all dtypes.")
        return apply_op(COMPOSITES["addcdiv"], (self, tensor1, tensor2), {"value": value})

    def nan_to_num(self, nan: builtins.float = 0.0, posinf: builtins.float | None = None,
                   neginf: builtins.float | None = None) -> Tensor:
        """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (default: the dtype's extremes)."""
        if self._data.dtype.kind != "f":
            return self.clone()
        return apply_op(COMPOSITES["nan_to_num"], (self,), {"nan": nan, "posinf": posinf, "neginf": neginf})

    def softmax(self, dim: builtins.int) -> Tensor:
        """``exp(self) / sum(exp(self))`` along `dim`."""
        return apply_op(COMPOSITES["softmax"], (self,), {"axis": normalize_axes((dim,), self.ndim)[0]
                                                          if self.ndim else 0})

    def log_softmax(self, dim: builtins.int) -> Tensor:
        """``self - logsumexp(self)`` along `dim`."""
        return apply_op(COMPOSITES["log_softmax"], (self,), {"axis": normalize_axes((dim,), self.ndim)[0]
                                                              if self.ndim else 0})

    @_numpy_keywords
    def logsumexp(self, dim: Dims, keepdim: builtins.bool = False) -> Tensor:
        """``log(sum(exp(self)))`` along `dim`, stable for large values."""
        return apply_op(COMPOSITES["logsumexp"], (self,), {"axes": _dims(dim, self.ndim), "keepdims": keepdim})

    def diagonal(self, offset: builtins.int = 0, dim1: builtins.int = 0, dim2: builtins.int = 1) -> Tensor:
        """The diagonal of dimensions `dim1` and `dim2` (above it for `offset` > 0), as the last dimension.

        Unlike PyTorch's, the result is a copy, not a view: writing into it leaves `self` unchanged.

        >>> import tracegrad as tg
        >>> tg.arange(9.).reshape(3, 3).diagonal(1)
        tensor([1., 5.])
        """
        return apply_op(COMPOSITES["diagonal"], (self,), {"offset": offset, "dim1": dim1, "dim2": dim2})

    def trace(self) -> Tensor:
        """The sum of a matrix's diagonal.

        >>> import tracegrad as tg
        >>> tg.arange(9.).reshape(3, 3).trace()
        tensor(12.)
        """
        return apply_op(COMPOSITES["trace"], (self,))

    def tril(self, diagonal: builtins.int = 0) -> Tensor:
        """The lower triangle of the last two dimensions (on and below diagonal `diagonal`); zeros elsewhere."""
        return apply_op(COMPOSITES["tril"], (self,), {"diagonal": diagonal})

    def triu(self, diagonal: builtins.int = 0) -> Tensor:
        """The upper triangle of the last two dimensions (on and above diagonal `diagonal`); zeros elsewhere."""
        return apply_op(COMPOSITES["triu"], (self,), {"diagonal": diagonal})

    def _axis(self, dim: builtins.int) -> builtins.int:
        return normalize_axes((dim,), self._data.ndim)[0]

    def _slices(self, axis: builtins.int, start: builtins.int, stop: builtins.int, name: builtins.str) -> Tensor:
        return apply_op(OPS["index"], (self,), {"spec": axis_slice_spec(self._data.ndim, axis, start, stop)}, name)

    def narrow(self, dim: builtins.int, start: builtins.int, length: builtins.int) -> Tensor:
        """Elements ``start`` to ``start + length - 1`` along `dim`.

        >>> import tracegrad as tg
        >>> tg.arange(5).narrow(0, 1, 3)
        tensor([1, 2, 3])
        """
        axis = self._axis(dim)
        n = self._data.shape[axis]
        begin = start + n if start < 0 else start
        if not 0 <= begin <= n or length < 0 or begin + length > n:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self._slices(axis, begin, begin + length, "SliceBackward0")

    def split(self, split_size_or_sections: builtins.int | Sequence[builtins.int],
              dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """Pieces along `dim`: of `split_size` elements each (the last may be smaller), or of the sizes listed.

        >>> import tracegrad as tg
        >>> tg.arange(5).split([2, 3])
        (tensor([0, 1]), tensor([2, 3, 4]))
        """
        axis = self._axis(dim)
        n = self._data.shape[axis]
        if isinstance(split_size_or_sections, builtins.int):
            size = split_size_or_sections
            if size < 0 or (size == 0 and n != 0):
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            sizes = [builtins.min(size, n - start) for start in range(0, n, size)] if size else [0]
            name = "SplitBackward0"
        else:
            sizes = [builtins.int(k) for k in split_size_or_sections]
            if builtins.sum(sizes) != n or builtins.any(k < 0 for k in sizes):
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                                   f"at dimension {dim}), but got split_sizes={sizes}")
            name = "SplitWithSizesBackward0"
        pieces, start = [], 0
        for k in sizes:
            pieces.append(self._slices(axis, start, start + k, name))
            start += k
        return tuple(pieces)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """At most `chunks` pieces of equal size along `dim` (the last may be smaller), as PyTorch cuts them."""
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        n = self._data.shape[self._axis(dim)]
        return self.split(builtins.max(-(-n // chunks), 1), dim)

    def unbind(self, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """The slices along `dim`, that dimension removed."""
        axis = self._axis(dim)
        lead = (("slice", None, None, None),) * axis
        return tuple(apply_op(OPS["index"], (self,), {"spec": lead + (("int", i),)}, "UnbindBackward0")
                     for i in range(self._data.shape[axis]))

    def movedim(self, source: builtins.int | Sequence[builtins.int],
                destination: builtins.int | Sequence[builtins.int]) -> Tensor:
        """Dimensions `source` moved to positions `destination`, the others in their order."""
        src = (source,) if isinstance(source, builtins.int) else tuple(source)
        dst = (destination,) if isinstance(destination, builtins.int) else tuple(destination)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                               f"contain the same number of dims as destination ({list(dst)} dims)")
        n = self._data.ndim
        src, dst = normalize_axes_ordered(src, n), normalize_axes_ordered(dst, n)
        rest = iter(d for d in range(n) if d not in src)
        placed = builtins.dict(zip(dst, src))
        return self.permute(tuple(placed[i] if i in placed else next(rest) for i in range(n)))

    moveaxis = movedim

    def unflatten(self, dim: builtins.int, sizes: Sequence[builtins.int]) -> Tensor:
        """Dimension `dim` split into `sizes` (one entry may be -1)."""
        axis = self._axis(dim)
        s = self._data.shape
        sizes = list(sizes)
        if -1 in sizes:
            known = builtins.int(np.prod([k for k in sizes if k != -1]))
            sizes[sizes.index(-1)] = s[axis] // known if known else 0
        return self.reshape(s[:axis] + tuple(sizes) + s[axis + 1:])

    def flip(self, *dims: builtins.int | Sequence[builtins.int]) -> Tensor:
        """The order of elements reversed along `dims`."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        axes = normalize_axes_ordered(dims, self._data.ndim)
        spec = tuple(("slice", None, None, -1) if d in axes else ("slice", None, None, None)
                     for d in range(self._data.ndim))
        return apply_op(OPS["index"], (self,), {"spec": spec}, "FlipBackward0")

    def roll(self, shifts: builtins.int | Sequence[builtins.int],
             dims: builtins.int | Sequence[builtins.int] | None = None) -> Tensor:
        """Elements shifted by `shifts` along `dims` (the flattened tensor without `dims`), wrapping around."""
        shifts = (shifts,) if isinstance(shifts, builtins.int) else tuple(shifts)
        if dims is not None:
            dims = (dims,) if isinstance(dims, builtins.int) else tuple(dims)
        return apply_op(COMPOSITES["roll"], (self,), {"shifts": shifts, "dims": dims})

    def repeat(self, *sizes: builtins.int | Sequence[builtins.int]) -> Tensor:
        """The tensor tiled `sizes[i]` times along dimension i (leading new dimensions allowed)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, Size)):
            sizes = tuple(sizes[0])
        return apply_op(COMPOSITES["repeat"], (self,), {"repeats": tuple(builtins.int(k) for k in sizes)})

    def tile(self, dims: Sequence[builtins.int]) -> Tensor:
        """:meth:`repeat` with `dims` padded with leading ones to the tensor's rank."""
        dims = (dims,) if isinstance(dims, builtins.int) else tuple(dims)
        return self.repeat((1,) * (self._data.ndim - len(dims)) + dims)

    def index_select(self, dim: builtins.int, index: Tensor) -> Tensor:
        """The entries at the integer positions `index` (a vector) along `dim`."""
        return apply_op(COMPOSITES["index_select"], (self, index), {"axis": self._axis(dim)})

    def isnan(self) -> Tensor:
        """Elementwise: is the value NaN (a traced comparison, ``self != self``, so compiled code sees it)."""
        if self._data.dtype.kind != "f":
            return wrap(np.zeros(self._data.shape, np.bool_))
        return apply_op(OPS["ne"], (self, self))

    def isinf(self) -> Tensor:
        """Elementwise: is the value +inf or -inf."""
        if self._data.dtype.kind != "f":
            return wrap(np.zeros(self._data.shape, np.bool_))
        return apply_op(OPS["eq"], (self.detach().abs(), math.inf))

    def isfinite(self) -> Tensor:
        """Elementwise: is the value neither infinite nor NaN."""
        if self._data.dtype.kind != "f":
            return wrap(np.ones(self._data.shape, np.bool_))
        return apply_op(OPS["lt"], (self.detach().abs(), math.inf))

    def argsort(self, dim: builtins.int = -1, descending: builtins.bool = False, *,
                stable: builtins.bool = False) -> Tensor:
        """The order that sorts self along `dim` (ties keep their order; NaN counts as the largest value).

        >>> import tracegrad as tg
        >>> tg.tensor([3.0, 1.0, 2.0]).argsort()
        tensor([1, 2, 0])
        """
        return apply_op(OPS["argsort"], (self,), {"axis": _dim(dim, self.ndim), "descending": descending})

    def sort(self, dim: builtins.int = -1, descending: builtins.bool = False, *,
             stable: builtins.bool = False) -> MinMax:
        """``(values, indices)``: self sorted along `dim`, and where each value came from.

        >>> import tracegrad as tg
        >>> tg.tensor([3.0, 1.0, 2.0]).sort(descending=True).values
        tensor([3., 2., 1.])
        """
        indices = self.argsort(dim, descending)
        return _Sort(self._pick(indices, dim, "SortBackward0"), indices)

    def cummax(self, dim: builtins.int) -> MinMax:
        """``(values, indices)``: the running maximum along `dim` and where it was reached (the latest
        position at ties; NaN, once seen, stays).  The gradient goes to those positions.

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 3.0, 2.0, 3.0]).cummax(0)
        torch.return_types.cummax(
        values=tensor([1., 3., 3., 3.]),
        indices=tensor([0, 1, 1, 3]))
        """
        indices = self._running_extreme(dim, larger=True)
        return _Cummax(self._pick(indices, dim, "CummaxBackward0"), indices)

    def cummin(self, dim: builtins.int) -> MinMax:
        """``(values, indices)``: the running minimum along `dim` and where it was reached (as ``cummax``)."""
        indices = self._running_extreme(dim, larger=False)
        return _Cummin(self._pick(indices, dim, "CumminBackward0"), indices)

    def _running_extreme(self, dim: builtins.int, larger: builtins.bool) -> Tensor:
        """Where the running maximum (or minimum) along `dim` was reached: a log-depth scan of (value, index)
        pairs in which the later one wins when it is at least as large (or NaN), which is associative."""
        if not self.ndim:
            _dim(dim, 1)  # PyTorch's range check: a 0-d tensor takes dim 0 or -1
            return wrap(np.zeros((), np.int64))
        axis = self._axis(dim)
        n = self.shape[axis]
        values, index = self.detach(), self._positions(axis).expand(*self.shape)

        def joined(head: Tensor, rest: Tensor) -> Tensor:
            return apply_op(OPS["concat"], (head, rest), {"axis": axis})
        shift = 1
        while shift < n:
            earlier_v, later_v = values.narrow(axis, 0, n - shift), values.narrow(axis, shift, n - shift)
            earlier_i, later_i = index.narrow(axis, 0, n - shift), index.narrow(axis, shift, n - shift)
            later = (later_v >= earlier_v) if larger else (later_v <= earlier_v)
            if self.is_floating_point():
                later = later | later_v.isnan()
            values = joined(values.narrow(axis, 0, shift), later_v.where(later, earlier_v))
            index = joined(index.narrow(axis, 0, shift), later_i.where(later, earlier_i))
            shift *= 2
        return index

    def _positions(self, axis: builtins.int) -> Tensor:
        """0, 1, ... along `axis` (int64), shaped to broadcast against self."""
        n = self.shape[axis]
        return wrap(np.arange(n, dtype=np.int64).reshape(tuple(n if d == axis else 1 for d in range(self.ndim))))

    def aminmax(self, *, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> tuple[Tensor, Tensor]:
        """``(min, max)`` over all elements or along `dim`, one pass in PyTorch (two reductions here).

        >>> import tracegrad as tg
        >>> tg.tensor([[1.0, 5.0], [-2.0, 3.0]]).aminmax(dim=1).max
        tensor([5., 3.])
        """
        axes = None if dim is None else (self._axis(dim),) if self.ndim else ()
        if 0 in (self.shape if axes is None else [self.shape[a] for a in axes]):
            raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                               "identity.")
        attrs = {"axes": axes, "keepdims": keepdim}
        return _Aminmax(apply_op(OPS["min"], (self,), attrs, "AminmaxBackward0"),
                        apply_op(OPS["max"], (self,), attrs, "AminmaxBackward0"))

    def mode(self, dim: builtins.int = -1, keepdim: builtins.bool = False) -> MinMax:
        """``(values, indices)``: the most frequent value along `dim` (the smallest of equally frequent
        ones) and its last position; the gradient goes to that position.  Counts compare every pair of
        elements along `dim` (n^2 work per row).

        >>> import tracegrad as tg
        >>> tg.tensor([2.0, 1.0, 1.0, 2.0, 3.0]).mode()
        torch.return_types.mode(
        values=tensor(1.),
        indices=tensor(2))
        """
        if not self.ndim:
            _dim(dim, 1)
            zero = wrap(np.zeros((), np.int64))
            return _Mode(self._pick(zero, 0, "ModeBackward0"), zero)
        axis = self._axis(dim)
        x = self.detach()
        counts = (x.unsqueeze(axis + 1) == x.unsqueeze(axis)).sum(axis + 1)
        frequent = counts == counts.amax(axis, keepdim=True)
        dtype = self._data.dtype
        top = np.finfo(dtype).max if dtype.kind == "f" else np.iinfo(dtype).max
        value = x.where(frequent, top).amin(axis, keepdim=True)
        positions = self._positions(axis)
        matches = x == value
        if dtype.kind == "f":  # a row of NaN only: its mode is NaN, at the last NaN
            matches = matches | (x.isnan() & value.isnan())
        indices = positions.where(matches, -1).amax(axis, keepdim=True)
        values = self._pick(indices, axis, "ModeBackward0")
        if not keepdim:  # the squeeze keeps PyTorch's node name
            indices = indices.squeeze(axis)
            values = apply_op(OPS["reshape"], (values,), {"shape": indices.shape}, "ModeBackward0")
        return _Mode(values, indices)

    def msort(self) -> Tensor:
        """Self sorted along dimension 0."""
        return self.sort(0).values

    def topk(self, k: builtins.int, dim: builtins.int = -1, largest: builtins.bool = True,
             sorted: builtins.bool = True) -> MinMax:
        """``(values, indices)`` of the `k` largest (or smallest) elements along `dim`, in order.

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 5.0, 3.0, 4.0]).topk(2)
        torch.return_types.topk(
        values=tensor([5., 4.]),
        indices=tensor([1, 3]))
        """
        n = self.shape[dim] if self.ndim else 1
        if not 0 <= k <= n:
            raise RuntimeError("selected index k out of range")
        indices = self.argsort(dim, largest)
        indices = indices.narrow(dim, 0, k) if self.ndim else indices
        return _Topk(self._pick(indices, dim, "TopkBackward0"), indices)

    def kthvalue(self, k: builtins.int, dim: builtins.int = -1, keepdim: builtins.bool = False) -> MinMax:
        """``(values, indices)`` of the `k`-th smallest element (counting from 1) along `dim`."""
        n = self.shape[dim] if self.ndim else 1
        if not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {_dim(dim, self.ndim)}")
        return _Kthvalue(*self._select_sorted(k - 1, dim, keepdim, "KthvalueBackward0"))

    def median(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Any:
        """The lower median of all elements, or ``(values, indices)`` along `dim`; NaN if a NaN is present.

        >>> import tracegrad as tg
        >>> tg.tensor([4.0, 1.0, 3.0, 2.0]).median()
        tensor(2.)
        """
        if dim is None:
            flat = self.reshape(-1)
            if flat.shape[0] == 0:
                return apply_op(OPS["mul"], (self.sum(), math.nan), _EMPTY, "MedianBackward0")
            value, _ = flat._select_sorted((flat.shape[0] - 1) // 2, 0, False, "MedianBackward0")
            return value
        n = self.shape[dim] if self.ndim else 1
        if n == 0:
            raise IndexError(f"median(): Expected reduction dim {_dim(dim, self.ndim)} to have non-zero size.")
        return _Median(*self._select_sorted((n - 1) // 2, dim, keepdim, "MedianBackward1"))

    def _select_sorted(self, rank: builtins.int, dim: builtins.int, keepdim: builtins.bool,
                       name: builtins.str) -> tuple[Tensor, Tensor]:
        """The element of sorted position `rank` along `dim` and its index; the NaN when the row has one
        (sorted last), as PyTorch's median and kthvalue give."""
        if not self.ndim:
            return apply_op(OPS["mul"], (self, 1.0), _EMPTY, name), wrap(np.zeros((), np.int64))
        order = self.argsort(dim)
        n = self.shape[dim]
        chosen, last = order.narrow(dim, rank, 1), order.narrow(dim, n - 1, 1)
        if self._data.dtype.kind == "f":
            chosen = last.where(self.gather(dim, last).isnan(), chosen)
        if keepdim:
            return self._pick(chosen, dim, name), chosen
        chosen = chosen.squeeze(dim)
        values = apply_op(COMPOSITES["gather"], (self, chosen.unsqueeze(dim)), {"axis": self._axis(dim)})
        # The last node carries PyTorch's name (grad_fn is what users see).
        return apply_op(OPS["reshape"], (values,), {"shape": tuple(chosen.shape)}, name), chosen

    def _pick(self, indices: Tensor, dim: builtins.int, name: builtins.str) -> Tensor:
        """Self's elements at `indices` along `dim` (a gather), recorded under PyTorch's node `name`."""
        if not self.ndim:
            return apply_op(OPS["mul"], (self, 1.0), _EMPTY, name)
        return apply_op(COMPOSITES["gather"], (self, indices), {"axis": self._axis(dim)}, name)

    def gather(self, dim: builtins.int, index: Tensor) -> Tensor:
        """``out[i][j] = self[index[i][j]][j]`` for `dim` 0 (and likewise for other dims): `index` has
        self's number of dimensions and is no larger than self apart from `dim`.

        >>> import tracegrad as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, tg.tensor([[1, 1], [0, 1]]))
        tensor([[2., 2.],
                [3., 4.]])
        """
        _check_gather_index("gather", index, self.ndim)
        return apply_op(COMPOSITES["gather"], (self, index), {"axis": self._axis(dim)})

    def scatter_add(self, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor:
        """Self with ``src[i][j]`` added at ``[index[i][j]][j]`` for `dim` 0 (likewise for other dims);
        repeated targets accumulate.  The inverse addressing of :meth:`gather`."""
        _check_gather_index("scatter_add", index, self.ndim)
        src_t = src if isinstance(src, Tensor) else wrap(np.asarray(src))
        if src_t.dtype != self.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        return apply_op(COMPOSITES["scatter_add"], (self, index, src_t), {"axis": self._axis(dim)})

    def scatter(self, dim: builtins.int, index: Tensor, src: TensorLike | None = None, *,
                value: Number | None = None) -> Tensor:
        """Self with ``src[i][j]`` (or the number `value`) written at ``[index[i][j]][j]`` for `dim` 0,
        likewise for other dims.  For repeated targets PyTorch leaves the result unspecified.

        >>> import tracegrad as tg
        >>> tg.zeros(2, 3).scatter(1, tg.tensor([[2], [0]]), tg.tensor([[5.0], [7.0]]))
        tensor([[0., 0., 5.],
                [7., 0., 0.]])
        """
        _check_gather_index("scatter", index, self.ndim)
        if src is None and value is None:
            raise TypeError("scatter() missing 1 required positional argument: 'src' (or the keyword 'value')")
        name = "ScatterBackward0"
        if src is None or isinstance(src, _NUMBER):
            src, name = wrap(np.full(index._data.shape, value if src is None else src, self._data.dtype)), \
                "ScatterBackward1"
        src_t = src if isinstance(src, Tensor) else wrap(np.asarray(src))
        if src_t.dtype != self.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        return apply_op(COMPOSITES["scatter"], (self, index, src_t), {"axis": self._axis(dim)}, name)

    def index_add(self, dim: builtins.int, index: Tensor, source: Tensor, *, alpha: Number = 1) -> Tensor:
        """Self with ``alpha * source`` added at positions `index` (a vector) along `dim`; repeats add up.

        >>> import tracegrad as tg
        >>> tg.zeros(3).index_add(0, tg.tensor([0, 2, 0]), tg.tensor([1.0, 2.0, 3.0]))
        tensor([4., 0., 2.])
        """
        axis = self._axis(dim)
        return apply_op(COMPOSITES["index_add_along"], (self, index, source), {"axis": axis, "alpha": alpha})

    def take_along_dim(self, indices: Tensor, dim: builtins.int | None = None) -> Tensor:
        """The entries at `indices` along `dim` (of the flattened tensor when `dim` is None); `indices`
        and self broadcast against each other apart from `dim` (numpy's ``take_along_axis``)."""
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        axis = self._axis(dim)
        if indices.ndim != self.ndim:
            raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of "
                               f"dimensions, but got {self.ndim} dimensions for input, and {indices.ndim} "
                               f"dimensions for indices")
        x_shape, i_shape = list(self.shape), list(indices.shape)
        x_shape[axis] = i_shape[axis] = 1
        common = list(np.broadcast_shapes(tuple(x_shape), tuple(i_shape)))
        x = self.expand([self.shape[axis] if d == axis else n for d, n in enumerate(common)])
        idx = indices.expand([indices.shape[axis] if d == axis else n for d, n in enumerate(common)])
        return x.gather(axis, idx)

    def masked_fill(self, mask: Tensor, value: Number | Tensor) -> Tensor:
        """`value` where `mask` is true, `self` elsewhere (the mask broadcasts to self's shape)."""
        if isinstance(value, Tensor):
            if value.ndim:
                raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                                   f"with {value.ndim} dimension(s).")
            return apply_op(OPS["where"], (mask, value.to(self.dtype), self), _EMPTY, "MaskedFillBackward1")
        return apply_op(COMPOSITES["masked_fill"], (self, mask), {"value": value})

    def clamp(self, min: Number | Tensor | None = None, max: Number | Tensor | None = None) -> Tensor:
        """Clamp values into [min, max] (either bound may be None)."""
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            # A missing bound is the dtype's own extreme, which no element passes.
            kind = self._data.dtype.kind
            info = np.iinfo(self._data.dtype) if kind in "iu" else None
            lowest, highest = ((-np.inf, np.inf) if kind == "f" else (False, True) if info is None else
                               (builtins.int(info.min), builtins.int(info.max)))
            return apply_op(COMPOSITES["clamp_tensor"], (self, lowest if min is None else min,
                                                          highest if max is None else max))
        return apply_op(COMPOSITES["clamp"], (self,), {"min": None if min is None else float(min),
                                                        "max": None if max is None else float(max)})

    clip = clamp

    def clamp_min(self, min: Number | Tensor) -> Tensor:
        """Clamp values from below."""
        return self.clamp(min=min)

    def clamp_max(self, max: Number | Tensor) -> Tensor:
        """Clamp values from above."""
        return self.clamp(max=max)

    def where(self, condition: TensorLike, other: TensorLike) -> Tensor:
        """Self where `condition` holds, else `other`."""
        return select_where(condition if isinstance(condition, Tensor) else wrap(np.asarray(condition)), self, other)

    # ------------------------------------------------------------ reductions
    @_numpy_keywords
    def sum(self, dim: Dims | None = None, keepdim: builtins.bool = False, *,
            dtype: DTypeLike | None = None) -> Tensor:
        """Sum over `dim` (all dimensions when None)."""
        x = self if dtype is None else self.to(dtype)
        return apply_op(OPS["sum"], (x,), {"axes": _dims(dim, self.ndim), "keepdims": keepdim})

    @_numpy_keywords
    def mean(self, dim: Dims | None = None, keepdim: builtins.bool = False, *,
             dtype: DTypeLike | None = None) -> Tensor:
        """Mean over `dim` (all dimensions when None)."""
        x = self if dtype is None else self.to(dtype)
        if x._data.dtype.kind != "f":
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating point or complex "
                f"dtype. Got: {x.dtype.tensor_type[:-6]}")
        return apply_op(COMPOSITES["mean"], (x,), {"axes": _dims(dim, self.ndim), "keepdims": keepdim})

    def _spread(self, name: builtins.str, dim: Dims | None, unbiased: builtins.bool | None,
                keepdim: builtins.bool, correction: builtins.float | None,
                node: builtins.str | None = None) -> Tensor:
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"{name}(): input dtype should be either floating point or complex. "
                               f"Got {self.dtype.tensor_type[:-6]} instead.")
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        attrs = {"axes": _dims(dim, self.ndim), "correction": correction, "keepdims": keepdim}
        return apply_op(COMPOSITES[name], (self,), attrs, node)

    def var(self, dim: Dims | None = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False,
            *, correction: builtins.float | None = None) -> Tensor:
        """Variance over `dim`, dividing by N - `correction` (1 by default, 0 with ``unbiased=False``).

        >>> import tracegrad as tg
        >>> tg.tensor([1.0, 2.0, 4.0]).var()
        tensor(2.3333)
        """
        if isinstance(dim, builtins.bool):  # var(False): the legacy positional `unbiased`
            dim, unbiased = None, dim
        return self._spread("var", dim, unbiased, keepdim, correction)

    def std(self, dim: Dims | None = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False,
            *, correction: builtins.float | None = None) -> Tensor:
        """Standard deviation over `dim`: the square root of :meth:`var`."""
        if isinstance(dim, builtins.bool):
            dim, unbiased = None, dim
        return self._spread("std", dim, unbiased, keepdim, correction)

    def _reduce_with_indices(self, dim: builtins.int, keepdim: builtins.bool, largest: builtins.bool) -> MinMax:
        return return_types_minmax(self, dim, keepdim, largest)

    @overload
    def max(self, dim: None = None, keepdim: builtins.bool = False) -> Tensor: ...
    @overload
    def max(self, dim: Tensor, keepdim: builtins.bool = False) -> Tensor: ...
    @overload
    def max(self, dim: builtins.int, keepdim: builtins.bool = False) -> MinMax: ...

    @_numpy_keywords
    def max(self, dim: builtins.int | Tensor | None = None, keepdim: builtins.bool = False) -> Tensor | MinMax:
        """The maximum; with `dim`, a ``(values, indices)`` pair; with a tensor, elementwise maximum."""
        if isinstance(dim, Tensor):
            return apply_op(OPS["maximum"], (self, dim))
        if dim is None:
            return apply_op(OPS["max"], (self,), {"axes": None, "keepdims": False})
        return self._reduce_with_indices(dim, keepdim, True)

    @overload
    def min(self, dim: None = None, keepdim: builtins.bool = False) -> Tensor: ...
    @overload
    def min(self, dim: Tensor, keepdim: builtins.bool = False) -> Tensor: ...
    @overload
    def min(self, dim: builtins.int, keepdim: builtins.bool = False) -> MinMax: ...

    @_numpy_keywords
    def min(self, dim: builtins.int | Tensor | None = None, keepdim: builtins.bool = False) -> Tensor | MinMax:
        """The minimum; with `dim`, a ``(values, indices)`` pair; with a tensor, elementwise minimum."""
        if isinstance(dim, Tensor):
            return apply_op(OPS["minimum"], (self, dim))
        if dim is None:
            return apply_op(OPS["min"], (self,), {"axes": None, "keepdims": False})
        return self._reduce_with_indices(dim, keepdim, False)

    @_numpy_keywords
    def amax(self, dim: Dims = (), keepdim: builtins.bool = False) -> Tensor:
        """Maximum over `dim` (all dimensions when empty); the gradient is shared at ties."""
        return apply_op(OPS["max"], (self,), {"axes": _dims(dim, self.ndim), "keepdims": keepdim},
                        "AmaxBackward0")

    @_numpy_keywords
    def amin(self, dim: Dims = (), keepdim: builtins.bool = False) -> Tensor:
        """Minimum over `dim` (all dimensions when empty); the gradient is shared at ties."""
        return apply_op(OPS["min"], (self,), {"axes": _dims(dim, self.ndim), "keepdims": keepdim},
                        "AminBackward0")

    @_numpy_keywords
    def argmax(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor:
        """Index of the maximum along `dim` (of the flattened tensor when None)."""
        axis = None if dim is None else normalize_axes((dim,), self.ndim)[0]
        return apply_op(OPS["argmax"], (self,), {"axis": axis, "keepdims": keepdim})

    @_numpy_keywords
    def argmin(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor:
        """Index of the minimum along `dim` (of the flattened tensor when None)."""
        return (-self).argmax(dim, keepdim)

    @_numpy_keywords
    def norm(self, p: builtins.float | str | None = "fro", dim: Dims | None = None,
             keepdim: builtins.bool = False) -> Tensor:
        """Vector p-norm over `dim` (all elements when None); 'fro' is the 2-norm."""
        p = 2.0 if p in ("fro", None) else float(p)
        return apply_op(COMPOSITES["norm"], (self,), {"p": p, "axes": _dims(dim, self.ndim), "keepdims": keepdim})

    @_numpy_keywords
    def all(self, dim: Dims | None = None, keepdim: builtins.bool = False) -> Tensor:
        """True where every element (along `dim`) is non-zero."""
        return ~(~self.bool()).any(dim, keepdim)

    @_numpy_keywords
    def any(self, dim: Dims | None = None, keepdim: builtins.bool = False) -> Tensor:
        """True where some element (along `dim`) is non-zero."""
        if self._data.size == 0:
            return wrap(np.zeros((), dtype=bool) if dim is None else np.any(self._data, axis=dim, keepdims=keepdim))
        return apply_op(OPS["max"], (self.bool(),), {"axes": _dims(dim, self.ndim), "keepdims": keepdim})

    def equal(self, other: Tensor) -> builtins.bool:
        """True when shapes and all elements are equal."""
        return self.shape == other.shape and bool((self == other).all())

    def allclose(self, other: Tensor, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                 equal_nan: builtins.bool = False) -> builtins.bool:
        """True when all elements are close (numpy's rule)."""
        result = bool(np.allclose(self._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))
        for t in (self, other):
            if isinstance(t, Tensor) and TRACE.builders:
                concrete_read(t, t._data)
        return result

    # ---------------------------------------------------------------- shapes
    def _shape_arg(self, shape: tuple[Any, ...]) -> tuple[builtins.int, ...]:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
            shape = tuple(shape[0])
        shape = tuple(int(s) for s in shape)
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in shape:
            known = 1
            for s in shape:
                if s != -1:
                    known *= s
            if known == 0 or self._data.size % known:
                raise RuntimeError(f"shape '{_shape_text(shape)}' is invalid for input of size {self._data.size}")
            shape = tuple(self._data.size // known if s == -1 else s for s in shape)
        return shape

    def reshape(self, *shape: builtins.int | Sequence[builtins.int]) -> Tensor:
        """The same elements in `shape` (one entry may be -1)."""
        return apply_op(OPS["reshape"], (self,), {"shape": self._shape_arg(shape)})

    def view(self, *shape: builtins.int | Sequence[builtins.int]) -> Tensor:
        """The same elements in `shape`, sharing this tensor's layout: PyTorch's error when the strides
        cannot express it (a transposed tensor flattened, for example); :meth:`reshape` copies then."""
        target = self._shape_arg(shape)
        if not self._data.flags.c_contiguous and target != self._data.shape:
            try:
                np.reshape(self._data, target, copy=False)
            except ValueError:
                raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                                   "dimension spans across two contiguous subspaces). Use .reshape(...) "
                                   "instead.") from None
        return self.reshape(target)

    def view_as(self, other: Tensor) -> Tensor:
        """Reshaped to the shape of `other`."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        """Dimensions `start_dim` to `end_dim` merged into one."""
        if self._data.ndim <= 1 and start_dim == 0:
            return self if self._data.ndim == 1 else self.reshape(1)
        s = self._data.shape
        a, b = normalize_axes((start_dim,), len(s))[0], normalize_axes((end_dim,), len(s))[0]
        new = s[:a] + (int(np.prod(s[a:b + 1])),) + s[b + 1:]
        return self.reshape(new)

    def squeeze(self, dim: Dims | None = None) -> Tensor:
        """Dimensions of size 1 removed (only those in `dim` when given)."""
        s = self._data.shape
        if dim is None:
            return apply_op(OPS["reshape"], (self,), {"shape": tuple(n for n in s if n != 1)}, "SqueezeBackward0")
        dims = _dims(dim, len(s)) if s else ()
        new = tuple(n for i, n in enumerate(s) if not (i in dims and n == 1))
        return apply_op(OPS["reshape"], (self,), {"shape": new}, "SqueezeBackward1")

    def unsqueeze(self, dim: builtins.int) -> Tensor:
        """A dimension of size 1 inserted at `dim`."""
        s = self._data.shape
        d = normalize_axes((dim,), len(s) + 1)[0]
        return apply_op(OPS["reshape"], (self,), {"shape": s[:d] + (1,) + s[d:]}, "UnsqueezeBackward0")

    def permute(self, *dims: builtins.int | Sequence[builtins.int]) -> Tensor:
        """Dimensions reordered: dimension i of the result is dimension ``dims[i]`` of self."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != self._data.ndim:
            return apply_op(OPS["transpose"], (self,), {"perm": tuple(dims)})
        perm = normalize_axes_ordered(dims, self._data.ndim)
        return apply_op(OPS["transpose"], (self,), {"perm": perm})

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """Dimensions `dim0` and `dim1` swapped."""
        n = self._data.ndim
        perm = list(range(n))
        a, b = normalize_axes((dim0,), n)[0], normalize_axes((dim1,), n)[0]
        perm[a], perm[b] = perm[b], perm[a]
        return apply_op(OPS["transpose"], (self,), {"perm": tuple(perm)}, "TransposeBackward0")

    swapaxes = transpose

    def t(self) -> Tensor:
        """Transpose of a matrix (tensors of at most 2 dimensions)."""
        if self._data.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self._data.ndim}D")
        if self._data.ndim < 2:
            return apply_op(OPS["reshape"], (self,), {"shape": self._data.shape}, "TBackward0")
        return apply_op(OPS["transpose"], (self,), {"perm": (1, 0)}, "TBackward0")

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (meant for matrices)."""
        n = self._data.ndim
        if n != 2:
            warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                          "deprecated and it will throw an error in a future release. Consider `x.mT` to transpose "
                          "batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the "
                          "dimensions of a tensor.", UserWarning, stacklevel=2)
        return apply_op(OPS["transpose"], (self,), {"perm": tuple(range(n - 1, -1, -1))})

    @property
    def mT(self) -> Tensor:
        """The last two dimensions swapped (a batch of matrices transposed)."""
        n = self._data.ndim
        return apply_op(OPS["transpose"], (self,), {"perm": tuple(range(n - 2)) + (n - 1, n - 2)},
                        "TransposeBackward0")

    def expand(self, *sizes: builtins.int | Sequence[builtins.int]) -> Tensor:
        """Broadcast to `sizes` without copying (-1 keeps a dimension)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, Size)):
            sizes = tuple(sizes[0])
        s = self._data.shape
        lead = len(sizes) - len(s)
        shape = tuple(s[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
        return apply_op(OPS["broadcast"], (self,), {"shape": shape})

    def expand_as(self, other: Tensor) -> Tensor:
        """Broadcast to the shape of `other`."""
        return self.expand(other.shape)

    def broadcast_to(self, shape: Sequence[builtins.int]) -> Tensor:
        """Broadcast to `shape`."""
        return self.expand(tuple(shape))

    def __getitem__(self, key: Any) -> Tensor:
        spec, arrays = parse_index(key, self._data.shape)
        return apply_op(OPS["index"], (self, *arrays), {"spec": spec})

    def __setitem__(self, key: Any, value: TensorLike) -> None:
        spec, arrays = parse_index(key, self._data.shape)
        value_requires = isinstance(value, Tensor) and value.requires_grad
        traced = bool(TRACE.builders)
        if not traced and not (STATE.enabled and (self.requires_grad or value_requires)):
            v = value._data if isinstance(value, Tensor) else value
            check_writable(self)
            self._data[_build_index(spec, arrays)] = v
            self._version_box[0] += 1
            _WRITES[0] += 1
            return
        if STATE.enabled and self.grad_fn is None and self._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        # Autograd through assignment: new = where(mask, scattered value, self).
        mask = np.zeros(self._data.shape, dtype=bool)
        mask[_build_index(spec, arrays)] = True
        selected = self._data[_build_index(spec, arrays)].shape
        v = value if isinstance(value, Tensor) else wrap(np.asarray(value, dtype=self._data.dtype))
        v = v.to(self._data.dtype).expand(selected)
        scattered = apply_op(OPS["index_add"], (v, *arrays), {"spec": spec, "shape": self._data.shape})
        new = apply_op(OPS["where"], (mask, scattered, self), _EMPTY, "CopySlices")
        assign_in_place(self, new)

    # ------------------------------------------------------------- in-place
    def add_(self, other: TensorLike, *, alpha: Number = 1) -> Tensor:
        """In-place ``self += alpha * other``."""
        return in_place_op(self, OPS["add"], other * alpha if alpha != 1 else other)

    def sub_(self, other: TensorLike, *, alpha: Number = 1) -> Tensor:
        """In-place ``self -= alpha * other``."""
        return in_place_op(self, OPS["sub"], other * alpha if alpha != 1 else other)

    def mul_(self, other: TensorLike) -> Tensor:
        """In-place ``self *= other``."""
        return in_place_op(self, OPS["mul"], other)

    def div_(self, other: TensorLike) -> Tensor:
        """In-place ``self /= other``."""
        return in_place_op(self, OPS["div"], other)

    def pow_(self, other: TensorLike) -> Tensor:
        """In-place ``self **= other``."""
        return in_place_op(self, OPS["pow"], other, "PowBackward0")

    def clamp_(self, min: Number | Tensor | None = None, max: Number | Tensor | None = None) -> Tensor:
        """In-place :meth:`clamp`."""
        return self.copy_(self.clamp(min, max))

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def copy_(self, src: TensorLike) -> Tensor:
        """Copy `src` (broadcast, cast) into self in place; gradients flow to `src`, none to the old values."""
        s = src if isinstance(src, Tensor) else wrap(np.asarray(src))
        s = s.to(self._data.dtype)
        if s.shape != self.shape:
            s = s.expand(self.shape)
        return overwrite(self, s, "CopyBackwards")

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return overwrite(self, wrap(np.zeros((), dtype=self._data.dtype)), "ZeroBackward0")

    def fill_(self, value: Number | Tensor) -> Tensor:
        """Fill with `value` in place."""
        v = value if isinstance(value, Tensor) else wrap(np.asarray(value, dtype=self._data.dtype))
        return overwrite(self, v.to(self._data.dtype), "FillBackward2")



TensorLike: TypeAlias = Tensor | np.ndarray | Scalar
"""An operand: a tensor, or an array or scalar taking part like a constant tensor."""
TensorData: TypeAlias = Tensor | np.ndarray | Scalar | Sequence[Any]
"""What :func:`tracegrad.tensor` copies: a number, (nested) sequences of numbers or one-element tensors, an
array or a tensor."""


class MinMax(NamedTuple):
    """``(values, indices)`` of a reduction along a dimension (max, min, sort, topk, median, kthvalue)."""

    values: Tensor
    indices: Tensor


class _PrintedMinMax(MinMax):
    # A NamedTuple body may only hold fields, so the kind lives in subclasses.
    _kind: ClassVar[str]

    def __repr__(self) -> str:
        return f"torch.return_types.{self._kind}(\nvalues={self.values!r},\nindices={self.indices!r})"


def _values_and_indices(kind: str) -> type[_PrintedMinMax]:
    """The ``(values, indices)`` tuple type of one reduction, named as PyTorch's (``type(x.max(1)).__name__ ==
    "max"``) and importable from tracegrad.return_types."""
    return type(kind, (_PrintedMinMax,), {"_kind": kind, "__qualname__": kind, "__module__": "tracegrad.return_types",
                                          "__doc__": f"``(values, indices)`` of ``{kind}`` along a dimension."})


_Max, _Min, _Sort, _Topk = (_values_and_indices(k) for k in ("max", "min", "sort", "topk"))
_Median, _Kthvalue = _values_and_indices("median"), _values_and_indices("kthvalue")
_Cummax, _Cummin, _Mode = (_values_and_indices(k) for k in ("cummax", "cummin", "mode"))
_Aminmax = _result_type("aminmax", ("min", "max"), "``(min, max)`` of ``aminmax``.")


def _build_index(spec: tuple[tuple[Any, ...], ...], arrays: Sequence[Any]) -> tuple[Any, ...]:
    return build_index(spec, arrays)


def normalize_axes_ordered(dims: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Axes normalised to non-negative ints, order kept (for permute)."""
    out = []
    for d in dims:
        out.append(normalize_axes((d,), ndim)[0])
    return tuple(out)


def _rebuild(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = wrap(data)
    t._requires_grad = requires_grad
    return t


class _Device:
    """The only device: ``cpu``."""

    type = "cpu"
    index = None

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other: object) -> bool:
        return str(other) == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")


_CPU = _Device()

DeviceLike: TypeAlias = str | _Device
"""A device argument: ``"cpu"`` or ``tracegrad.device("cpu")``."""


def select_where(condition: Tensor, input: TensorLike, other: TensorLike) -> Tensor:
    """``input`` where the boolean tensor `condition` holds, else ``other`` (``torch.where``'s three-argument form)."""
    if condition._data.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition.dtype.tensor_type[:-6]}")
    return apply_op(OPS["where"], (condition, input, other))


def return_types_minmax(x: Tensor, dim: int, keepdim: bool, largest: bool) -> MinMax:
    """Values and indices of the max (or min) of `x` along `dim`; the gradient goes to the index."""
    data = x._data
    name = "MaxBackward0" if largest else "MinBackward0"
    kind = _Max if largest else _Min
    if data.ndim == 0:
        return kind(apply_op(OPS["reshape"], (x,), {"shape": ()}, name), wrap(np.zeros((), dtype=np.int64)))
    d = normalize_axes((dim,), data.ndim)[0]
    if data.shape[d] == 0:
        raise IndexError(f"{'max' if largest else 'min'}(): Expected reduction dim {d} to have non-zero size.")
    idx = apply_op(OPS["argmax"], (x if largest else -x,), {"axis": d, "keepdims": True})
    grids = np.indices(idx.shape, sparse=True)
    arrays = [idx if i == d else grids[i] for i in range(data.ndim)]
    spec = (("array",),) * data.ndim
    values = apply_op(OPS["index"], (x, *arrays), {"spec": spec}, name)
    indices = idx
    if not keepdim:
        shape = tuple(n for i, n in enumerate(idx.shape) if i != d)
        values = apply_op(OPS["reshape"], (values,), {"shape": shape}, name)
        indices = idx.reshape(shape)
    return kind(values, indices)




class PythonScalar(Tensor):
    """A Python float argument traced as a 0-d float64 tensor: it promotes like the Python float it stands for.

    Compiled functions trace a float argument whose value changes between calls this way, so a
    new value needs no new trace; ``float32 tensor * scale`` stays float32, as with the float.
    """

    __slots__ = ()


_dispatch.connect(Tensor, PythonScalar, TensorLike)

