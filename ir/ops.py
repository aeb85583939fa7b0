"""The op table: the one place a primitive is defined.

Each :class:`Op` holds, side by side, everything the rest of tracegrad needs
to know about a primitive: its attributes, its type rule (input types +
attrs -> output type, raising PyTorch's error text on bad shapes), its numpy
implementation, its vjp rule, what the vjp rule reads, PyTorch's eager node
name, and sample inputs for the generic tests.

A vjp rule is written against an :class:`Emitter` ``E`` -- the op table's own
functional API -- never against numpy or the Tensor class.  The same rule
therefore runs on numpy arrays (eager backward), on Tensors (eager backward
with ``create_graph=True``, which differentiates it again) and, through the
tracer, emits IR (the adjoint pass).

:class:`Composite` entries (mean, softmax, the losses, ...) are functions
written with primitives; they may carry their own vjp rule where the
derivative of the decomposition is less stable or slower than the closed
form (PyTorch's derivatives for these are closed forms too).

This module imports only numpy.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .types import BOOL, CATEGORY_FLOAT, DTYPE_TO_SHORT, I64, SHORT_TO_DTYPE, TensorType, category, is_float

__all__ = [
    "Op", "Composite", "Sample", "VjpContext", "Emitter", "NumpyEmitter", "OPS", "COMPOSITES",
    "ShapeError", "broadcast_shapes", "normalize_axes", "build_index", "batch_per_row", "axis_slice_spec",
]


class ShapeError(RuntimeError):
    """A type rule rejected its inputs; the message is PyTorch's text where PyTorch has one."""


class IndexingError(IndexError):
    """An index is out of range or malformed; PyTorch raises IndexError for these."""


# --------------------------------------------------------------------------
# Table entry types
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """Sample inputs of an op for the generic tests.

    `args` are numpy arrays (or Python scalars for attrs-like operands);
    `grad` says which args a finite-difference check perturbs.
    """

    args: tuple
    attrs: dict = field(default_factory=dict)
    grad: tuple[int, ...] | None = None
    note: str = ""


class VjpContext:
    """What a vjp rule sees of the forward call.

    `args` and `out` hold the saved values (None where the entry's `saves`
    does not list them), `shapes`/`dtypes` the input types, `needs[i]`
    whether the gradient of input i is wanted at all.
    """

    __slots__ = ("args", "out", "shapes", "dtypes", "needs", "attrs")

    def __init__(self, args, out, shapes, dtypes, needs, attrs):
        self.args = args
        self.out = out
        self.shapes = shapes
        self.dtypes = dtypes
        self.needs = needs
        self.attrs = attrs


#: Inferred output types per op name, keyed by (input types, :func:`attrs_key`).
_INFERRED: dict[str, dict] = {}
_INFERRED_PER_OP = 4096


_PLAIN_ATTRS = (type(None), bool, int, str)


def _hashable_attr(value):
    """`value` as a dictionary key that tells apart what must stay apart (1 from 1.0, 0.0 from -0.0)."""
    kind = type(value)
    if kind in _PLAIN_ATTRS:
        return (kind, value)
    if kind is float:
        return (float, repr(value))
    if kind is tuple or kind is list:
        # Ints and strings stand for themselves (nothing else keys to a bare int or str), so
        # shapes, axes and index specs cost one pass without recursion.
        return (kind, tuple([x if type(x) is int or type(x) is str else _hashable_attr(x) for x in value]))
    if isinstance(value, (tuple, list)):
        return (type(value), tuple([_hashable_attr(x) for x in value]))
    if isinstance(value, np.dtype):
        return (np.dtype, value.str)
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.shape, value.tobytes())
    if hasattr(value, "nodes"):  # a graph (custom_vjp): itself, not its contents
        return ("identity", id(value))
    return ("repr", repr(value))


def holds_graph(attrs: dict) -> bool:
    """True when an attribute is a graph (custom_vjp): :func:`attrs_key` keys it by its id, which a
    later graph may reuse, so answers keyed by such attrs must not be remembered."""
    return bool(attrs) and any(hasattr(v, "nodes") for v in attrs.values())


def attrs_key(attrs: dict) -> tuple:
    """A hashable key of a node's attributes: equal keys mean equal attributes."""
    if not attrs:
        return ()
    if len(attrs) == 1:
        for k, v in attrs.items():
            return ((k, _hashable_attr(v)),)
    return tuple((k, _hashable_attr(attrs[k])) for k in sorted(attrs))


@dataclass(eq=False)
class Op:
    """One primitive of the IR.

    Fields:
      name        IR name (``sin``); also the method name on :class:`Emitter`.
      arity       number of inputs, None when variadic (concat).
      attrs       attribute names, in print order.
      kind        elementwise | reduction | shape | index | matmul | other (codegen groups by it).
      impl        numpy implementation ``impl(*arrays, **attrs)``.
      type_rule   ``type_rule(types, **attrs) -> TensorType``; raises ShapeError with PyTorch's text.
      vjp         ``vjp(E, ctx, g) -> tuple`` of cotangents (None where an input gets none);
                  None for ops with no derivative (comparisons, sign).
      saves       which inputs (indices) the vjp reads, ``"out"`` for the output, ``"rest"``
                  for every input after the first (index arrays of variadic ops).
      node_name   PyTorch's eager grad_fn class name, or a function of attrs giving it.
      samples     ``samples(rng, dtype) -> list[Sample]`` for the generic tests.
      promote     dtype policy: "same" (common dtype in and out), "float" (ints become the
                  default float), "compare" (common dtype in, bool out), "sum" (ints widen to
                  int64), "keep" (no promotion; inputs taken as they are), "match" (no
                  promotion; the inputs must already share a dtype).
      promote_args  indices of inputs that take part in promotion (default: all).
      view        the numpy impl may return a view of input 0 (reshape, transpose, basic indexing).
      view_inverse  for a view: how a write into it reaches its base.  ``view_inverse(E, base,
                  written, *rest, **attrs) -> (op, operands, attrs)`` is the op that gives the base
                  with the view's elements replaced by `written` (operands computed with E); eager
                  mode records it as PyTorch's ``CopySlices``.  None: the view cannot be written.
      grad_args   positions of inputs that can ever carry a gradient (None: all); index arrays,
                  conditions and targets are left out, as PyTorch leaves them out of next_functions.
      kernel      scalar expression template for elementwise code generation: ``{0}``, ``{1}``
                  are the operands; a call ``f(...)`` names a scalar function of the kernel
                  runtime (``compiler/runtime.py``), chosen per dtype by the code generator.
      doc         one line for the generated op reference.
      where_mask  how a cotangent that ``where`` zeroed in places keeps those zeros through this op's
                  vjp in compiled mode (see compiler/adjoint.py): ``"linear"`` when the vjp moves,
                  sums or copies cotangent entries and reads no float input (the vjp of the 0/1
                  mask says which input entries any unmasked entry reaches), or a function
                  ``reach(E, ctx, mask) -> tuple`` giving, per input, a nonnegative value that is 0
                  only where no unmasked entry reaches; None when the zeros are not carried.
      cost        what one element costs a kernel: CHEAP (a few instructions: recomputed in each
                  consumer rather than stored), ORDINARY, or HEAVY (a polynomial of vector math: a
                  fused loop holds only a few, since LLVM stops vectorising very large loop bodies).
      scalar      for an elementwise op whose kernel template calls a function named like the op
                  (``asin({0})``): that function on scalars of a floating-point element type, which
                  numba compiles into the kernel runtime (``lambda x: np.arcsin(x)``).  Ops whose
                  runtime function needs more (constants per dtype, vector math) define it in
                  ``compiler/runtime.py``; every template's functions are checked at import.
      batch       batching rule (see "Batching rules" below): ``batch(E, name, args, batched, attrs)``
                  gets the inputs, those flagged in `batched` with a leading batch axis, and returns
                  the output with a leading batch axis; it computes, in one go, what the op gives
                  on each batch row.  :func:`batch_per_row` is the exact fallback that applies the op
                  to each row and concatenates (unrolled in a graph).
    """

    name: str
    arity: int | None
    attrs: tuple[str, ...]
    kind: str
    impl: Callable
    type_rule: Callable
    vjp: Callable | None
    saves: tuple
    node_name: str | Callable[..., str]
    samples: Callable[[np.random.Generator, np.dtype], list[Sample]]
    promote: str = "same"
    promote_args: tuple[int, ...] | None = None
    view: bool = False
    kernel: str | None = None
    doc: str = ""
    grad_args: tuple[int, ...] | None = None
    where_mask: str | Callable | None = None
    batch: Callable | None = None
    cost: int = 1
    scalar: Callable | None = None
    view_inverse: Callable | None = None

    def eager_name(self, shapes, attrs: dict) -> str:
        """PyTorch's grad_fn class name for a call on inputs of `shapes` with these attrs."""
        return self.node_name(shapes, **attrs) if callable(self.node_name) else self.node_name

    def saves_expanded(self, n_inputs: int) -> tuple:
        """`saves` with ``"rest"`` spelled out for a call with `n_inputs` inputs."""
        if "all" in self.saves:
            return tuple(range(n_inputs))
        if "rest" not in self.saves:
            return self.saves
        return tuple(s for s in self.saves if s != "rest") + tuple(range(1, n_inputs))

    def infer(self, types, attrs: dict) -> TensorType:
        """Output type for input types and attrs (raises ShapeError).

        Answers are remembered per (types, attrs): tracing, the adjoint and the verifier ask
        the same question for most nodes of a large graph (a scalar f32 mul, thousands of times).
        """
        types = tuple(types)
        if holds_graph(attrs):
            return self.type_rule(types, **attrs)
        key = (types, attrs_key(attrs))
        known = _INFERRED.get(self.name)
        if known is None:
            known = _INFERRED[self.name] = {}
        out = known.get(key)
        if out is None:
            out = self.type_rule(types, **attrs)
            if len(known) >= _INFERRED_PER_OP:
                known.clear()  # a bound on memory for programs that see ever new shapes
            known[key] = out
        return out

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None


#: Op costs (``Op.cost``), per element of a kernel.
CHEAP, ORDINARY, HEAVY = 0, 1, 2

#: Elementwise entries declared with :func:`elementwise`, in order; the table adds them first.
_ELEMENTWISE_OPS: list[tuple] = []


def elementwise(name: str, arity: int, impl: Callable, *, saves: tuple, node_name, samples, promote: str,
                kernel: str, cost: int = ORDINARY, scalar: Callable | None = None, doc: str | None = None):
    """Declare a differentiable elementwise op; decorates its vjp, so forward and backward read together::

        @elementwise("exp", 1, np.exp, saves=("out",), node_name="ExpBackward0", samples=_unary_samples(_u),
                     promote="float", kernel="exp({0})", cost=HEAVY)
        def _vjp_exp(E, ctx, g):
            return (E.mul(g, ctx.out),)

    `impl` is the numpy forward, `kernel` the scalar template code generation writes; the
    other fields are :class:`Op`'s.  The type rule, batching rule and docs line are the ones
    every elementwise op shares.
    """
    def register(vjp: Callable) -> Callable:
        fields = dict(saves=saves, node_name=node_name, samples=samples, promote=promote, kernel=kernel,
                      cost=cost, scalar=scalar, doc=doc or f"elementwise {name}")
        _ELEMENTWISE_OPS.append((name, arity, impl, vjp, fields))
        return vjp
    return register


@dataclass(eq=False)
class Composite:
    """An op written with primitives.

    `decompose(E, *args, **attrs)` builds it from primitives with any
    :class:`Emitter`; it is the definition the compiler and the tests use.
    `vjp` (optional) is a closed-form vjp rule with the same signature as a
    primitive's; without it the gradient is the one of the decomposition.
    `fused` (optional) is a direct numpy version for eager mode, where one
    composite is one node and per-primitive dispatch would dominate small
    tensors; the generic tests hold it equal to the decomposition.
    """

    name: str
    arity: int | None
    attrs: tuple[str, ...]
    decompose: Callable
    node_name: str | Callable[..., str]
    samples: Callable[[np.random.Generator, np.dtype], list[Sample]]
    vjp: Callable | None = None
    saves: tuple = ()
    promote: str = "same"
    promote_args: tuple[int, ...] | None = None
    doc: str = ""
    fused: Callable | None = None
    grad_args: tuple[int, ...] | None = None

    kind = "composite"
    view = False

    def saves_expanded(self, n_inputs: int) -> tuple:
        """What the eager node keeps: `saves`, or every input when the gradient comes from the decomposition."""
        return self.saves if self.vjp is not None else tuple(range(n_inputs))

    def impl(self, *args, **attrs):
        """Numpy evaluation: the fused version when there is one, else the decomposition."""
        if self.fused is not None:
            return self.fused(*args, **attrs)
        with np.errstate(all="ignore"):  # the primitives below run unwrapped (see NumpyEmitter)
            return self.decompose(NUMPY, *args, **attrs)

    def eager_name(self, shapes, attrs: dict) -> str:
        return self.node_name(shapes, **attrs) if callable(self.node_name) else self.node_name

    @property
    def differentiable(self) -> bool:
        return True


# --------------------------------------------------------------------------
# Emitters: the functional API vjp rules and decompositions are written in
# --------------------------------------------------------------------------

class Emitter:
    """Applies ops to values of one kind (arrays, Tensors, IR values).

    Subclasses implement :meth:`apply`, :meth:`shape` and :meth:`dtype`.
    Every op and composite of the table is also a method (``E.exp(x)``,
    ``E.sum(x, axes=(0,), keepdims=False)``), generated below.  Elementwise
    ops accept Python scalars and operands of broadcast-compatible shapes.
    """

    def apply(self, name: str, *args, **attrs):
        raise NotImplementedError

    def shape(self, x) -> tuple[int, ...]:
        return tuple(x.shape)

    def dtype(self, x) -> np.dtype:
        return x.dtype

    # Helpers every interpreter gets for free -----------------------------

    def sum_to_shape(self, x, shape: tuple[int, ...]):
        """Sum `x` down to `shape`: the adjoint of broadcasting to x's shape."""
        xshape = self.shape(x)
        if xshape == shape:
            return x
        lead = len(xshape) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and xshape[lead + i] != 1)
        if axes:
            x = self.apply("sum", x, axes=axes, keepdims=False)
        if self.shape(x) != shape:
            x = self.apply("reshape", x, shape=shape)
        return x

    def broadcast_to(self, x, shape: tuple[int, ...]):
        """Broadcast `x` to `shape`, emitting nothing when it already has it."""
        if self.shape(x) == shape:
            return x
        return self.apply("broadcast", x, shape=shape)

    def unreduce(self, g, in_shape: tuple[int, ...], axes, keepdims: bool):
        """Spread a reduction's cotangent back over the reduced axes."""
        if not keepdims:
            kept = list(in_shape)
            for a in normalize_axes(axes, len(in_shape)):
                kept[a] = 1
            g = self.apply("reshape", g, shape=tuple(kept))
        return self.broadcast_to(g, in_shape)

    def swap_last(self, x):
        """Transpose the last two axes (matrix transpose, batched)."""
        n = len(self.shape(x))
        perm = tuple(range(n - 2)) + (n - 1, n - 2)
        return self.apply("transpose", x, perm=perm)


def _install_op_methods(table: dict) -> None:
    for name in table:
        if hasattr(Emitter, name) and name not in ("sum", "max", "min"):
            raise RuntimeError(f"op name {name!r} clashes with an Emitter helper")

        def method(self, *args, _name=name, **attrs):
            return self.apply(_name, *args, **attrs)
        method.__name__ = name
        method.__doc__ = f"Apply the ``{name}`` op."
        setattr(Emitter, name, method)


class NumpyEmitter(Emitter):
    """Runs ops directly with their numpy implementations (numpy broadcasting)."""

    def apply(self, name, *args, **attrs):
        entry = TABLE[name]
        if isinstance(entry, Composite):
            # (the generic tests hold a fused version equal to its decomposition)
            return entry.fused(*args, **attrs) if entry.fused is not None else entry.decompose(self, *args, **attrs)
        out = entry.impl(*args, **attrs)
        return out if type(out) is np.ndarray else np.asarray(out)


# --------------------------------------------------------------------------
# Shape helpers shared by type rules
# --------------------------------------------------------------------------

def _fmt_shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy/PyTorch broadcasting of shapes, with PyTorch's error text (checked from the last dim)."""
    out = tuple(shapes[0])
    for other in shapes[1:]:
        a, b = out, tuple(other)
        n = max(len(a), len(b))
        a = (1,) * (n - len(a)) + a
        b = (1,) * (n - len(b)) + b
        res = [0] * n
        for i in range(n - 1, -1, -1):
            x, y = a[i], b[i]
            if x == y or y == 1:
                res[i] = x
            elif x == 1:
                res[i] = y
            else:
                raise ShapeError(
                    f"The size of tensor a ({x}) must match the size of tensor b ({y}) "
                    f"at non-singleton dimension {i}")
        out = tuple(res)
    return out


def normalize_axes(axes, ndim: int) -> tuple[int, ...]:
    """Axes as a sorted tuple of non-negative ints; None means all axes."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    out = []
    for a in axes:
        if not lo <= a <= hi:
            raise IndexingError(
                f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {a})")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _same_types(types, name):
    dt = types[0].dtype
    for t in types[1:]:
        if t.dtype != dt:
            raise ShapeError(f"{name}: expected all inputs to have dtype {dt}, got {t.dtype}")
    return dt


# --------------------------------------------------------------------------
# Samples: helpers
# --------------------------------------------------------------------------

def _u(rng, shape, dtype, lo=-2.0, hi=2.0):
    return np.asarray(rng.uniform(lo, hi, size=shape), dtype=dtype)


def _away_from_zero(rng, shape, dtype, lo=0.3, hi=2.0):
    sign = np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
    return np.asarray(sign * rng.uniform(lo, hi, size=shape), dtype=dtype)


_BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]


def _binary_samples(gen_a, gen_b=None):
    gen_b = gen_b or gen_a

    def samples(rng, dtype):
        return [Sample((gen_a(rng, sa, dtype), gen_b(rng, sb, dtype)), note=f"{sa} x {sb}")
                for sa, sb in _BINARY_SHAPES]
    return samples


def _unary_samples(gen):
    def samples(rng, dtype):
        return [Sample((gen(rng, s, dtype),), note=str(s)) for s in [(), (7,), (3, 4), (2, 3, 2)]]
    return samples


# --------------------------------------------------------------------------
# Elementwise primitives
# --------------------------------------------------------------------------

def _elementwise_rule(types, **_):
    shape = broadcast_shapes(*[t.shape for t in types])
    return TensorType(types[0].dtype, shape)


def _compare_rule(types, **_):
    shape = broadcast_shapes(*[t.shape for t in types])
    return TensorType(BOOL, shape)


def _checked_integer_division(fn):
    """Division whose integer form raises on a zero divisor, with PyTorch's text (numpy returns 0)."""
    quiet = _quiet(fn)

    def impl(x, y, **attrs):
        if np.result_type(x, y).kind in "iu" and np.any(np.asarray(y) == 0):
            raise RuntimeError("ZeroDivisionError")
        return quiet(x, y, **attrs)
    impl.__name__ = quiet.__name__
    impl.raw = quiet.raw
    return impl


def _quiet(fn):
    """numpy warns on log(0), 0/0 and friends; PyTorch returns inf/nan silently.

    ``impl.raw`` is the unwrapped function, for callers already inside ``np.errstate``.
    """
    def impl(*args, **attrs):
        with np.errstate(all="ignore"):
            return fn(*args, **attrs)
    impl.__name__ = getattr(fn, "__name__", "impl")
    impl.raw = fn
    return impl


def _sigmoid(x):
    # exp(-|x|) never overflows, so neither branch produces inf/inf.
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r).astype(x.dtype, copy=False)


def _pow(x, y):
    r = np.power(x, y)
    # numpy takes x ** 0.5 as sqrt(x) when the exponent is a scalar (nan at -inf, -0.0 at -0.0)
    # but calls C pow for an array exponent (inf, +0.0); PyTorch takes sqrt.  One rule for
    # every operand shape, the kernels' too (runtime.power): sqrt.
    half = np.equal(y, 0.5)
    if r.dtype.kind == "f" and np.any(half):
        r = np.where(half, np.sqrt(np.asarray(x, dtype=r.dtype)), r)
    return r


def _cond_samples(rng, dtype):
    out = []
    for sc, sx, sy in [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((), (2,), (2,))]:
        out.append(Sample((rng.uniform(size=sc) < 0.5, _u(rng, sx, dtype), _u(rng, sy, dtype)),
                          grad=(1, 2), note=f"{sc},{sx},{sy}"))
    return out


def _distinct_pair(rng, sa, sb, dtype):
    # Keeps maximum/minimum away from ties, where the derivative jumps.
    a = _u(rng, sa, dtype)
    b = _u(rng, sb, dtype)
    b = np.where(np.abs(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) - b) < 0.2,
                 b + 0.5, b) if a.shape == np.broadcast_shapes(a.shape, b.shape) else b
    return a, b.astype(dtype)


def _minmax_samples(rng, dtype):
    out = []
    for sa, sb in _BINARY_SHAPES:
        a, b = _distinct_pair(rng, sa, sb, dtype)
        if np.min(np.abs(np.subtract(a, b))) < 0.05:
            b = (b + 0.77).astype(dtype)
        out.append(Sample((a, b), note=f"{sa} x {sb}"))
    # A tie, where the gradient is shared: checked against closed forms, not differences.
    tie = np.array([1.0, 2.0, 3.0], dtype=dtype)
    out.append(Sample((tie, tie.copy()), grad=(), note="ties"))
    return out


def _pos(rng, shape, dtype):
    return rng.uniform(0.5, 2.0, size=shape).astype(dtype)


def _inside_unit(rng, shape, dtype):
    return _u(rng, shape, dtype, -0.9, 0.9)


def _off_integers(rng, shape, dtype):
    """Values at least 0.1 away from integers and half-integers, where rounding jumps."""
    whole = rng.integers(-3, 3, size=shape)
    part = rng.choice([0.15, 0.3, 0.65, 0.85], size=shape)
    return np.asarray(whole + part, dtype=dtype)


def _pow_samples(rng, dtype):
    base = _binary_samples(_pos, lambda r, s, d: _u(r, s, d, -1.5, 2.5))(rng, dtype)
    zero = np.array([0.0, 1.0, 2.0], dtype=dtype)
    return base + [Sample((zero, np.array(2.0, dtype=dtype)), grad=(), note="0 ** 2")]


def _pow_name(shapes, **_):
    """PowBackward1 (tensor ** tensor); the front end names the scalar forms 0 and 2."""
    return "PowBackward1"


def _gamma_domain(rng, shape, dtype):
    """Positive values and negative ones between the poles (0, -1, -2, ...)."""
    negative = -rng.integers(0, 3, size=shape) - rng.choice([0.3, 0.5, 0.7], size=shape)
    return np.asarray(np.where(rng.uniform(size=shape) < 0.3, negative, rng.uniform(0.3, 4.0, size=shape)), dtype)


@elementwise("neg", 1, np.negative, saves=(), node_name="NegBackward0", samples=_unary_samples(_u), promote="same",
             kernel="-{0}", cost=CHEAP)
def _vjp_neg(E, ctx, g):
    return (E.neg(g),)


@elementwise("add", 2, np.add, saves=(), node_name="AddBackward0", samples=_binary_samples(_u), promote="same",
             kernel="{0} + {1}", cost=CHEAP)
def _vjp_add(E, ctx, g):
    return (g, g)


@elementwise("sub", 2, np.subtract, saves=(), node_name="SubBackward0", samples=_binary_samples(_u), promote="same",
             kernel="{0} - {1}", cost=CHEAP)
def _vjp_sub(E, ctx, g):
    return (g, E.neg(g) if ctx.needs[1] else None)


@elementwise("mul", 2, np.multiply, saves=(0, 1), node_name="MulBackward0", samples=_binary_samples(_u),
             promote="same", kernel="{0} * {1}", cost=CHEAP)
def _vjp_mul(E, ctx, g):
    x, y = ctx.args
    return (E.mul(g, y) if ctx.needs[0] else None, E.mul(g, x) if ctx.needs[1] else None)


@elementwise("div", 2, _quiet(np.true_divide), saves=(0, 1), node_name="DivBackward0",
             samples=_binary_samples(_u, _away_from_zero), promote="float", kernel="divide({0}, {1})")
def _vjp_div(E, ctx, g):
    x, y = ctx.args
    gx = E.div(g, y) if ctx.needs[0] else None
    gy = E.neg(E.div(E.mul(g, x), E.mul(y, y))) if ctx.needs[1] else None
    return (gx, gy)


@elementwise("pow", 2, _quiet(_pow), saves=(0, 1), node_name=_pow_name, samples=_pow_samples, promote="same",
             kernel="power({0}, {1})", cost=HEAVY)
def _vjp_pow(E, ctx, g):
    x, y = ctx.args
    gx = gy = None
    if ctx.needs[0]:
        # y * x**(y-1), defined as 0 where y == 0 (PyTorch: no 0 * inf at x == 0).
        d = E.mul(y, E.pow(x, E.sub(y, 1.0)))
        gx = E.mul(g, E.where(E.eq(y, 0.0), 0.0, d))
    if ctx.needs[1]:
        # out * log(x), defined as 0 where x == 0 and y >= 0 (the limit PyTorch uses).
        out = ctx.out if ctx.out is not None else E.pow(x, y)
        d = E.mul(out, E.log(x))
        mask = E.logical_and(E.eq(x, 0.0), E.ge(y, 0.0))
        gy = E.mul(g, E.where(mask, 0.0, d))
    return (gx, gy)


@elementwise("maximum", 2, np.maximum, saves=(0, 1), node_name="MaximumBackward0", samples=_minmax_samples,
             promote="same", kernel="maximum({0}, {1})", cost=CHEAP)
def _vjp_maximum(E, ctx, g):
    x, y = ctx.args
    # Ties split the gradient evenly, as PyTorch does.
    half = E.mul(g, 0.5)
    gx = E.where(E.gt(x, y), g, E.where(E.eq(x, y), half, 0.0)) if ctx.needs[0] else None
    gy = E.where(E.lt(x, y), g, E.where(E.eq(x, y), half, 0.0)) if ctx.needs[1] else None
    return (gx, gy)


@elementwise("minimum", 2, np.minimum, saves=(0, 1), node_name="MinimumBackward0", samples=_minmax_samples,
             promote="same", kernel="minimum({0}, {1})", cost=CHEAP)
def _vjp_minimum(E, ctx, g):
    x, y = ctx.args
    half = E.mul(g, 0.5)
    gx = E.where(E.lt(x, y), g, E.where(E.eq(x, y), half, 0.0)) if ctx.needs[0] else None
    gy = E.where(E.gt(x, y), g, E.where(E.eq(x, y), half, 0.0)) if ctx.needs[1] else None
    return (gx, gy)


@elementwise("exp", 1, _quiet(np.exp), saves=("out",), node_name="ExpBackward0", samples=_unary_samples(_u),
             promote="float", kernel="exp({0})", cost=HEAVY)
def _vjp_exp(E, ctx, g):
    return (E.mul(g, ctx.out),)


@elementwise("log", 1, _quiet(np.log), saves=(0,), node_name="LogBackward0", samples=_unary_samples(_pos),
             promote="float", kernel="log({0})", cost=HEAVY)
def _vjp_log(E, ctx, g):
    return (E.div(g, ctx.args[0]),)


@elementwise("log1p", 1, _quiet(np.log1p), saves=(0,), node_name="Log1PBackward0",
             samples=_unary_samples(lambda r, s, d: _u(r, s, d, -0.7, 2.0)), promote="float", kernel="log1p({0})",
             cost=HEAVY)
def _vjp_log1p(E, ctx, g):
    return (E.div(g, E.add(ctx.args[0], 1.0)),)


@elementwise("expm1", 1, _quiet(np.expm1), saves=("out",), node_name="Expm1Backward0", samples=_unary_samples(_u),
             promote="float", kernel="expm1({0})", cost=HEAVY)
def _vjp_expm1(E, ctx, g):
    return (E.mul(g, E.add(ctx.out, 1.0)),)


@elementwise("sin", 1, np.sin, saves=(0,), node_name="SinBackward0", samples=_unary_samples(_u), promote="float",
             kernel="sin({0})", cost=HEAVY)
def _vjp_sin(E, ctx, g):
    return (E.mul(g, E.cos(ctx.args[0])),)


@elementwise("cos", 1, np.cos, saves=(0,), node_name="CosBackward0", samples=_unary_samples(_u), promote="float",
             kernel="cos({0})", cost=HEAVY)
def _vjp_cos(E, ctx, g):
    return (E.neg(E.mul(g, E.sin(ctx.args[0]))),)


@elementwise("tanh", 1, np.tanh, saves=("out",), node_name="TanhBackward0", samples=_unary_samples(_u),
             promote="float", kernel="tanh({0})", cost=HEAVY)
def _vjp_tanh(E, ctx, g):
    out = ctx.out
    return (E.mul(g, E.sub(1.0, E.mul(out, out))),)


@elementwise("sigmoid", 1, _sigmoid, saves=("out",), node_name="SigmoidBackward0",
             samples=_unary_samples(lambda r, s, d: _u(r, s, d, -4.0, 4.0)), promote="float", kernel="sigmoid({0})",
             cost=HEAVY)
def _vjp_sigmoid(E, ctx, g):
    out = ctx.out
    return (E.mul(g, E.mul(out, E.sub(1.0, out))),)


@elementwise("relu", 1, lambda x: np.maximum(x, 0).astype(x.dtype, copy=False), saves=("out",),
             node_name="ReluBackward0", samples=_unary_samples(_away_from_zero), promote="same", kernel="relu({0})",
             cost=CHEAP)
def _vjp_relu(E, ctx, g):
    return (E.where(E.gt(ctx.out, 0.0), g, 0.0),)


@elementwise("abs", 1, np.abs, saves=(0,), node_name="AbsBackward0", samples=_unary_samples(_away_from_zero),
             promote="same", kernel="abs({0})", cost=CHEAP)
def _vjp_abs(E, ctx, g):
    return (E.mul(g, E.sign(ctx.args[0])),)


@elementwise("sqrt", 1, _quiet(np.sqrt), saves=("out",), node_name="SqrtBackward0", samples=_unary_samples(_pos),
             promote="float", kernel="sqrt({0})")
def _vjp_sqrt(E, ctx, g):
    return (E.div(g, E.mul(ctx.out, 2.0)),)


def _erf(x):
    from scipy.special import erf
    return erf(x).astype(x.dtype, copy=False)


def _erfc(x):
    from scipy.special import erfc
    return erfc(x).astype(x.dtype, copy=False)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _vjp_gaussian(scale):
    """The vjp of erf (`scale` 2/sqrt(pi)) or erfc (its negative): g * scale * exp(-x^2)."""
    def vjp(E, ctx, g):
        (x,) = ctx.args
        return (E.mul(g, E.mul(E.exp(E.neg(E.mul(x, x))), scale)),)
    return vjp


_vjp_erf, _vjp_erfc = _vjp_gaussian(_TWO_OVER_SQRT_PI), _vjp_gaussian(-_TWO_OVER_SQRT_PI)


elementwise("erf", 1, _erf, saves=(0,), node_name="ErfBackward0", samples=_unary_samples(_u), promote="float",
            kernel="erf({0})")(_vjp_erf)
elementwise("erfc", 1, _erfc, saves=(0,), node_name="ErfcBackward0", samples=_unary_samples(_u), promote="float",
            kernel="erfc({0})")(_vjp_erfc)


def _in_float64(fn):
    """scipy's `fn` evaluated in float64 and rounded once to the input's dtype (as the kernels do)."""
    def impl(x, **attrs):
        with np.errstate(all="ignore"):
            return np.asarray(fn(np.asarray(x, np.float64), **attrs)).astype(x.dtype, copy=False)
    return impl


def _lgamma64(x):
    from scipy.special import gammaln
    return np.where(x == -np.inf, np.inf, gammaln(x))  # log|Gamma(-inf)| is inf (libm, PyTorch)


def _erfinv64(x):
    from scipy.special import erfinv
    return np.where(x == 0.0, x, erfinv(x))  # keeps -0.0, as PyTorch does


def _polygamma64(x, n):
    from scipy.special import digamma, polygamma
    return digamma(x) if n == 0 else polygamma(n, x)


@elementwise("lgamma", 1, _in_float64(_lgamma64), saves=(0,), node_name="LgammaBackward0",
             samples=_unary_samples(_gamma_domain), promote="float", kernel="lgamma({0})")
def _vjp_lgamma(E, ctx, g):
    return (E.mul(g, E.polygamma(ctx.args[0], n=0)),)


def _vjp_polygamma(E, ctx, g):
    return (E.mul(g, E.polygamma(ctx.args[0], n=ctx.attrs["n"] + 1)),)


@elementwise("erfinv", 1, _in_float64(_erfinv64), saves=("out",), node_name="ErfinvBackward0",
             samples=_unary_samples(_inside_unit), promote="float", kernel="erfinv({0})")
def _vjp_erfinv(E, ctx, g):
    # d erfinv(y) = sqrt(pi)/2 exp(erfinv(y)^2) dy
    out = ctx.out
    return (E.mul(g, E.mul(E.exp(E.mul(out, out)), math.sqrt(math.pi) / 2.0)),)


def _polygamma_samples(rng, dtype):
    return [Sample((_gamma_domain(rng, s, dtype),), {"n": n}, note=f"n={n} {s}")
            for n, s in ((0, (7,)), (1, (3, 4)), (2, ()), (3, (2, 3)))]


def _rsqrt(E, x):
    # 1 / sqrt(x), not x ** -0.5: C pow gives 0 at -inf, PyTorch's rsqrt NaN.
    return E.div(1.0, E.sqrt(x))


def _vjp_rsqrt(E, ctx, g):
    # d/dx x^(-1/2) = -1/2 * out^3: -inf at 0, NaN below 0, 0 at inf.
    out = ctx.out
    return (E.mul(g, E.mul(E.mul(out, E.mul(out, out)), -0.5)),)


def _vjp_sign(E, ctx, g):
    # Piecewise constant (sign, floor, ceil, trunc, round): zero almost everywhere.
    return (E.mul(g, 0.0),)


elementwise("sign", 1, np.sign, saves=(), node_name="SignBackward0", samples=_unary_samples(_away_from_zero),
            promote="same", kernel="sign({0})", cost=CHEAP)(_vjp_sign)
elementwise("floor", 1, np.floor, saves=(), node_name="FloorBackward0", samples=_unary_samples(_off_integers),
            promote="float", kernel="floor({0})")(_vjp_sign)
elementwise("ceil", 1, np.ceil, saves=(), node_name="CeilBackward0", samples=_unary_samples(_off_integers),
            promote="float", kernel="ceil({0})")(_vjp_sign)
elementwise("trunc", 1, np.trunc, saves=(), node_name="TruncBackward0", samples=_unary_samples(_off_integers),
            promote="float", kernel="trunc({0})")(_vjp_sign)
elementwise("round", 1, np.rint, saves=(), node_name="RoundBackward0", samples=_unary_samples(_off_integers),
            promote="float", kernel="rint({0})")(_vjp_sign)


@elementwise("asin", 1, _quiet(np.arcsin), saves=(0,), node_name="AsinBackward0",
             samples=_unary_samples(_inside_unit), promote="float", kernel="asin({0})", scalar=lambda x: np.arcsin(x))
def _vjp_asin(E, ctx, g):
    (x,) = ctx.args
    return (E.div(g, E.sqrt(E.sub(1.0, E.mul(x, x)))),)


@elementwise("acos", 1, _quiet(np.arccos), saves=(0,), node_name="AcosBackward0",
             samples=_unary_samples(_inside_unit), promote="float", kernel="acos({0})", scalar=lambda x: np.arccos(x))
def _vjp_acos(E, ctx, g):
    (x,) = ctx.args
    return (E.neg(E.div(g, E.sqrt(E.sub(1.0, E.mul(x, x))))),)


@elementwise("tan", 1, _quiet(np.tan), saves=("out",), node_name="TanBackward0",
             samples=_unary_samples(lambda r, s, d: _u(r, s, d, -1.2, 1.2)), promote="float", kernel="tan({0})",
             scalar=lambda x: np.tan(x))
def _vjp_tan(E, ctx, g):
    return (E.mul(g, E.add(E.mul(ctx.out, ctx.out), 1.0)),)


@elementwise("atan", 1, np.arctan, saves=(0,), node_name="AtanBackward0", samples=_unary_samples(_u), promote="float",
             kernel="atan({0})", scalar=lambda x: np.arctan(x))
def _vjp_atan(E, ctx, g):
    (x,) = ctx.args
    return (E.div(g, E.add(E.mul(x, x), 1.0)),)


@elementwise("sinh", 1, _quiet(np.sinh), saves=(0,), node_name="SinhBackward0", samples=_unary_samples(_u),
             promote="float", kernel="sinh({0})", scalar=lambda x: np.sinh(x))
def _vjp_sinh(E, ctx, g):
    return (E.mul(g, E.cosh(ctx.args[0])),)


@elementwise("cosh", 1, _quiet(np.cosh), saves=(0,), node_name="CoshBackward0", samples=_unary_samples(_u),
             promote="float", kernel="cosh({0})", scalar=lambda x: np.cosh(x))
def _vjp_cosh(E, ctx, g):
    return (E.mul(g, E.sinh(ctx.args[0])),)


@elementwise("asinh", 1, np.arcsinh, saves=(0,), node_name="AsinhBackward0", samples=_unary_samples(_u),
             promote="float", kernel="asinh({0})", scalar=lambda x: np.arcsinh(x))
def _vjp_asinh(E, ctx, g):
    (x,) = ctx.args
    return (E.div(g, E.sqrt(E.add(E.mul(x, x), 1.0))),)


@elementwise("acosh", 1, _quiet(np.arccosh), saves=(0,), node_name="AcoshBackward0",
             samples=_unary_samples(lambda r, s, d: _u(r, s, d, 1.2, 3.0)), promote="float", kernel="acosh({0})",
             scalar=lambda x: np.arccosh(x))
def _vjp_acosh(E, ctx, g):
    (x,) = ctx.args
    return (E.div(g, E.sqrt(E.sub(E.mul(x, x), 1.0))),)


@elementwise("atanh", 1, _quiet(np.arctanh), saves=(0,), node_name="AtanhBackward0",
             samples=_unary_samples(_inside_unit), promote="float", kernel="atanh({0})",
             scalar=lambda x: np.arctanh(x))
def _vjp_atanh(E, ctx, g):
    (x,) = ctx.args
    return (E.div(g, E.sub(1.0, E.mul(x, x))),)


def _vjp_log_base(base):
    """The vjp of log2 or log10: g / (x ln base)."""
    ln_base = math.log(base)

    def vjp(E, ctx, g):
        return (E.div(g, E.mul(ctx.args[0], ln_base)),)
    return vjp


elementwise("log2", 1, _quiet(np.log2), saves=(0,), node_name="Log2Backward0", samples=_unary_samples(_pos),
            promote="float", kernel="log2({0})", scalar=lambda x: np.log2(x))(_vjp_log_base(2.0))
elementwise("log10", 1, _quiet(np.log10), saves=(0,), node_name="Log10Backward0", samples=_unary_samples(_pos),
            promote="float", kernel="log10({0})", scalar=lambda x: np.log10(x))(_vjp_log_base(10.0))


@elementwise("exp2", 1, _quiet(np.exp2), saves=("out",), node_name="Exp2Backward0", samples=_unary_samples(_u),
             promote="float", kernel="exp2({0})", scalar=lambda x: np.exp2(x))
def _vjp_exp2(E, ctx, g):
    return (E.mul(g, E.mul(ctx.out, math.log(2.0))),)


@elementwise("atan2", 2, np.arctan2, saves=(0, 1), node_name="Atan2Backward0",
             samples=_binary_samples(_away_from_zero), promote="float", kernel="atan2({0}, {1})",
             scalar=lambda y, x: np.arctan2(y, x))
def _vjp_atan2(E, ctx, g):
    y, x = ctx.args
    scale = E.div(g, E.add(E.mul(x, x), E.mul(y, y)))
    return (E.mul(scale, x) if ctx.needs[0] else None, E.neg(E.mul(scale, y)) if ctx.needs[1] else None)


@elementwise("hypot", 2, np.hypot, saves=(0, 1, "out"), node_name="HypotBackward0",
             samples=_binary_samples(_away_from_zero), promote="float", kernel="hypot({0}, {1})",
             scalar=lambda a, b: np.hypot(a, b))
def _vjp_hypot(E, ctx, g):
    a, b = ctx.args
    scale = E.div(g, ctx.out)
    return (E.mul(scale, a) if ctx.needs[0] else None, E.mul(scale, b) if ctx.needs[1] else None)


@elementwise("logaddexp", 2, np.logaddexp, saves=(0, 1, "out"), node_name="LogaddexpBackward0",
             samples=_binary_samples(_u), promote="float", kernel="logaddexp({0}, {1})")
def _vjp_logaddexp(E, ctx, g):
    a, b = ctx.args
    out = ctx.out
    return (E.mul(g, E.exp(E.sub(a, out))) if ctx.needs[0] else None,
            E.mul(g, E.exp(E.sub(b, out))) if ctx.needs[1] else None)


@elementwise("fmod", 2, _checked_integer_division(np.fmod), saves=(0, 1), node_name="FmodBackward1",
             samples=_binary_samples(lambda r, s, d: _away_from_zero(r, s, d, 0.3, 3.7),
                                     lambda r, s, d: _u(r, s, d, 1.1, 1.4)),
             promote="same", kernel="fmod({0}, {1})")
def _vjp_fmod(E, ctx, g):
    x, y = ctx.args
    # x - y * trunc(x / y): the truncation is piecewise constant.
    gy = E.neg(E.mul(g, E.trunc(E.div(x, y)))) if ctx.needs[1] else None
    return (g, gy)


@elementwise("floor_divide", 2, _checked_integer_division(np.floor_divide), saves=(),
             node_name="FloorDivideBackward0",
             samples=_binary_samples(lambda r, s, d: _u(r, s, d, 0.3, 3.7), lambda r, s, d: _u(r, s, d, 1.1, 1.4)),
             promote="same", kernel="floor_divide({0}, {1})")
def _vjp_floor_divide(E, ctx, g):
    return (E.mul(g, 0.0) if ctx.needs[0] else None, E.mul(g, 0.0) if ctx.needs[1] else None)


@elementwise("remainder", 2, _checked_integer_division(np.remainder), saves=(0, 1), node_name="RemainderBackward0",
             samples=_binary_samples(lambda r, s, d: _u(r, s, d, 0.3, 3.7), lambda r, s, d: _u(r, s, d, 1.1, 1.4)),
             promote="same", kernel="remainder({0}, {1})")
def _vjp_remainder(E, ctx, g):
    x, y = ctx.args
    # x - y * floor(x / y): the floor is piecewise constant.
    gy = E.neg(E.mul(g, E.floor_divide(x, y))) if ctx.needs[1] else None
    return (g, gy)


def _vjp_where(E, ctx, g):
    c = ctx.args[0]
    return (None,
            E.where(c, g, 0.0) if ctx.needs[1] else None,
            E.where(c, 0.0, g) if ctx.needs[2] else None)


_NONDIFF_ELEMENTWISE = [
    # name, arity, impl, node name, promote, kernel
    ("eq", 2, np.equal, "EqBackward0", "compare", "{0} == {1}"),
    ("ne", 2, np.not_equal, "NeBackward0", "compare", "{0} != {1}"),
    ("lt", 2, np.less, "LtBackward0", "compare", "{0} < {1}"),
    ("le", 2, np.less_equal, "LeBackward0", "compare", "{0} <= {1}"),
    ("gt", 2, np.greater, "GtBackward0", "compare", "{0} > {1}"),
    ("ge", 2, np.greater_equal, "GeBackward0", "compare", "{0} >= {1}"),
    ("logical_and", 2, np.logical_and, "LogicalAndBackward0", "compare", "{0} & {1}"),
    ("logical_or", 2, np.logical_or, "LogicalOrBackward0", "compare", "{0} | {1}"),
    ("logical_not", 1, np.logical_not, "LogicalNotBackward0", "compare", "not {0}"),
]


def _where_rule(types, **_):
    c, x, y = types
    if c.dtype != BOOL:
        raise ShapeError(f"where expected condition to be a boolean tensor, but got a tensor with "
                         f"dtype {c.dtype}")
    return TensorType(x.dtype, broadcast_shapes(c.shape, x.shape, y.shape))


# --------------------------------------------------------------------------
# Reductions
# --------------------------------------------------------------------------

def _reduce_rule_for(name):
    def rule(types, axes=None, keepdims=False):
        (x,) = types
        ax = normalize_axes(axes, x.ndim)
        shape = tuple(1 if i in ax else n for i, n in enumerate(x.shape)) if keepdims else \
            tuple(n for i, n in enumerate(x.shape) if i not in ax)
        dtype = x.dtype
        if name == "sum" and category(dtype) != CATEGORY_FLOAT:
            dtype = I64
        if name == "max":
            for a in ax:
                if x.shape[a] == 0:
                    raise ShapeError(
                        "max(): Expected reduction dim to be specified for input.numel() == 0. "
                        "Specify the reduction dim with the 'dim' argument.")
        return TensorType(dtype, shape)
    return rule


def _sum_impl(x, axes=None, keepdims=False):
    ax = normalize_axes(axes, x.ndim) if axes is not None else None
    dtype = x.dtype if x.dtype.kind == "f" else np.int64
    return np.asarray(np.add.reduce(x, axis=ax, keepdims=keepdims, dtype=dtype))


def _max_impl(x, axes=None, keepdims=False):
    ax = normalize_axes(axes, x.ndim) if axes is not None else None
    return np.asarray(np.maximum.reduce(x, axis=ax, keepdims=keepdims))


def _min_impl(x, axes=None, keepdims=False):
    ax = normalize_axes(axes, x.ndim) if axes is not None else None
    return np.asarray(np.minimum.reduce(x, axis=ax, keepdims=keepdims))


def _min_name(shapes, axes=None, keepdims=False):
    """MinBackward1 over all elements, AminBackward0 over dims."""
    return "MinBackward1" if axes is None else "AminBackward0"


def _vjp_sum(E, ctx, g):
    return (E.unreduce(g, ctx.shapes[0], ctx.attrs["axes"], ctx.attrs["keepdims"]),)


def _vjp_max(E, ctx, g):
    (x,) = ctx.args
    shape, axes, keepdims = ctx.shapes[0], ctx.attrs["axes"], ctx.attrs["keepdims"]
    # The gradient is shared evenly among the maxima, as PyTorch does for max()/amax().
    m = E.unreduce(ctx.out, shape, axes, keepdims)
    mask = E.cast(E.eq(x, m), dtype=_short(E.dtype(g)))
    count = E.sum(mask, axes=axes, keepdims=True)
    return (E.div(E.mul(E.unreduce(g, shape, axes, keepdims), mask),
                  E.broadcast_to(count, shape)),)


def _reduce_samples(rng, dtype):
    out = []
    for shape, axes, keepdims in [((3, 4), None, False), ((3, 4), (1,), False), ((2, 3, 4), (0, 2), True),
                                  ((5,), (0,), True), ((), None, False), ((2, 3), (-1,), False)]:
        out.append(Sample((_u(rng, shape, dtype),), {"axes": axes, "keepdims": keepdims},
                          note=f"{shape} axes={axes} keepdims={keepdims}"))
    return out


def _max_samples(rng, dtype):
    out = _reduce_samples(rng, dtype)
    tie = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], dtype=dtype)
    out.append(Sample((tie,), {"axes": (1,), "keepdims": False}, grad=(), note="ties"))
    return out


def _sum_name(shapes, axes=None, keepdims=False):
    """SumBackward0 over all elements, SumBackward1 over dims."""
    return "SumBackward0" if axes is None else "SumBackward1"


def _max_name(shapes, axes=None, keepdims=False):
    """MaxBackward1 over all elements, AmaxBackward0 over dims."""
    return "MaxBackward1" if axes is None else "AmaxBackward0"


def _argmax_rule(types, axis=None, keepdims=False):
    (x,) = types
    if axis is None:
        if math.prod(x.shape) == 0:
            raise ShapeError("argmax(): Expected reduction dim to be specified for input.numel() == 0.")
        return TensorType(I64, ())
    ax = normalize_axes(axis, x.ndim)[0] if x.ndim else 0
    if x.ndim and x.shape[ax] == 0:
        raise ShapeError(f"argmax(): Expected reduction dim {ax} to have non-zero size.")
    shape = tuple(1 if i == ax else n for i, n in enumerate(x.shape)) if keepdims else \
        tuple(n for i, n in enumerate(x.shape) if i != ax)
    return TensorType(I64, shape)


def _argmax_impl(x, axis=None, keepdims=False):
    if axis is None:
        return np.asarray(np.argmax(x))
    ax = normalize_axes(axis, x.ndim)[0] if x.ndim else None
    return np.asarray(np.argmax(x, axis=ax, keepdims=keepdims))


def _argsort_rule(types, axis=-1, descending=False):
    (x,) = types
    if x.ndim:
        normalize_axes((axis,), x.ndim)  # an axis out of range raises PyTorch's IndexError here
    return TensorType(I64, x.shape)


def _argsort_impl(x, axis=-1, descending=False):
    """Stable order along `axis`; NaN counts as the largest value (last ascending, first descending), as in PyTorch."""
    if x.ndim == 0:
        return np.zeros((), np.int64)
    axis = normalize_axes((axis,), x.ndim)[0]
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    # Descending and stable: sort the reversed row ascending, reverse the order, map positions back.
    n = x.shape[axis]
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (n - 1 - np.flip(order, axis)).astype(np.int64, copy=False)


def _batch_argsort(E, name, args, batched, attrs):
    """axis shifted by one (0-d rows: position 0 each)"""
    (x,) = args
    shape = E.shape(x)
    if len(shape) == 1:
        return E.argsort(E.reshape(x, shape=(shape[0], 1)), axis=1, descending=attrs["descending"])
    axis = normalize_axes((attrs["axis"],), len(shape) - 1)[0] + 1
    return E.argsort(x, axis=axis, descending=attrs["descending"])


def _argsort_samples(rng, dtype):
    ties = np.asarray([[2.0, 1.0, 2.0, np.nan, 1.0, 0.5]], dtype)
    return [Sample((_u(rng, (3, 5), dtype),), {"axis": 1, "descending": False}),
            Sample((_u(rng, (4, 3), dtype),), {"axis": 0, "descending": True}),
            Sample((ties,), {"axis": -1, "descending": False}, note="ties and NaN"),
            Sample((ties,), {"axis": -1, "descending": True}, note="ties and NaN, descending")]


# --------------------------------------------------------------------------
# matmul
# --------------------------------------------------------------------------

#: PyTorch's scalar type names, which its error messages use.
_TORCH_TYPE_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half", "int64": "Long", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _torch_type_name(dtype):
    return _TORCH_TYPE_NAMES.get(np.dtype(dtype).name, str(dtype))


def _matmul_rule(types, **_):
    a, b = types
    sa, sb = a.shape, b.shape
    if a.dtype != b.dtype:
        na, nb = _torch_type_name(a.dtype), _torch_type_name(b.dtype)
        if len(sa) == 1 and len(sb) == 1:
            raise ShapeError(f"dot : expected both vectors to have same dtype, but found {na} and {nb}")
        raise ShapeError(f"expected m1 and m2 to have the same dtype, but got: {na.lower()} != {nb.lower()}")
    if not sa or not sb:
        raise ShapeError(f"both arguments to matmul need to be at least 1D, but they are "
                         f"{len(sa)}D and {len(sb)}D")
    if len(sa) == 1 and len(sb) == 1:
        if sa[0] != sb[0]:
            raise ShapeError(f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] "
                             f"to have the same number of elements, but got {sa[0]} and {sb[0]} "
                             f"elements respectively")
        return TensorType(a.dtype, ())
    if len(sa) == 2 and len(sb) == 1:
        if sa[1] != sb[0]:
            raise ShapeError(f"size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sa[1]}), vec ({sb[0]})")
        return TensorType(a.dtype, (sa[0],))
    if len(sa) == 2 and len(sb) == 2:
        if sa[1] != sb[0]:
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied "
                             f"({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]})")
        return TensorType(a.dtype, (sa[0], sb[1]))
    if len(sa) == 1:  # vector times (batched) matrix
        if sa[0] != sb[-2]:
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied (1x{sa[0]} and "
                             f"{sb[-2]}x{sb[-1]})")
        return TensorType(a.dtype, sb[:-2] + (sb[-1],))
    if len(sb) == 1:
        if sa[-1] != sb[0]:
            rows = int(np.prod(sa[:-1]))
            raise ShapeError(f"size mismatch, got input ({rows}), mat ({rows}x{sa[-1]}), vec ({sb[0]})")
        return TensorType(a.dtype, sa[:-1])
    if len(sb) == 2 and sa[-1] != sb[0]:
        rows = int(np.prod(sa[:-1]))  # PyTorch folds the batch of a into rows
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{sa[-1]} and {sb[0]}x{sb[1]})")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    if sa[-1] != sb[-2]:
        raise ShapeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{int(np.prod(batch)) if batch else 1}, {sa[-1]}] but got: "
                         f"[{int(np.prod(batch)) if batch else 1}, {sb[-2]}].")
    return TensorType(a.dtype, batch + (sa[-2], sb[-1]))


def _vjp_matmul(E, ctx, g):
    a, b = ctx.args
    sa, sb = ctx.shapes
    # Lift vectors to matrices so one batched rule serves all cases of torch.matmul.
    a2 = E.reshape(a, shape=(1, sa[0])) if len(sa) == 1 else a
    b2 = E.reshape(b, shape=(sb[0], 1)) if len(sb) == 1 else b
    sa2, sb2 = E.shape(a2), E.shape(b2)
    out2 = broadcast_shapes(sa2[:-2], sb2[:-2]) + (sa2[-2], sb2[-1])
    g2 = E.reshape(g, shape=out2) if E.shape(g) != out2 else g
    ga = gb = None
    if ctx.needs[0]:
        ga = E.matmul(g2, E.swap_last(b2))
        ga = E.sum_to_shape(ga, sa2)
        if len(sa) == 1:
            ga = E.reshape(ga, shape=sa)
    if ctx.needs[1]:
        gb = E.matmul(E.swap_last(a2), g2)
        gb = E.sum_to_shape(gb, sb2)
        if len(sb) == 1:
            gb = E.reshape(gb, shape=sb)
    return (ga, gb)


def _matmul_mask_reach(E, ctx, mask):
    """Which entries of a and b a nonnegative output mask reaches in a @ b, the other operand's zeros
    ignored: a row of a (a column of b) is reached when its output row (column) has an unmasked
    entry.  Sums, not the vjp's products: those would double the cost of the gradient's matmuls."""
    sa, sb = ctx.shapes
    sa2 = (1, sa[0]) if len(sa) == 1 else sa
    sb2 = (sb[0], 1) if len(sb) == 1 else sb
    out2 = broadcast_shapes(sa2[:-2], sb2[:-2]) + (sa2[-2], sb2[-1])
    m2 = E.reshape(mask, shape=out2) if E.shape(mask) != out2 else mask
    k = sa2[-1]
    reach_a = reach_b = None
    if ctx.needs[0]:
        rows = E.sum(m2, axes=(len(out2) - 1,), keepdims=True)
        reach_a = E.sum_to_shape(E.broadcast_to(rows, out2[:-1] + (k,)), sa2)
        reach_a = E.reshape(reach_a, shape=sa) if len(sa) == 1 else reach_a
    if ctx.needs[1]:
        columns = E.sum(m2, axes=(len(out2) - 2,), keepdims=True)
        reach_b = E.sum_to_shape(E.broadcast_to(columns, out2[:-2] + (k, out2[-1])), sb2)
        reach_b = E.reshape(reach_b, shape=sb) if len(sb) == 1 else reach_b
    return (reach_a, reach_b)


def _matmul_samples(rng, dtype):
    cases = [((4,), (4,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
             ((2, 2, 3), (2, 3, 5)), ((3,), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2))]
    return [Sample((_u(rng, sa, dtype), _u(rng, sb, dtype)), note=f"{sa} @ {sb}") for sa, sb in cases]


def _matmul_name(shapes, **_):
    """DotBackward0, MvBackward0, SqueezeBackward4, MmBackward0 or UnsafeViewBackward0 by operand ranks."""
    ra, rb = len(shapes[0]), len(shapes[1])
    if ra == 1 and rb == 1:
        return "DotBackward0"
    if ra == 2 and rb == 1:
        return "MvBackward0"
    if ra == 1 and rb == 2:
        return "SqueezeBackward4"
    if ra == 2 and rb == 2:
        return "MmBackward0"
    return "UnsafeViewBackward0" if ra >= rb or ra == 1 else "CloneBackward0"


# --------------------------------------------------------------------------
# Shape ops
# --------------------------------------------------------------------------

def _reshape_rule(types, shape):
    (x,) = types
    size = int(np.prod(x.shape))
    if int(np.prod(shape)) != size or any(n < 0 for n in shape):
        raise ShapeError(f"shape '{_fmt_shape(shape)}' is invalid for input of size {size}")
    return TensorType(x.dtype, tuple(shape))


def _vjp_reshape(E, ctx, g):
    return (E.reshape(g, shape=ctx.shapes[0]),)


def _transpose_rule(types, perm):
    (x,) = types
    if len(perm) != x.ndim:
        raise ShapeError(f"permute(sparse_coo): number of dimensions in the tensor input does not "
                         f"match the length of the desired ordering of dimensions i.e. input.dim() = "
                         f"{x.ndim} is not equal to len(dims) = {len(perm)}")
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"permute(): duplicate or out-of-range dims in {tuple(perm)}")
    return TensorType(x.dtype, tuple(x.shape[p] for p in perm))


def _vjp_transpose(E, ctx, g):
    perm = ctx.attrs["perm"]
    inverse = tuple(int(i) for i in np.argsort(perm))
    return (E.transpose(g, perm=inverse),)


def _broadcast_rule(types, shape):
    (x,) = types
    shape = tuple(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or "
                         f"equal to the number of dimensions in the tensor ({x.ndim})")
    for i, n in enumerate(x.shape):
        if n != 1 and n != shape[lead + i]:
            raise ShapeError(
                f"The expanded size of the tensor ({shape[lead + i]}) must match the existing size "
                f"({n}) at non-singleton dimension {lead + i}.  Target sizes: {_fmt_shape(shape)}.  "
                f"Tensor sizes: {_fmt_shape(x.shape)}")
    return TensorType(x.dtype, shape)


def _broadcast_impl(x, shape):
    if len(shape) < np.ndim(x):
        # np.full would drop leading unit axes; PyTorch's expand (and the type rule) refuse.
        raise ValueError("broadcast to fewer dimensions")
    # np.full is several times cheaper than a broadcast view for small arrays (eager
    # backward spreads scalars this way); large ones stay views.
    if math.prod(shape) <= 1024:
        return np.full(shape, x, dtype=x.dtype)
    return np.broadcast_to(x, shape)


def _vjp_broadcast(E, ctx, g):
    return (E.sum_to_shape(g, ctx.shapes[0]),)


def _cast_rule(types, dtype):
    return TensorType(SHORT_TO_DTYPE[dtype], types[0].shape)


def _cast_impl(x, dtype):
    return x.astype(SHORT_TO_DTYPE[dtype])


def _vjp_cast(E, ctx, g):
    src = ctx.dtypes[0]
    if not is_float(src):
        return (None,)
    return (E.cast(g, dtype=DTYPE_TO_SHORT[src]),)


def _shape_samples_reshape(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype),), {"shape": (2, 6)}),
            Sample((_u(rng, (2, 3, 2), dtype),), {"shape": (12,)}),
            Sample((_u(rng, (), dtype),), {"shape": (1, 1)})]


def _shape_samples_transpose(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype),), {"perm": (1, 0)}),
            Sample((_u(rng, (2, 3, 4), dtype),), {"perm": (2, 0, 1)})]


def _shape_samples_broadcast(rng, dtype):
    return [Sample((_u(rng, (3,), dtype),), {"shape": (2, 3)}),
            Sample((_u(rng, (3, 1), dtype),), {"shape": (2, 3, 4)}),
            Sample((_u(rng, (), dtype),), {"shape": (5,)})]


def _cast_samples(rng, dtype):
    other = "f64" if dtype == np.float32 else "f32"
    return [Sample((_u(rng, (3, 4), dtype),), {"dtype": other}),
            Sample((_u(rng, (3,), dtype),), {"dtype": "i64"}, grad=())]


def _transpose_name(shapes, perm):
    """PermuteBackward0 (the front end names t() and transpose() TBackward0 / TransposeBackward0)."""
    return "PermuteBackward0"


# --------------------------------------------------------------------------
# Indexing
# --------------------------------------------------------------------------
# An index is a static `spec` (a tuple of items) plus integer index arrays as
# inputs.  Items: ("int", i), ("slice", start, stop, step), ("none",),
# ("ellipsis",), ("array",) -- the next index-array input.  Boolean masks are
# turned into integer arrays by the front end (their nonzero positions).

def build_index(spec, arrays) -> tuple:
    """The numpy index tuple for `spec` and its index arrays."""
    it = iter(arrays)
    out = []
    for item in spec:
        tag = item[0]
        if tag == "int":
            out.append(item[1])
        elif tag == "slice":
            out.append(slice(item[1], item[2], item[3]))
        elif tag == "none":
            out.append(None)
        elif tag == "ellipsis":
            out.append(Ellipsis)
        else:
            out.append(next(it))
    return tuple(out)


def _index_shape(shape, spec, arrays_shapes):
    # numpy computes the result shape of any index; an empty probe array of the
    # right shape answers without touching data.
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), shape=shape,
                                            strides=(0,) * len(shape))
    fake = [np.zeros(s, dtype=np.int64) for s in arrays_shapes]
    return probe[build_index(spec, fake)].shape


def _check_index(shape, spec, arrays=None):
    dim = 0
    specified = sum(1 for it in spec if it[0] in ("int", "slice", "array"))
    if specified > len(shape):
        raise IndexingError(f"too many indices for tensor of dimension {len(shape)}")
    for item in spec:
        tag = item[0]
        if tag == "ellipsis":
            dim += len(shape) - specified
        elif tag == "int":
            n = shape[dim]
            if not -n <= item[1] < n:
                raise IndexingError(f"index {item[1]} is out of bounds for dimension {dim} with size {n}")
            dim += 1
        elif tag in ("slice", "array"):
            dim += 1


def _index_rule(types, spec):
    x, *idx = types
    for t in idx:
        if category(t.dtype) != 1:
            raise IndexingError("tensors used as indices must be long, int, byte or bool tensors")
    _check_index(x.shape, spec)
    return TensorType(x.dtype, _index_shape(x.shape, spec, [t.shape for t in idx]))


def _index_impl(x, *arrays, spec):
    try:
        index = build_index(spec, arrays)
        out = x[index]
        if not isinstance(out, np.ndarray):  # x[0] of a vector: a 0-d view (sharing x's storage), not a copy
            out = x[index + (Ellipsis,)]
        return out
    except IndexError as e:
        raise IndexingError(str(e).replace("axis", "dimension")) from None


def _vjp_index(E, ctx, g):
    x_shape = ctx.shapes[0]
    arrays = ctx.args[1:]
    return (E.index_add(g, *arrays, spec=ctx.attrs["spec"], shape=x_shape),) + (None,) * len(arrays)


def _index_add_rule(types, spec, shape):
    g, *idx = types
    expected = _index_shape(tuple(shape), spec, [t.shape for t in idx])
    if tuple(g.shape) != tuple(expected):
        raise ShapeError(f"index_add: the gradient has shape {list(g.shape)}, indexing a tensor of shape "
                         f"{list(shape)} gives {list(expected)}")
    return TensorType(g.dtype, tuple(shape))


def _index_add_impl(g, *arrays, spec, shape):
    out = np.zeros(shape, dtype=g.dtype)
    index = build_index(spec, arrays)
    if arrays:
        np.add.at(out, index, g)  # repeated indices accumulate
    else:
        out[index] = g
    return out


def _vjp_index_add(E, ctx, g):
    arrays = ctx.args[1:]
    return (E.index(g, *arrays, spec=ctx.attrs["spec"]),) + (None,) * len(arrays)


def _index_name(shapes, spec):
    """IndexBackward0 with index arrays, else the last step's SelectBackward0 / SliceBackward0 / UnsqueezeBackward0."""
    # PyTorch applies basic indexing one item at a time (an int selects, a slice that is not the whole
    # dimension slices, None unsqueezes); a whole-dimension slice is no step unless nothing else is.
    tags = [it[0] for it in spec]
    if "array" in tags:
        return "IndexBackward0"
    shape = tuple(shapes[0]) if shapes else ()
    consumed = sum(1 for t in tags if t in ("int", "slice"))
    dim, last = 0, None
    for item in spec:
        tag = item[0]
        if tag == "ellipsis":
            dim += len(shape) - consumed
        elif tag == "none":
            last = "UnsqueezeBackward0"
        elif tag == "int":
            last, dim = "SelectBackward0", dim + 1
        elif tag == "slice":
            size = shape[dim] if dim < len(shape) else 0
            start, stop, step = item[1:]
            whole = start in (None, 0) and (stop is None or stop >= size) and step in (None, 1)
            if not whole:
                last = "SliceBackward0"
            dim += 1
    if last is not None:
        return last
    return "SliceBackward0" if "slice" in tags else "AliasBackward0"


def _index_samples(rng, dtype):
    x = _u(rng, (4, 5), dtype)
    x3 = _u(rng, (3, 4, 5), dtype)
    return [
        Sample((x,), {"spec": (("int", 1),)}, note="x[1]"),
        Sample((x,), {"spec": (("slice", 1, None, 2), ("int", -1))}, note="x[1::2, -1]"),
        Sample((x,), {"spec": (("none",), ("ellipsis",), ("slice", None, 3, None))}, note="x[None, ..., :3]"),
        Sample((x, np.array([0, 2, 2, 3])), {"spec": (("array",),)}, grad=(0,), note="x[[0,2,2,3]] repeats"),
        Sample((x3, np.array([0, 1, 1]), np.array([4, 0, 4])),
               {"spec": (("array",), ("slice", None, None, None), ("array",))}, grad=(0,),
               note="x[a, :, b] (advanced axes to the front)"),
        Sample((x, *np.nonzero(x > 0)), {"spec": (("array",), ("array",))}, grad=(0,), note="x[x > 0]"),
    ]


def _index_add_samples(rng, dtype):
    g = _u(rng, (4, 5), dtype)
    return [Sample((g, np.array([0, 2, 2, 1])), {"spec": (("array",),), "shape": (3, 5)}, grad=(0,),
                   note="scatter with repeats"),
            Sample((_u(rng, (5,), dtype),), {"spec": (("int", 1),), "shape": (3, 5)}, note="row")]


# --------------------------------------------------------------------------
# concat
# --------------------------------------------------------------------------

def _concat_rule(types, axis):
    first = types[0]
    ax = normalize_axes(axis, first.ndim)[0]
    total = 0
    for i, t in enumerate(types):
        if t.ndim != first.ndim:
            raise ShapeError(f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim}")
        for d in range(first.ndim):
            if d != ax and t.shape[d] != first.shape[d]:
                raise ShapeError(f"Sizes of tensors must match except in dimension {ax}. Expected size "
                                 f"{first.shape[d]} but got size {t.shape[d]} for tensor number {i} "
                                 f"in the list.")
        total += t.shape[ax]
    shape = list(first.shape)
    shape[ax] = total
    return TensorType(_same_types(types, "cat"), tuple(shape))


def _concat_impl(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _vjp_concat(E, ctx, g):
    ndim = len(ctx.shapes[0])
    ax = normalize_axes(ctx.attrs["axis"], ndim)[0]
    out, start = [], 0
    for need, shape in zip(ctx.needs, ctx.shapes):
        stop = start + shape[ax]
        if need:
            spec = (("slice", None, None, None),) * ax + (("slice", start, stop, None),)
            out.append(E.index(g, spec=spec))
        else:
            out.append(None)
        start = stop
    return tuple(out)


def _concat_samples(rng, dtype):
    return [Sample((_u(rng, (2, 3), dtype), _u(rng, (1, 3), dtype)), {"axis": 0}),
            Sample((_u(rng, (2, 3), dtype), _u(rng, (2, 1), dtype), _u(rng, (2, 2), dtype)), {"axis": -1})]


# --------------------------------------------------------------------------
# Batching rules
# --------------------------------------------------------------------------
# A rule maps an op over a leading batch axis: inputs flagged in `batched`
# carry one, the others are shared by every row, and the output carries one.
# Like vjp rules they are written against an Emitter, so the same rule runs
# on numpy arrays (the generic tests compare it with the op applied per row)
# and emits IR (the batching transformation, compiler/batching.py).

_WHOLE_AXIS = ("slice", None, None, None)


def _row_rank(E, x, is_batched: bool) -> int:
    return len(E.shape(x)) - int(is_batched) if hasattr(x, "shape") else 0


def _batch_size(E, args, batched) -> int:
    return next(E.shape(a)[0] for a, b in zip(args, batched) if b)


def _with_row_rank(E, x, rank: int):
    """Batched `x` with unit axes inserted after the batch axis up to `rank` row axes (numpy aligns from the right)."""
    shape = E.shape(x)
    missing = rank - (len(shape) - 1)
    return E.reshape(x, shape=shape[:1] + (1,) * missing + shape[1:]) if missing else x


def _move_axis(E, x, source: int, dest: int):
    if source == dest:
        return x
    order = [i for i in range(len(E.shape(x))) if i != source]
    order.insert(dest, source)
    return E.transpose(x, perm=tuple(order))


def batch_per_row(E, name, args, batched, attrs):
    """per row, unrolled (the exact fallback).

    The op applied to each batch row, the results concatenated: one op per row in a graph.
    """
    rows = []
    for i in range(_batch_size(E, args, batched)):
        row = [E.index(a, spec=(("int", i),)) if b else a for a, b in zip(args, batched)]
        out = E.apply(name, *row, **attrs)
        rows.append(E.reshape(out, shape=(1,) + tuple(E.shape(out))))
    return E.concat(*rows, axis=0)


def _batch_elementwise(E, name, args, batched, attrs):
    """broadcast (row axes aligned)"""
    # numpy broadcasting aligns trailing axes: a batched operand whose rows have fewer axes than
    # the result's gets unit axes between its batch axis and its row axes.
    rank = max(_row_rank(E, a, b) for a, b in zip(args, batched))
    args = [_with_row_rank(E, a, rank) if b else a for a, b in zip(args, batched)]
    return E.apply(name, *args, **attrs)


def _batch_reduction(E, name, args, batched, attrs):
    """axes shifted by one"""
    (x,) = args
    axes = tuple(a + 1 for a in normalize_axes(attrs["axes"], len(E.shape(x)) - 1))
    if not axes:  # rows are 0-d: nothing to reduce; only sum changes the dtype (ints widen)
        kept = E.dtype(x) if name != "sum" or category(E.dtype(x)) == CATEGORY_FLOAT else I64
        return x if np.dtype(E.dtype(x)) == kept else E.cast(x, dtype=_short(kept))
    return E.apply(name, x, axes=axes, keepdims=attrs["keepdims"])


def _batch_argmax(E, name, args, batched, attrs):
    """axis shifted by one (each row flattened for axis None)"""
    (x,) = args
    shape = E.shape(x)
    if attrs["axis"] is None:  # the index into each flattened row
        return E.argmax(E.reshape(x, shape=(shape[0], math.prod(shape[1:]))), axis=1, keepdims=False)
    axis = normalize_axes(attrs["axis"], len(shape) - 1)[0] + 1 if len(shape) > 1 else None
    if axis is None:
        return E.argmax(E.reshape(x, shape=(shape[0], 1)), axis=1, keepdims=False)
    return E.argmax(x, axis=axis, keepdims=attrs["keepdims"])


def _batch_matmul(E, name, args, batched, attrs):
    """one product of stacked rows where possible, else a batched matmul"""
    a, b = args
    sa = tuple(E.shape(a))[1:] if batched[0] else tuple(E.shape(a))
    sb = tuple(E.shape(b))[1:] if batched[1] else tuple(E.shape(b))
    n = _batch_size(E, args, batched)
    row_out = _matmul_rule((TensorType(E.dtype(a), sa), TensorType(E.dtype(b), sb))).shape
    if batched[0] and not batched[1] and len(sb) <= 2:
        # Rows of a stacked into one matrix: one product instead of n.
        flat = E.reshape(a, shape=(n * math.prod(sa[:-1]), sa[-1]))
        return E.reshape(E.matmul(flat, b), shape=(n,) + row_out)
    if batched[1] and not batched[0] and len(sa) <= 2 and len(sb) <= 2 and (len(sb) == 1 or sb[1] == 1):
        # a @ v for n vectors v is (V @ a^T) with the vectors as rows: one product.
        rows = E.reshape(b, shape=(n, sb[0]))
        out = E.matmul(rows, E.swap_last(a) if len(sa) == 2 else a)
        return E.reshape(out, shape=(n,) + row_out)
    # Otherwise vectors become matrices and the batch axis a leading batch axis of matmul.
    sa2 = (1,) + sa if len(sa) == 1 else sa
    sb2 = sb + (1,) if len(sb) == 1 else sb
    rank = max(len(sa2), len(sb2))

    def lift(x, is_batched, row2):
        want = (n,) + (1,) * (rank - len(row2)) + row2 if is_batched else row2
        return E.reshape(x, shape=want) if tuple(E.shape(x)) != want else x
    out = E.matmul(lift(a, batched[0], sa2), lift(b, batched[1], sb2))
    return E.reshape(out, shape=(n,) + row_out)


def _batch_reshape(E, name, args, batched, attrs):
    """batch axis prepended to the shape"""
    (x,) = args
    return E.reshape(x, shape=(E.shape(x)[0],) + tuple(attrs["shape"]))


def _batch_transpose(E, name, args, batched, attrs):
    """batch axis kept first"""
    return E.transpose(args[0], perm=(0,) + tuple(p + 1 for p in attrs["perm"]))


def _batch_broadcast(E, name, args, batched, attrs):
    """batch axis prepended to the shape"""
    (x,) = args
    shape = tuple(attrs["shape"])
    return E.broadcast(_with_row_rank(E, x, len(shape)), shape=(E.shape(x)[0],) + shape)


def _index_batch_axis(spec, arrays_shapes) -> int:
    """Where the batch axis lands in ``x[:, *spec]`` (numpy's rule for advanced indices).

    With index arrays present, int items count as advanced too; advanced items that are not
    adjacent put their axes first, so the batch axis follows them.
    """
    if not arrays_shapes:
        return 0
    advanced = [i for i, it in enumerate(spec) if it[0] in ("array", "int")]
    if advanced == list(range(advanced[0], advanced[0] + len(advanced))):
        return 0
    return len(broadcast_shapes(*arrays_shapes))


def _batch_index(E, name, args, batched, attrs):
    """whole-axis slice prepended; per row when the index arrays differ per row"""
    x, *arrays = args
    if any(batched[1:]):  # a different index per row: no single numpy index expresses it
        return batch_per_row(E, name, args, batched, attrs)
    spec = tuple(attrs["spec"])
    out = E.index(x, *arrays, spec=(_WHOLE_AXIS,) + spec)
    return _move_axis(E, out, _index_batch_axis(spec, [tuple(E.shape(a)) for a in arrays]), 0)


def _batch_index_add(E, name, args, batched, attrs):
    """whole-axis slice prepended; per row when the index arrays differ per row"""
    g, *arrays = args
    if any(batched[1:]) or not batched[0]:
        return batch_per_row(E, name, args, batched, attrs)
    spec = tuple(attrs["spec"])
    axis = _index_batch_axis(spec, [tuple(E.shape(a)) for a in arrays])
    n = E.shape(g)[0]
    return E.index_add(_move_axis(E, g, 0, axis), *arrays, spec=(_WHOLE_AXIS,) + spec,
                       shape=(n,) + tuple(attrs["shape"]))


def _batch_concat(E, name, args, batched, attrs):
    """axis shifted by one (shared inputs repeated)"""
    n = _batch_size(E, args, batched)
    rank = next(_row_rank(E, a, b) for a, b in zip(args, batched))
    axis = normalize_axes(attrs["axis"], rank)[0] + 1
    xs = [a if b else E.broadcast_to(a, (n,) + tuple(E.shape(a))) for a, b in zip(args, batched)]
    return E.concat(*xs, axis=axis)


# --------------------------------------------------------------------------
# Linear algebra: LAPACK through numpy (eager, interpreter, executor) and numba (kernels)
# --------------------------------------------------------------------------

class _LinAlgError(RuntimeError):
    """A matrix is singular or not positive-definite (PyTorch's ``torch.linalg.LinAlgError``, whose
    class is named ``_LinAlgError`` as here)."""


LinAlgError = _LinAlgError


def _square_rule(fname, out="matrix"):
    """Type rule of a function of batches of square float matrices (..., n, n)."""
    def rule(types):
        (a,) = types
        _check_square(fname, a)
        return TensorType(a.dtype, a.shape if out == "matrix" else a.shape[:-2])
    return rule


def _check_square(fname, a, what="A"):
    if len(a.shape) < 2:
        raise ShapeError(f"linalg.{fname}: The input tensor {what} must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.{fname}: {what} must be batches of square matrices, but they are "
                         f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if not is_float(a.dtype):
        raise ShapeError(f"linalg.{fname}: Expected a floating point or complex tensor as input. "
                         f"Got {_torch_type_name(a.dtype)}")


def _lapack(fname, fn, a, *more):
    """numpy's batched `fn` on square matrices `a` (the caller has checked them: eager mode runs the numpy
    rule without the type rule); a failure is raised with PyTorch's text, naming the batch element."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(a, *more).astype(a.dtype, copy=False)
    except np.linalg.LinAlgError:
        pass
    flat = a.reshape((-1,) + a.shape[-2:])
    rest = [m.reshape((-1,) + m.shape[-2:]) for m in more]
    for k in range(flat.shape[0]):
        try:
            fn(flat[k], *[m[k] for m in rest])
        except np.linalg.LinAlgError:
            raise LinAlgError(_failure_text(fname, flat[k], k if a.ndim > 2 else None)) from None
    raise AssertionError("a batch failed but none of its matrices does")  # pragma: no cover


def _failure_text(fname, m, batch_element):
    """PyTorch's text for matrix `m` that `fname` could not factor."""
    where = f"(Batch element {batch_element}): " if batch_element is not None else ""
    if fname == "cholesky":
        return (f"linalg.cholesky: {where}The factorization could not be completed because the input is not "
                f"positive-definite (the leading minor of order {_failed_minor(m)} is not positive-definite).")
    verb = "inversion" if fname == "inv" else "solve"
    return (f"linalg.{fname}: {where}The diagonal element {_zero_pivot(m)} is zero, the {verb} could not be "
            f"completed because the input matrix is singular.")


def _zero_pivot(m):
    """The first zero pivot of singular `m`'s LU factorisation (1-based), which PyTorch's message names."""
    import scipy.linalg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lu, _ = scipy.linalg.lu_factor(np.asarray(m, np.float64), check_finite=False)
    zero = np.flatnonzero(np.diag(lu) == 0)
    return int(zero[0]) + 1 if zero.size else m.shape[-1]


def _inv_impl(a):
    _check_square("inv", TensorType(a.dtype, a.shape))
    return _lapack("inv", np.linalg.inv, a)


def _vjp_inv(E, ctx, g):
    y = ctx.out  # A^{-1}; d(A^{-1}) = -A^{-1} dA A^{-1}
    yt = E.swap_last(y)
    return (E.neg(E.matmul(E.matmul(yt, g), yt)),)


#: The last factorisations computed, by input contents: a decomposition is one op per output (eigh's
#: values and vectors, the SVD's three factors, QR's two), and each would otherwise run LAPACK again on the
#: same matrices in eager mode.  Two are kept: the outputs of one call are asked for in turn.  (slogdet's
#: LU costs about what the digest does: it runs twice.)
_FACTORISATIONS: dict = {}
_FACTORISATIONS_KEPT = 2


def _factorised(fn, a, *options):
    """``fn(a, *options)`` (a tuple of arrays), computed once for consecutive calls on equal input."""
    digest = hashlib.blake2b(np.ascontiguousarray(a), digest_size=16).digest()
    key = (fn, options, a.dtype.str, a.shape, digest)
    parts = _FACTORISATIONS.get(key)
    if parts is None:
        parts = tuple(fn(a, *options))
        while len(_FACTORISATIONS) >= _FACTORISATIONS_KEPT:
            _FACTORISATIONS.pop(next(iter(_FACTORISATIONS)))
        _FACTORISATIONS[key] = parts
    return parts


def _slogdet_parts(a):
    _check_square("slogdet", TensorType(a.dtype, a.shape))
    sign, logabs = np.linalg.slogdet(a)
    return sign.astype(a.dtype, copy=False), logabs.astype(a.dtype, copy=False)


def _det_impl(a):
    _check_square("det", TensorType(a.dtype, a.shape))
    return np.asarray(np.linalg.det(a)).astype(a.dtype, copy=False)


def _vjp_det(E, ctx, g):
    # d det = <cof(A), dA> (Jacobi's formula), with cof(A) the cofactor matrix: det A^-T where A is
    # invertible, and defined (and computed, by the SVD) for singular A too.
    (a,) = ctx.args
    return (E.mul(E.reshape(g, shape=ctx.shapes[0][:-2] + (1, 1)), E.cofactor(a)),)


def _cofactor_one(m):
    """The cofactor matrix of one square matrix from its SVD A = U diag(s) Vh: det(U) det(Vh) U
    diag(prod_{k != i} s_k) Vh, the products without division (so exact where some s_k is 0).
    numba compiles this same function for the kernels (compiler/runtime.py cofactor_matrix)."""
    u, s, vh = np.linalg.svd(m)
    n = s.shape[0]
    before = np.ones(n, m.dtype)
    after = np.ones(n, m.dtype)
    for k in range(1, n):
        before[k] = before[k - 1] * s[k - 1]
        after[n - 1 - k] = after[n - k] * s[n - k]
    return (np.linalg.det(u) * np.linalg.det(vh)) * ((u * (before * after)) @ vh)


def _cofactor_impl(a):
    _check_square("det", TensorType(a.dtype, a.shape))
    if a.size == 0:  # nothing to compute (a 0 x 0 matrix has no cofactors)
        return np.zeros(a.shape, a.dtype)
    flat = a.reshape((-1,) + a.shape[-2:])
    return np.stack([_cofactor_one(m) for m in flat]).reshape(a.shape).astype(a.dtype, copy=False)


def _vjp_cofactor(E, ctx, g):
    # C = det A^-T (invertible A): <G, dC> = det <G, A^-T> tr(A^-1 dA) - det <G, A^-T dA^T A^-T>, so
    # the cotangent is <G, C> A^-T - C G^T A^-T (it needs the inverse: second derivatives of det at a
    # singular matrix raise).
    (a,) = ctx.args
    c = ctx.out
    inv_t = E.swap_last(E.inv(a))
    shape = ctx.shapes[0]
    inner = E.reshape(E.sum(E.mul(g, c), axes=(len(shape) - 2, len(shape) - 1), keepdims=False),
                      shape=shape[:-2] + (1, 1))
    return (E.sub(E.mul(inner, inv_t), E.matmul(E.matmul(c, E.swap_last(g)), inv_t)),)


def _vjp_det_sign(E, ctx, g):
    # Piecewise constant: zero (as g * 0, like sign's), spread over each matrix.
    zero = E.reshape(E.mul(g, 0.0), shape=ctx.shapes[0][:-2] + (1, 1))
    return (E.broadcast_to(zero, ctx.shapes[0]),)


def _vjp_logabsdet(E, ctx, g):
    # d log|det| = tr(A^{-1} dA): the cotangent is g A^{-T}.
    (a,) = ctx.args
    return (E.mul(E.reshape(g, shape=ctx.shapes[0][:-2] + (1, 1)), E.swap_last(E.inv(a))),)


def _solve_rule(types):
    a, b = types
    _check_square("solve", a)
    if len(b.shape) < 2 or b.shape[-2] != a.shape[-1] or b.shape[:-2] != a.shape[:-2]:
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                         f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[-2] if len(b.shape) >= 2 else ''}"
                         f"x{b.shape[-1] if b.shape else ''})")
    if a.dtype != b.dtype:
        raise ShapeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                         f"{_torch_type_name(a.dtype)} and B of type {_torch_type_name(b.dtype)} instead")
    return TensorType(a.dtype, b.shape)


def _solve_impl(a, b):
    _solve_rule((TensorType(a.dtype, a.shape), TensorType(b.dtype, b.shape)))
    if b.size == 0:  # (numpy's solve cannot reshape zero right-hand sides)
        return np.zeros(b.shape, a.dtype)
    return _lapack("solve", np.linalg.solve, a, b)


def _vjp_solve(E, ctx, g):
    # X = A^{-1} B: gB = A^{-T} g, gA = -gB X^T.
    a, _ = ctx.args
    gb = E.solve(E.swap_last(a), g)
    ga = E.neg(E.matmul(gb, E.swap_last(ctx.out))) if ctx.needs[0] else None
    return (ga, gb)


def _symmetric_part(a):
    return (a + np.swapaxes(a, -1, -2)) * np.asarray(0.5, a.dtype)


def _cholesky_impl(a):
    """The factor of A's symmetric part: the same as LAPACK's for the symmetric matrices it is meant for,
    and a function whose derivative is the symmetric gradient PyTorch returns."""
    _check_square("cholesky", TensorType(a.dtype, a.shape))
    return _lapack("cholesky", np.linalg.cholesky, _symmetric_part(a))


def _failed_minor(m):
    for k in range(1, m.shape[-1] + 1):
        try:
            np.linalg.cholesky(m[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return m.shape[-1]


def _vjp_cholesky(E, ctx, g):
    # A = L L^T (A symmetric; LAPACK reads its lower triangle).  With phi(X) the lower triangle of X
    # with its diagonal halved, S = L^{-T} phi(L^T gL) L^{-1} and the gradient is (S + S^T) / 2
    # (Murray, "Differentiation of the Cholesky decomposition", 2016).
    low = ctx.out
    n = ctx.shapes[0][-1]
    half_lower = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    phi = E.mul(E.matmul(E.swap_last(low), g), half_lower.astype(ctx.dtypes[0]))
    low_inv = E.inv(low)
    s = E.matmul(E.matmul(E.swap_last(low_inv), phi), low_inv)
    return (E.mul(E.add(s, E.swap_last(s)), 0.5),)


def _check_matrix(fname, a):
    """Batches of float matrices (..., m, n), any m and n (svd, qr): PyTorch's texts otherwise."""
    if len(a.shape) < 2:
        raise ShapeError(f"linalg.{fname}: The input tensor A must have at least 2 dimensions.")
    if not is_float(a.dtype):
        raise ShapeError(f"linalg.{fname}: Expected a floating point or complex tensor as input. "
                         f"Got {_torch_type_name(a.dtype)}")


def _decomposition_rule(fname, part):
    """Type rule of one output of a decomposition: ``part(m, n, **attrs)`` is its matrix shape."""
    def rule(types, **attrs):
        (a,) = types
        (_check_square if fname == "eigh" else _check_matrix)(fname, a)
        core = part(*a.shape[-2:], **attrs)
        if core is None:  # qr's Q in mode "r": not computed
            return TensorType(a.dtype, (0,))
        return TensorType(a.dtype, a.shape[:-2] + core)
    return rule


def _decomposition_impl(fname, rule, fn):
    """numpy's `fn` on each matrix of the batch, after `rule` checked the input (eager mode skips type rules)."""
    def impl(a, **attrs):
        out = rule((TensorType(a.dtype, a.shape),), **attrs)
        if 0 in out.shape:
            return np.zeros(out.shape, a.dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(fn(a, **attrs)).astype(a.dtype, copy=False)
    return impl


def _off_diagonal_inverse(E, differences, n, dtype):
    """1 / differences off the diagonal, 0 on it (where the difference is 0 by construction): the
    divisor on the diagonal is 1, so no inf reaches a derivative of this expression."""
    diagonal = np.eye(n, dtype=bool)
    return E.where(diagonal, 0.0, E.div(1.0, E.where(diagonal, np.ones((), dtype), differences)))


def _row(E, v):
    """A vector (..., k) as a row (..., 1, k), to scale a matrix's columns."""
    return E.reshape(v, shape=tuple(E.shape(v)[:-1]) + (1, E.shape(v)[-1]))


def _column(E, v):
    """A vector (..., k) as a column (..., k, 1), to scale a matrix's rows."""
    return E.reshape(v, shape=tuple(E.shape(v)) + (1,))


def _skew(E, m):
    return E.mul(E.sub(m, E.swap_last(m)), 0.5)


# Symmetric eigendecomposition A = V diag(L) V^T (of A's symmetric part, like cholesky).  With
# F_ij = 1 / (L_j - L_i) off the diagonal, the cotangent of A is V (diag(gL) + F o skew(V^T gV)) V^T,
# symmetric (Magnus, "On differentiating eigenvalues and eigenvectors", 1985); repeated eigenvalues
# make the eigenvectors' part inf or NaN, as in PyTorch.

def _eigh_lapack(a, vectors):
    # eigh's values even without the vectors: eigvalsh's may differ in the last bit, and the kernels'
    # (compiler/runtime.py eigh_factors) come with the vectors.
    return _factorised(np.linalg.eigh, _symmetric_part(a))[1 if vectors else 0].copy()


def _vjp_eigvalsh(E, ctx, g):
    (a,) = ctx.args
    v = E.eigh_vectors(a)
    return (E.matmul(E.mul(v, _row(E, g)), E.swap_last(v)),)


def _vjp_eigh_vectors(E, ctx, g):
    (a,) = ctx.args
    v, values = ctx.out, E.eigvalsh(a)
    n = ctx.shapes[0][-1]
    f = _off_diagonal_inverse(E, E.sub(_row(E, values), _column(E, values)), n, ctx.dtypes[0])
    inner = E.mul(f, _skew(E, E.matmul(E.swap_last(v), g)))
    return (E.matmul(E.matmul(v, inner), E.swap_last(v)),)


def _eigh_samples(rng, dtype):
    """Symmetric matrices Q diag(L) Q^T with eigenvalues at least 0.7 apart (finite differences of the
    eigenvectors need the gap)."""
    def symmetric(shape):
        n = shape[-1]
        q = np.linalg.qr(rng.standard_normal(shape))[0]
        values = np.arange(n) * 1.5 - 1.0 + rng.uniform(-0.4, 0.4, shape[:-1])
        return np.asarray((q * values[..., None, :]) @ np.swapaxes(q, -1, -2), dtype)
    return [Sample((symmetric((3, 3)),), {}), Sample((symmetric((2, 4, 4)),), {}, note="batch"),
            Sample((symmetric((1, 1)),), {}, note="1x1")]


# Singular value decomposition A = U diag(S) Vh (reduced: U m x k, Vh k x n, k = min(m, n)).  With
# F_ij = 1 / (S_j^2 - S_i^2) off the diagonal and V = Vh^T, the cotangent of A is
#   U [diag(gS) + (F o (U^T gU - gU^T U)) diag(S) + diag(S) (F o (V^T gV - gV^T V))] Vh
#   + (I - U U^T) gU diag(S)^-1 Vh + U diag(S)^-1 gV^T (I - V Vh)
# (Townsend, "Differentiating the singular value decomposition", 2016), one term per output here.
# With full_matrices the extra columns of U and rows of Vh do not reach A's cotangent, as in PyTorch.

def _svd_lapack(part):
    # The singular values too come from the factorisation with vectors: numba has no compute_uv=False, and
    # LAPACK's values without vectors may differ in the last bit from those with them.
    def fn(a, full=False):
        return _factorised(np.linalg.svd, a, full)[part].copy()
    return fn


def _svd_parts(E, a):
    return E.svd_u(a, full=False), E.svdvals(a), E.svd_vh(a, full=False)


def _vjp_svdvals(E, ctx, g):
    u, _, vh = _svd_parts(E, ctx.args[0])
    return (E.matmul(E.mul(u, _row(E, g)), vh),)


def _svd_gap_inverse(E, s, dtype):
    squares = E.mul(s, s)
    return _off_diagonal_inverse(E, E.sub(_row(E, squares), _column(E, squares)), E.shape(s)[-1], dtype)


def _narrowed(E, x, axis, k):
    """The first k entries of x along `axis` (full_matrices' extra columns or rows dropped)."""
    shape = E.shape(x)
    axis %= len(shape)
    return x if shape[axis] == k else E.index(x, spec=axis_slice_spec(len(shape), axis, 0, k))


def _vjp_svd_u(E, ctx, g):
    (a,) = ctx.args
    u, s, vh = _svd_parts(E, a)
    m, n = ctx.shapes[0][-2:]
    gu = _narrowed(E, g, -1, min(m, n))
    j = E.matmul(E.swap_last(u), gu)
    inner = E.mul(E.mul(_svd_gap_inverse(E, s, ctx.dtypes[0]), E.sub(j, E.swap_last(j))), _row(E, s))
    out = E.matmul(E.matmul(u, inner), vh)
    if m > n:  # the part of gU outside U's columns
        out = E.add(out, E.matmul(E.div(E.sub(gu, E.matmul(u, j)), _row(E, s)), vh))
    return (out,)


def _vjp_svd_vh(E, ctx, g):
    (a,) = ctx.args
    u, s, vh = _svd_parts(E, a)
    m, n = ctx.shapes[0][-2:]
    gvh = _narrowed(E, g, -2, min(m, n))
    j = E.matmul(vh, E.swap_last(gvh))  # V^T gV
    inner = E.mul(_column(E, s), E.mul(_svd_gap_inverse(E, s, ctx.dtypes[0]), E.sub(j, E.swap_last(j))))
    out = E.matmul(E.matmul(u, inner), vh)
    if n > m:  # the part of gVh outside Vh's rows
        out = E.add(out, E.matmul(E.div(u, _row(E, s)), E.sub(gvh, E.matmul(E.swap_last(j), vh))))
    return (out,)


def _svd_samples(rng, dtype):
    """U diag(S) Vh with singular values 3, 2, 1.2, ... (distinct: the vectors' gradients divide by gaps)."""
    def matrix(shape, full=False):
        m, n = shape[-2:]
        k = min(m, n)
        u = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, k)))[0]
        v = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, k)))[0]
        s = np.array([3.0, 2.0, 1.2, 0.6][:k])
        return np.asarray((u * s) @ np.swapaxes(v, -1, -2), dtype)
    # Two samples (each is a large gradient program for the kernels): the tall one with full_matrices,
    # whose extra vectors are any orthonormal completion, so no derivative to check them against (the
    # tall gradient is checked against finite differences in test_linalg_and_losses).
    return [Sample((matrix((2, 2, 4)),), {"full": False}, note="batch, wide"),
            Sample((matrix((3, 2)),), {"full": True}, grad=(), note="tall, full_matrices")]


def _svdvals_samples(rng, dtype):
    return [Sample(s.args, {}, note=s.note) for s in _svd_samples(rng, dtype)]


# QR decomposition A = Q R.  For m >= n (Q m x n, R n x n), with M = R gR^T - gQ^T Q and copyltu(M)
# the symmetric matrix with M's lower triangle, the cotangent of A is (gQ + Q copyltu(M)) R^-T
# (Walter and Lehmann, "Algorithmic differentiation of linear algebra functions", 2018).  For m < n,
# A = [X | Y] with X = Q U square and Y = Q W: W's cotangent gW moves into gQ + Y gW^T and gives
# Y the cotangent Q gW; X takes the square rule with U's cotangent.  One term per output here.

_QR_MODES = ("reduced", "complete", "r")


def _qr_lapack(part):
    def fn(a, mode="reduced"):
        m, n = a.shape[-2:]
        if mode == "complete" and m > n:
            # LAPACK's reflectors of [A | 0] are A's and then identities: its Q is A's complete Q, the
            # kernels' way too (compiler/runtime.py qr_factors), since numba has only the reduced QR.
            padded = np.concatenate([a, np.zeros(a.shape[:-1] + (m - n,), a.dtype)], axis=-1)
            factors = _factorised(np.linalg.qr, padded)
            return factors[part][..., :n].copy() if part else factors[0].copy()
        return _factorised(np.linalg.qr, a)[part].copy()
    return fn


def _qr_shape(part):
    def core(m, n, mode="reduced"):
        if mode not in _QR_MODES:
            raise ShapeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                             f"'r', or 'complete'")
        k = m if mode == "complete" else min(m, n)
        if part == 0:
            return None if mode == "r" else (m, k)
        return (k, n)
    return core


def _qr_backward(E, ctx, gq, gr):
    (a,) = ctx.args
    m, n = ctx.shapes[0][-2:]
    mode = ctx.attrs["mode"]
    if mode == "r":
        raise ShapeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                         "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
    if 0 in ctx.shapes[0]:  # nothing to differentiate (nor to complete)
        return (E.mul(a, 0.0),)
    if mode == "complete" and m > n:
        raise ShapeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    q, r = E.qr_q(a, mode="reduced"), E.qr_r(a, mode="reduced")
    k = min(m, n)
    gy = None
    if n > k:  # the wide case: split off Y = Q W
        square = axis_slice_spec(len(ctx.shapes[0]), len(ctx.shapes[0]) - 1, 0, k)
        rest = axis_slice_spec(len(ctx.shapes[0]), len(ctx.shapes[0]) - 1, k, n)
        y = E.index(a, spec=rest)
        if gr is not None:
            gw = E.index(gr, spec=rest)
            gy = E.matmul(q, gw)
            extra = E.matmul(y, E.swap_last(gw))
            gq = extra if gq is None else E.add(gq, extra)
            gr = E.index(gr, spec=square)
        r = E.index(r, spec=square)
    m_terms = []
    if gr is not None:
        m_terms.append(E.matmul(r, E.swap_last(gr)))
    if gq is not None:
        m_terms.append(E.neg(E.matmul(E.swap_last(gq), q)))
    mm = m_terms[0] if len(m_terms) == 1 else E.add(*m_terms)
    dtype = ctx.dtypes[0]
    strict_lower = E.mul(mm, np.tril(np.ones((k, k)), -1).astype(dtype))
    sym = E.add(E.add(strict_lower, E.swap_last(strict_lower)), E.mul(mm, np.eye(k, dtype=dtype)))
    b = E.matmul(q, sym)
    if gq is not None:
        b = E.add(gq, b)
    gx = E.swap_last(E.solve(r, E.swap_last(b)))  # b R^-T
    if gy is None:
        return (gx if n == k else E.concat(gx, E.mul(E.index(a, spec=rest), 0.0), axis=-1),)
    return (E.concat(gx, gy, axis=-1),)


def _vjp_qr_q(E, ctx, g):
    return _qr_backward(E, ctx, g, None)


def _vjp_qr_r(E, ctx, g):
    return _qr_backward(E, ctx, None, g)


def _qr_samples(rng, dtype):
    def matrix(shape):
        a = rng.uniform(-1.0, 1.0, shape)
        k = min(shape[-2:])
        a[..., :k, :k] += 2.0 * np.eye(k)  # R's diagonal away from 0: R^-T is well conditioned
        return np.asarray(a, dtype)
    # (complete on tall matrices has no derivative: tests/test_linalg_and_losses.py checks its values;
    # on wide ones it is the reduced QR)
    return [Sample((matrix((4, 3)),), {"mode": "reduced"}, note="tall"),
            Sample((matrix((2, 2, 4)),), {"mode": "complete"}, note="batch, wide, complete")]


def _batch_same(E, name, args, batched, attrs):
    """A leading batch axis is one more batch dimension of the matrices."""
    return E.apply(name, *args, **attrs)


def _batch_solve(E, name, args, batched, attrs):
    """The operand without the batch axis is broadcast to it."""
    a, b = args
    if not batched[0]:
        a = E.broadcast_to(E.reshape(a, shape=(1,) + tuple(E.shape(a))), (E.shape(b)[0],) + tuple(E.shape(a)))
    if not batched[1]:
        b = E.broadcast_to(E.reshape(b, shape=(1,) + tuple(E.shape(b))), (E.shape(a)[0],) + tuple(E.shape(b)))
    return E.solve(a, b)


def _well_conditioned(rng, shape, dtype):
    """Matrices near the identity plus noise: invertible, with moderate condition numbers."""
    n = shape[-1]
    return np.asarray(rng.uniform(-0.5, 0.5, shape) + 2.0 * np.eye(n), dtype=dtype)


def _spd(rng, shape, dtype):
    m = rng.uniform(-1.0, 1.0, shape)
    return np.asarray(m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1]), dtype=dtype)


def _square_samples(make):
    def samples(rng, dtype):
        return [Sample((make(rng, (3, 3), dtype),), {}), Sample((make(rng, (2, 4, 4), dtype),), {}, note="batch"),
                Sample((make(rng, (1, 1), dtype),), {}, note="1x1")]
    return samples


def _solve_samples(rng, dtype):
    return [Sample((_well_conditioned(rng, (3, 3), dtype), _u(rng, (3, 2), dtype)), {}),
            Sample((_well_conditioned(rng, (2, 4, 4), dtype), _u(rng, (2, 4, 1), dtype)), {}, note="batch")]


def _register_linalg(add):
    add(Op("inv", arity=1, attrs=(), kind="linalg", impl=_inv_impl, type_rule=_square_rule("inv"), vjp=_vjp_inv,
           saves=("out",), node_name="LinalgInvExBackward0", samples=_square_samples(_well_conditioned),
           promote="keep", kernel="np.linalg.inv({0})", doc="inverse of (batches of) square matrices",
           batch=_batch_same))
    add(Op("det", arity=1, attrs=(), kind="linalg", impl=_det_impl, type_rule=_square_rule("det", out="scalar"),
           vjp=_vjp_det, saves=(0,), node_name="LinalgDetBackward0", samples=_square_samples(_well_conditioned),
           promote="keep", kernel="np.linalg.det({0})", doc="determinant (gradient for invertible matrices)",
           batch=_batch_same))
    add(Op("cofactor", arity=1, attrs=(), kind="linalg", impl=_cofactor_impl, type_rule=_square_rule("det"),
           vjp=_vjp_cofactor, saves=(0, "out"), node_name="LinalgDetBackward0",
           samples=_square_samples(_well_conditioned), promote="keep", kernel="cofactor_matrix({0})",
           doc="cofactor matrix (det's gradient: det A^-T, by the SVD so that singular A has one too)",
           batch=_batch_same))
    add(Op("logabsdet", arity=1, attrs=(), kind="linalg", impl=lambda a: _slogdet_parts(a)[1],
           type_rule=_square_rule("slogdet", out="scalar"), vjp=_vjp_logabsdet, saves=(0,),
           node_name="LinalgSlogdetBackward0", samples=_square_samples(_well_conditioned), promote="keep",
           kernel="np.linalg.slogdet({0})[1]", doc="log |det|, without overflow (slogdet's second part)",
           batch=_batch_same))
    add(Op("det_sign", arity=1, attrs=(), kind="linalg", impl=lambda a: _slogdet_parts(a)[0],
           type_rule=_square_rule("slogdet", out="scalar"), vjp=_vjp_det_sign, saves=(),
           node_name="LinalgSlogdetBackward0", samples=_square_samples(_well_conditioned), promote="keep",
           kernel="np.linalg.slogdet({0})[0]", doc="sign of the determinant, 0 when singular (its gradient is 0)",
           batch=_batch_same))
    add(Op("solve", arity=2, attrs=(), kind="linalg", impl=_solve_impl, type_rule=_solve_rule, vjp=_vjp_solve,
           saves=(0, "out"), node_name="LinalgSolveExBackward0", samples=_solve_samples, promote="match",
           kernel="np.linalg.solve({0}, {1})",
           doc="X with A X = B for square A (batches alike; B's columns are right-hand sides)", batch=_batch_solve))
    add(Op("cholesky_lower", arity=1, attrs=(), kind="linalg", impl=_cholesky_impl, type_rule=_square_rule("cholesky"),
           vjp=_vjp_cholesky, saves=("out",), node_name="LinalgCholeskyExBackward0", samples=_square_samples(_spd),
           promote="keep", kernel="np.linalg.cholesky(({0} + {0}.T) * 0.5)",
           doc="lower Cholesky factor of a symmetric positive-definite matrix (of A's symmetric part)",
           batch=_batch_same))
    eigvals_rule = _decomposition_rule("eigh", lambda m, n: (n,))
    add(Op("eigvalsh", arity=1, attrs=(), kind="linalg",
           impl=_decomposition_impl("eigh", eigvals_rule, lambda a: _eigh_lapack(a, False)), type_rule=eigvals_rule,
           vjp=_vjp_eigvalsh, saves=(0,), node_name="LinalgEighBackward0", samples=_eigh_samples, promote="keep",
           kernel="eigh_factors({0})[0]", doc="eigenvalues (ascending) of A's symmetric part", batch=_batch_same))
    vectors_rule = _decomposition_rule("eigh", lambda m, n: (n, n))
    add(Op("eigh_vectors", arity=1, attrs=(), kind="linalg",
           impl=_decomposition_impl("eigh", vectors_rule, lambda a: _eigh_lapack(a, True)), type_rule=vectors_rule,
           vjp=_vjp_eigh_vectors, saves=(0, "out"), node_name="LinalgEighBackward0", samples=_eigh_samples,
           promote="keep", kernel="eigh_factors({0})[1]",
           doc="orthonormal eigenvectors (columns, in eigvalsh's order) of A's symmetric part", batch=_batch_same))
    rule = _decomposition_rule("svd", lambda m, n: (min(m, n),))
    add(Op("svdvals", arity=1, attrs=(), kind="linalg", impl=_decomposition_impl("svd", rule, _svd_lapack(1)),
           type_rule=rule, vjp=_vjp_svdvals, saves=(0,), node_name="LinalgSvdBackward0", samples=_svdvals_samples,
           promote="keep", kernel="svd_factors({0}, False)[1]", doc="singular values, descending", batch=_batch_same))
    rule = _decomposition_rule("svd", lambda m, n, full=False: (m, m if full else min(m, n)))
    add(Op("svd_u", arity=1, attrs=("full",), kind="linalg", impl=_decomposition_impl("svd", rule, _svd_lapack(0)),
           type_rule=rule, vjp=_vjp_svd_u, saves=(0,), node_name="LinalgSvdBackward0", samples=_svd_samples,
           promote="keep", kernel="svd_factors({0}, {full})[0]",
           doc="left singular vectors (columns; all m with full)", batch=_batch_same))
    rule = _decomposition_rule("svd", lambda m, n, full=False: (n if full else min(m, n), n))
    add(Op("svd_vh", arity=1, attrs=("full",), kind="linalg", impl=_decomposition_impl("svd", rule, _svd_lapack(2)),
           type_rule=rule, vjp=_vjp_svd_vh, saves=(0,), node_name="LinalgSvdBackward0", samples=_svd_samples,
           promote="keep", kernel="svd_factors({0}, {full})[2]", doc="right singular vectors (rows; all n with full)",
           batch=_batch_same))
    rule = _decomposition_rule("qr", _qr_shape(0))
    add(Op("qr_q", arity=1, attrs=("mode",), kind="linalg", impl=_decomposition_impl("qr", rule, _qr_lapack(0)),
           type_rule=rule, vjp=_vjp_qr_q, saves=(0,), node_name="LinalgQrBackward0", samples=_qr_samples,
           promote="keep", kernel='qr_factors({0}, "{mode}" == "complete")[0]',
           doc="Q of A = QR (orthonormal columns; m x m with mode complete, empty with mode r)", batch=_batch_same))
    rule = _decomposition_rule("qr", _qr_shape(1))
    add(Op("qr_r", arity=1, attrs=("mode",), kind="linalg", impl=_decomposition_impl("qr", rule, _qr_lapack(1)),
           type_rule=rule, vjp=_vjp_qr_r, saves=(0,), node_name="LinalgQrBackward0", samples=_qr_samples,
           promote="keep", kernel='qr_factors({0}, "{mode}" == "complete")[1]',
           doc="R of A = QR (upper triangular; m x n with mode complete)", batch=_batch_same))


# --------------------------------------------------------------------------
# Writing through views: each view's way back to its base
# --------------------------------------------------------------------------

def _reshape_written_back(E, base, written, shape):
    return "reshape", (written,), {"shape": tuple(E.shape(base))}


def _transpose_written_back(E, base, written, perm):
    return "transpose", (written,), {"perm": tuple(int(i) for i in np.argsort(perm))}


def _index_written_back(E, base, written, *rest, spec):
    # The positions the view reads, as a mask computed from the same index arrays (which may be
    # traced values), then the written elements scattered into them.
    shape = tuple(E.shape(base))
    ones = E.broadcast_to(np.ones((), dtype=E.dtype(written)), tuple(E.shape(written)))
    read = E.ne(E.index_add(ones, *rest, spec=spec, shape=shape), 0)
    return "where", (read, E.index_add(written, *rest, spec=spec, shape=shape), base), {}


# --------------------------------------------------------------------------
# The primitive table
# --------------------------------------------------------------------------

def _make_table() -> dict[str, Op]:
    table: dict[str, Op] = {}

    def add(op: Op):
        assert op.name not in table, op.name
        table[op.name] = op

    for name, arity, impl, vjp, fields in _ELEMENTWISE_OPS:
        saves, node, samples = fields.pop("saves"), fields.pop("node_name"), fields.pop("samples")
        add(Op(name, arity=arity, attrs=(), kind="elementwise", impl=impl, type_rule=_elementwise_rule, vjp=vjp,
               saves=saves, node_name=node, samples=samples, batch=_batch_elementwise, **fields))
    for name, arity, impl, node, promote, kernel in _NONDIFF_ELEMENTWISE:
        rule = _compare_rule if promote == "compare" else _elementwise_rule
        gen = _unary_samples(_u) if arity == 1 else _binary_samples(
            lambda r, s, d: np.round(_u(r, s, d)))
        if name.startswith("logical"):
            gen = (_unary_samples(lambda r, s, d: r.uniform(size=s) < 0.5) if arity == 1 else
                   _binary_samples(lambda r, s, d: r.uniform(size=s) < 0.5))
        add(Op(name, arity=arity, attrs=(), kind="elementwise", impl=impl, type_rule=rule, vjp=None, saves=(),
               node_name=node, samples=gen, promote=promote, kernel=kernel, doc=f"elementwise {name} (no gradient)",
               batch=_batch_elementwise, cost=CHEAP))
    add(Op("polygamma", arity=1, attrs=("n",), kind="elementwise", impl=_in_float64(_polygamma64),
           type_rule=_elementwise_rule, vjp=_vjp_polygamma, saves=(0,), node_name="PolygammaBackward0",
           samples=_polygamma_samples, promote="float", kernel="polygamma({0}, {n})",
           doc="n-th derivative of digamma (n = 0: digamma)", batch=_batch_elementwise))
    add(Op("detach", arity=1, attrs=(), kind="elementwise", impl=lambda x: x, type_rule=_elementwise_rule, vjp=None,
           saves=(), node_name="DetachBackward0", samples=_unary_samples(_u), promote="keep", kernel="{0}",
           doc="identity that stops gradients (detach, .data, no_grad regions)", batch=_batch_elementwise, cost=CHEAP))
    add(Op("where", arity=3, attrs=(), kind="elementwise", impl=np.where, type_rule=_where_rule, vjp=_vjp_where,
           saves=(0,), node_name="WhereBackward0", samples=_cond_samples, promote="same", promote_args=(1, 2),
           kernel="{1} if {0} else {2}", doc="select x where cond else y", grad_args=(1, 2), batch=_batch_elementwise,
           cost=CHEAP))
    add(Op("sum", arity=1, attrs=("axes", "keepdims"), kind="reduction", impl=_sum_impl,
           type_rule=_reduce_rule_for("sum"), vjp=_vjp_sum, saves=(), node_name=_sum_name, samples=_reduce_samples,
           promote="sum", doc="sum over axes (None: all)", where_mask="linear", batch=_batch_reduction))
    add(Op("max", arity=1, attrs=("axes", "keepdims"), kind="reduction", impl=_max_impl,
           type_rule=_reduce_rule_for("max"), vjp=_vjp_max, saves=(0, "out"), node_name=_max_name,
           samples=_max_samples, promote="keep", doc="maximum over axes; ties share the gradient",
           batch=_batch_reduction))
    add(Op("min", arity=1, attrs=("axes", "keepdims"), kind="reduction", impl=_min_impl,
           type_rule=_reduce_rule_for("max"), vjp=_vjp_max, saves=(0, "out"), node_name=_min_name,
           samples=_max_samples, promote="keep", doc="minimum over axes; ties share the gradient",
           batch=_batch_reduction))
    add(Op("argmax", arity=1, attrs=("axis", "keepdims"), kind="reduction", impl=_argmax_impl, type_rule=_argmax_rule,
           vjp=None, saves=(), node_name="ArgmaxBackward0",
           samples=lambda rng, dt: [Sample((_u(rng, (3, 4), dt),), {"axis": 1, "keepdims": False})], promote="keep",
           doc="index of the maximum (no gradient)", batch=_batch_argmax))
    add(Op("argsort", arity=1, attrs=("axis", "descending"), kind="order", impl=_argsort_impl, type_rule=_argsort_rule,
           vjp=None, saves=(), node_name="ArgsortBackward0", samples=_argsort_samples, promote="keep",
           doc="stable sorting order along `axis` (no gradient; sort, topk, median gather with it)",
           batch=_batch_argsort))
    _register_linalg(add)
    add(Op("matmul", arity=2, attrs=(), kind="matmul", impl=np.matmul, type_rule=_matmul_rule, vjp=_vjp_matmul,
           saves=(0, 1), node_name=_matmul_name, samples=_matmul_samples, promote="match",
           doc="torch.matmul / numpy.matmul semantics", where_mask=_matmul_mask_reach, batch=_batch_matmul))
    add(Op("reshape", arity=1, attrs=("shape",), kind="shape", impl=lambda x, shape: np.reshape(x, shape),
           type_rule=_reshape_rule, vjp=_vjp_reshape, saves=(), node_name="ViewBackward0",
           samples=_shape_samples_reshape, promote="keep", view=True, doc="reshape to shape", where_mask="linear",
           batch=_batch_reshape, view_inverse=_reshape_written_back))
    add(Op("transpose", arity=1, attrs=("perm",), kind="shape", impl=lambda x, perm: np.transpose(x, perm),
           type_rule=lambda t, perm: _transpose_rule(t, perm), vjp=_vjp_transpose, saves=(), node_name=_transpose_name,
           samples=_shape_samples_transpose, promote="keep", view=True, doc="permute axes", where_mask="linear",
           batch=_batch_transpose, view_inverse=_transpose_written_back))
    add(Op("broadcast", arity=1, attrs=("shape",), kind="shape", impl=_broadcast_impl, type_rule=_broadcast_rule,
           vjp=_vjp_broadcast, saves=(), node_name="ExpandBackward0", samples=_shape_samples_broadcast, promote="keep",
           view=True, doc="broadcast to shape (numpy rules)", where_mask="linear", batch=_batch_broadcast, cost=CHEAP))
    add(Op("cast", arity=1, attrs=("dtype",), kind="elementwise", impl=_cast_impl, type_rule=_cast_rule, vjp=_vjp_cast,
           saves=(), node_name="ToCopyBackward0", samples=_cast_samples, promote="keep", kernel="{0}",
           doc="convert element type", batch=_batch_elementwise, cost=CHEAP))
    add(Op("index", arity=None, attrs=("spec",), kind="index", impl=_index_impl, type_rule=_index_rule, vjp=_vjp_index,
           saves=("rest",), node_name=_index_name, samples=_index_samples, promote="keep", view=True,
           doc="x[spec] with int, slice, None, Ellipsis and integer-array items", grad_args=(0,), where_mask="linear",
           batch=_batch_index, view_inverse=_index_written_back))
    add(Op("index_add", arity=None, attrs=("spec", "shape"), kind="index", impl=_index_add_impl,
           type_rule=_index_add_rule, vjp=_vjp_index_add, saves=("rest",), node_name="IndexPutBackward0",
           samples=_index_add_samples, promote="keep",
           doc="zeros(shape) with g added at [spec]; repeated indices accumulate", grad_args=(0,), where_mask="linear",
           batch=_batch_index_add))
    add(Op("concat", arity=None, attrs=("axis",), kind="shape", impl=_concat_impl, type_rule=_concat_rule,
           vjp=_vjp_concat, saves=(), node_name="CatBackward0", samples=_concat_samples, promote="same",
           doc="concatenate along axis", where_mask="linear", batch=_batch_concat))
    return table


OPS: dict[str, Op] = _make_table()


# --------------------------------------------------------------------------
# Composites
# --------------------------------------------------------------------------

def _numel(shape, axes):
    return int(np.prod([shape[a] for a in normalize_axes(axes, len(shape))])) if shape else 1


def _mean(E, x, axes=None, keepdims=False):
    n = _numel(E.shape(x), axes)
    return E.div(E.sum(x, axes=axes, keepdims=keepdims), float(n))


def _vjp_mean(E, ctx, g):
    axes, keepdims = ctx.attrs["axes"], ctx.attrs["keepdims"]
    n = _numel(ctx.shapes[0], axes)
    return (E.unreduce(E.div(g, float(n)), ctx.shapes[0], axes, keepdims),)


def _mean_name(shapes, axes=None, keepdims=False):
    """MeanBackward0 over all elements, MeanBackward1 over dims."""
    return "MeanBackward0" if axes is None else "MeanBackward1"


def _softplus(E, x, beta=1.0, threshold=20.0):
    bx = E.mul(x, beta)
    # relu(bx) + log1p(exp(-|bx|)) is log1p(exp(bx)) without overflow.
    smooth = E.div(E.add(E.relu(bx), E.log1p(E.exp(E.neg(E.abs(bx))))), beta)
    return E.where(E.gt(bx, threshold), x, smooth)


def _vjp_softplus(E, ctx, g):
    (x,) = ctx.args
    beta, threshold = ctx.attrs["beta"], ctx.attrs["threshold"]
    bx = E.mul(x, beta)
    return (E.where(E.gt(bx, threshold), g, E.mul(g, E.sigmoid(bx))),)


def _finite_max(E, x, axes):
    # The shift of a stable logsumexp; -inf/inf rows shift by 0 (PyTorch's choice),
    # so an all -inf row gives -inf, not nan.
    m = E.max(x, axes=axes, keepdims=True)
    return E.where(E.eq(E.abs(m), math.inf), 0.0, m)


def _logsumexp(E, x, axes=None, keepdims=False):
    shape = E.shape(x)
    if not shape:
        return x
    m = _finite_max(E, x, axes)
    s = E.log(E.sum(E.exp(E.sub(x, m)), axes=axes, keepdims=True))
    out = E.add(s, m)
    if not keepdims:
        out = E.reshape(out, shape=tuple(n for i, n in enumerate(shape) if i not in normalize_axes(axes, len(shape))))
    return out


def _vjp_logsumexp(E, ctx, g):
    (x,) = ctx.args
    shape, axes, keepdims = ctx.shapes[0], ctx.attrs["axes"], ctx.attrs["keepdims"]
    if not shape:
        return (g,)
    out = E.unreduce(ctx.out, shape, axes, keepdims)
    return (E.mul(E.unreduce(g, shape, axes, keepdims), E.exp(E.sub(x, out))),)


def _softmax(E, x, axis):
    if not E.shape(x):
        return E.div(x, x)
    e = E.exp(E.sub(x, _finite_max(E, x, (axis,))))
    return E.div(e, E.sum(e, axes=(axis,), keepdims=True))


def _vjp_softmax(E, ctx, g):
    y = ctx.out
    axis = ctx.attrs["axis"]
    if not ctx.shapes[0]:
        return (E.mul(g, 0.0),)
    gy = E.mul(g, y)
    return (E.sub(gy, E.mul(y, E.sum(gy, axes=(axis,), keepdims=True))),)


def _log_softmax(E, x, axis):
    if not E.shape(x):
        return E.sub(x, x)
    # (x - max) - log(sum(exp(x - max))): subtracting the shift first keeps the largest entries exact
    # (x - logsumexp(x) rounded log(sum) + max and lost up to 13 ulp of float32 near 0).
    shifted = E.sub(x, _finite_max(E, x, (axis,)))
    return E.sub(shifted, E.log(E.sum(E.exp(shifted), axes=(axis,), keepdims=True)))


def _vjp_log_softmax(E, ctx, g):
    axis = ctx.attrs["axis"]
    if not ctx.shapes[0]:
        return (E.mul(g, 0.0),)
    return (E.sub(g, E.mul(E.exp(ctx.out), E.sum(g, axes=(axis,), keepdims=True))),)


def _norm(E, x, p=2.0, axes=None, keepdims=False):
    if p == 0.0:  # the count of nonzeros
        return E.sum(E.cast(E.ne(x, 0.0), dtype=_short(E.dtype(x))), axes=axes, keepdims=keepdims)
    if p == -math.inf:
        return E.min(E.abs(x), axes=axes, keepdims=keepdims)
    if p == 2.0:
        return E.sqrt(E.sum(E.mul(x, x), axes=axes, keepdims=keepdims))
    if p == 1.0:
        return E.sum(E.abs(x), axes=axes, keepdims=keepdims)
    if p == math.inf:
        return E.max(E.abs(x), axes=axes, keepdims=keepdims)
    return E.pow(E.sum(E.pow(E.abs(x), p), axes=axes, keepdims=keepdims), 1.0 / p)


def _vjp_norm(E, ctx, g):
    (x,) = ctx.args
    p, axes, keepdims = ctx.attrs["p"], ctx.attrs["axes"], ctx.attrs["keepdims"]
    shape = ctx.shapes[0]
    n = E.unreduce(ctx.out, shape, axes, keepdims)
    gb = E.unreduce(g, shape, axes, keepdims)
    if p == 0.0:  # a count: zero (as g * 0, like sign's)
        return (E.mul(gb, 0.0),)
    if p == 1.0:
        return (E.mul(gb, E.sign(x)),)
    if abs(p) == math.inf:  # ties share the gradient
        ax = E.abs(x)
        mask = E.cast(E.eq(ax, n), dtype=_short(E.dtype(x)))
        count = E.broadcast_to(E.sum(mask, axes=axes, keepdims=True), shape)
        return (E.div(E.mul(E.mul(gb, E.sign(x)), mask), count),)
    # d||x||_p = sign(x) |x|^(p-1) / ||x||^(p-1); the gradient at the zero vector is 0 (PyTorch).
    if p == 2.0:
        d = E.div(x, n)
    else:
        d = E.mul(E.sign(x), E.div(E.pow(E.abs(x), p - 1.0), E.pow(n, p - 1.0)))
    return (E.mul(gb, E.where(E.eq(n, 0.0), 0.0, d)),)


def _short(dtype):
    return DTYPE_TO_SHORT[np.dtype(dtype)]


def _clamp(E, x, min=None, max=None):
    if min is not None:
        x = E.maximum(x, min)
    if max is not None:
        x = E.minimum(x, max)
    return x


def _clamp_tensor(E, x, lo, hi):
    # min(max(x, lo), hi) by selection: at x == lo the gradient goes to x alone, and lo > hi gives hi (PyTorch).
    raised = E.where(E.lt(x, lo), lo, x)
    return E.where(E.gt(raised, hi), hi, raised)


def _clamp_tensor_samples(rng, dtype):
    x = _u(rng, (3, 4), dtype, -2.0, 2.0)
    lo = np.where(np.abs(x - -0.5) < 0.1, -0.7, -0.5).astype(dtype)
    hi = _u(rng, (4,), dtype, 0.8, 1.2)
    hi = np.where(np.abs(x - hi).min(axis=0) < 0.1, 1.5, hi).astype(dtype)
    return [Sample((x, lo, hi), note="tensor bounds"),
            Sample((_u(rng, (5,), dtype), np.asarray(-0.3, dtype), np.asarray(np.inf, dtype)),
                   grad=(0, 1), note="min only (max is inf)")]


def _vjp_clamp(E, ctx, g):
    (x,) = ctx.args
    lo, hi = ctx.attrs["min"], ctx.attrs["max"]
    # The gradient passes where min <= x <= max, boundaries included (PyTorch).
    keep = None
    if lo is not None:
        keep = E.ge(x, lo)
    if hi is not None:
        upper = E.le(x, hi)
        keep = upper if keep is None else E.logical_and(keep, upper)
    return (g if keep is None else E.where(keep, g, 0.0),)


def _reduce(E, loss, reduction):
    if reduction == "mean":
        return _mean(E, loss)
    if reduction == "sum":
        return E.sum(loss, axes=None, keepdims=False)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _unreduce_loss(E, g, shape, reduction):
    if reduction == "mean":
        return E.broadcast_to(E.div(g, float(max(math.prod(shape), 1))), shape)
    if reduction == "sum":
        return E.broadcast_to(g, shape)
    return g


def _vjp_loss_of_difference(slope):
    """The vjp of a loss of d = x - t whose derivative in d is `slope(E, d, attrs)`, reduced by the
    loss's `reduction`: the target's gradient is the input's negated.  The piecewise losses use
    this rather than their decomposition, whose gradient would make inf * 0 at infinite d."""
    def vjp(E, ctx, g):
        x, t = ctx.args
        shape = broadcast_shapes(*ctx.shapes)
        gd = E.mul(_unreduce_loss(E, g, shape, ctx.attrs["reduction"]), slope(E, E.sub(x, t), ctx.attrs))
        return (gd if ctx.needs[0] else None, E.neg(gd) if ctx.needs[1] else None)
    return vjp


def _mse_loss(E, x, t, reduction="mean"):
    d = E.sub(x, t)
    return _reduce(E, E.mul(d, d), reduction)


_vjp_mse = _vjp_loss_of_difference(lambda E, d, attrs: E.mul(d, 2.0))


def _bce(E, p, t, reduction="mean"):
    # PyTorch clamps each log term at -100 so that p in {0, 1} gives a finite loss.
    logp = E.maximum(E.log(p), -100.0)
    log1mp = E.maximum(E.log(E.sub(1.0, p)), -100.0)
    loss = E.neg(E.add(E.mul(t, logp), E.mul(E.sub(1.0, t), log1mp)))
    return _reduce(E, loss, reduction)


def _vjp_bce(E, ctx, g):
    p, t = ctx.args
    gb = _unreduce_loss(E, g, broadcast_shapes(*ctx.shapes), ctx.attrs["reduction"])
    gp = gt = None
    if ctx.needs[0]:
        gp = E.div(E.mul(gb, E.sub(p, t)), E.maximum(E.mul(E.sub(1.0, p), p), 1e-12))
    if ctx.needs[1]:
        logp = E.maximum(E.log(p), -100.0)
        log1mp = E.maximum(E.log(E.sub(1.0, p)), -100.0)
        gt = E.mul(gb, E.sub(log1mp, logp))
    return (gp, gt)


def _bce_logits(E, z, t, reduction="mean"):
    # (1 - t) z + softplus(-z), written so that neither exp overflows.
    loss = E.add(E.add(E.mul(E.sub(1.0, t), z), E.log1p(E.exp(E.neg(E.abs(z))))), E.relu(E.neg(z)))
    return _reduce(E, loss, reduction)


def _vjp_bce_logits(E, ctx, g):
    z, t = ctx.args
    gb = _unreduce_loss(E, g, broadcast_shapes(*ctx.shapes), ctx.attrs["reduction"])
    gz = E.mul(gb, E.sub(E.sigmoid(z), t)) if ctx.needs[0] else None
    gt = E.mul(gb, E.neg(z)) if ctx.needs[1] else None
    return (gz, gt)


def _nll_gather_spec(ndim):
    return (("array",), ("array",)) if ndim == 2 else (("array",),)


def _nll_rows(E, logp, target):
    """(M, C) log-probabilities and (M,) targets, or (C,) and (): classes moved last for N-d input
    (N, C, d1, ...), whose targets are (N, d1, ...)."""
    shape = E.shape(logp)
    if len(shape) <= 2:
        return logp, target
    moved = E.transpose(logp, perm=(0, *range(2, len(shape)), 1))
    rows = math.prod(E.shape(target))
    return E.reshape(moved, shape=(rows, shape[1])), E.reshape(target, shape=(rows,))


def _nll_weights(E, target, weight, ignore_index):
    """Per target: its class weight, 0 where the target is `ignore_index`; and the safe targets."""
    keep = E.ne(target, ignore_index)
    safe_target = E.where(keep, target, 0)
    picked_weight = E.index(weight, safe_target, spec=(("array",),))
    return E.mul(picked_weight, E.cast(keep, dtype=_short(E.dtype(weight)))), safe_target


def _nll_loss(E, logp, target, weight, reduction="mean", ignore_index=-100):
    target_shape = E.shape(target)
    logp, target = _nll_rows(E, logp, target)
    w, safe_target = _nll_weights(E, target, weight, ignore_index)
    if len(E.shape(logp)) == 2:
        rows = np.arange(E.shape(logp)[0], dtype=np.int64)
        picked = E.index(logp, rows, safe_target, spec=_nll_gather_spec(2))
    else:
        picked = E.index(logp, E.reshape(safe_target, shape=(1,)), spec=_nll_gather_spec(1))
        picked = E.reshape(picked, shape=())
    loss = E.neg(E.mul(picked, w))
    if reduction == "none":
        return E.reshape(loss, shape=target_shape)
    total = E.sum(loss, axes=None, keepdims=False)
    if reduction == "sum":
        return total
    return E.div(total, E.sum(w, axes=None, keepdims=False))


def _vjp_nll(E, ctx, g):
    logp, target, weight = ctx.args
    shape = ctx.shapes[0]
    reduction, ignore_index = ctx.attrs["reduction"], ctx.attrs["ignore_index"]
    if len(shape) > 2:
        target = E.reshape(target, shape=(math.prod(ctx.shapes[1]),))
    w, safe_target = _nll_weights(E, target, weight, ignore_index)
    if reduction == "mean":
        g = E.div(g, E.sum(w, axes=None, keepdims=False))
    if reduction == "none":
        g = E.reshape(g, shape=E.shape(target))
    gw = E.neg(E.mul(E.broadcast_to(g, E.shape(target)), w))
    if len(shape) == 1:
        gl = E.index_add(E.reshape(gw, shape=(1,)), E.reshape(safe_target, shape=(1,)),
                         spec=_nll_gather_spec(1), shape=shape)
        return (gl, None, None)
    rows = E.shape(target)[0]
    gl = E.index_add(gw, np.arange(rows, dtype=np.int64), safe_target, spec=_nll_gather_spec(2),
                     shape=(rows, shape[1]))
    if len(shape) > 2:  # back to (N, d1, ..., C), then the classes to axis 1
        gl = E.reshape(gl, shape=(shape[0], *shape[2:], shape[1]))
        gl = E.transpose(gl, perm=(0, len(shape) - 1, *range(1, len(shape) - 1)))
    return (gl, None, None)


def _nll_node_name(shapes, **attrs):
    """PyTorch's node: ``NllLoss2DBackward0`` for input with spatial dimensions (N, C, d1, ...)."""
    return "NllLoss2DBackward0" if len(shapes[0]) >= 3 else "NllLossBackward0"


def _stack(E, *xs, axis=0):
    shape = E.shape(xs[0])
    ax = normalize_axes(axis, len(shape) + 1)[0]
    new = shape[:ax] + (1,) + shape[ax:]
    return E.concat(*[E.reshape(x, shape=new) for x in xs], axis=ax)


def _diagonal_positions(shape, offset, dim1, dim2):
    """The permutation that moves `dim1`, `dim2` last, and the (row, column) index arrays of the diagonal."""
    nd = len(shape)
    if nd < 2:
        raise ShapeError(f"diagonal dimensions requires ndim larger than 1, but got {nd}")
    d1, d2 = normalize_axes(dim1, nd)[0], normalize_axes(dim2, nd)[0]
    if d1 == d2:
        raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rows, cols = shape[d1], shape[d2]
    first_row, first_col = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(rows - first_row, cols - first_col))
    perm = tuple(d for d in range(nd) if d not in (d1, d2)) + (d1, d2)
    index = np.arange(n, dtype=np.int64)
    return perm, index + first_row, index + first_col


def _diagonal(E, x, offset=0, dim1=0, dim2=1):
    perm, rows, cols = _diagonal_positions(E.shape(x), offset, dim1, dim2)
    if perm != tuple(range(len(perm))):
        x = E.transpose(x, perm=perm)
    return E.index(x, rows, cols, spec=(("ellipsis",), ("array",), ("array",)))


def _trace(E, x):
    shape = E.shape(x)
    if len(shape) != 2:
        raise ShapeError(f"trace: expected a matrix, but got tensor with dim {len(shape)}")
    return E.sum(_diagonal(E, x), axes=None, keepdims=False)


def _triangle(lower: bool):
    def decompose(E, x, diagonal=0):
        shape = E.shape(x)
        if len(shape) < 2:
            raise ShapeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions")
        rows, cols = shape[-2:]
        ones = np.ones((rows, cols), bool)
        kept = np.tril(ones, diagonal) if lower else np.triu(ones, diagonal)
        return E.where(kept, x, 0)
    return decompose


def array_on_axis_spec(axis):
    """An index spec that takes an index array on `axis` and everything along the dimensions before it."""
    return tuple(("slice", None, None, None) for _ in range(axis)) + (("array",),)


def axis_slice_spec(ndim, axis, start, stop):
    """An index spec that takes ``start:stop`` along `axis` and everything along the other dimensions."""
    return tuple(("slice", start, stop, None) if d == axis else ("slice", None, None, None) for d in range(ndim))


def _pad_positions(n, left, right, mode):
    """The source position of each output position along a padded dimension of extent `n`, and for
    ``"constant"`` which positions hold the input (the others take the value)."""
    src = np.arange(-left, n + right, dtype=np.int64)
    inside = (src >= 0) & (src < n)
    if mode == "constant":
        return np.clip(src, 0, max(n - 1, 0)), inside
    if mode == "reflect":
        if max(left, right) >= n:
            raise ShapeError(f"Padding size should be less than the corresponding input dimension, but got: "
                             f"padding ({left}, {right}) of a dimension of extent {n}")
        return np.where(src < 0, -src, np.where(src >= n, 2 * (n - 1) - src, src)), None
    if n == 0:
        raise ShapeError(f"{mode} padding of a dimension of extent 0")
    if mode == "replicate":
        return np.clip(src, 0, n - 1), None
    if max(left, right) > n:
        raise ShapeError("Padding value causes wrapping around more than once.")
    return src % n, None  # circular


def _pad(E, x, pad=(), mode="constant", value=0.0):
    """`x` padded: pairs (before, after) in `pad` from the last dimension backwards; negative
    amounts crop.  Each padded dimension is one gather of source positions (reflected, clamped or
    wrapped), and for ``"constant"`` a `where` that puts `value` outside the input."""
    shape = tuple(E.shape(x))
    dtype = E.dtype(x)
    fill = np.asarray(value).astype(dtype)
    for k in range(len(pad) // 2):
        axis = len(shape) - 1 - k
        left, right = pad[2 * k], pad[2 * k + 1]
        n = E.shape(x)[axis]
        if n + left + right < 0:
            raise ShapeError(f"narrow(): length must be non-negative. (padding ({left}, {right}) of a dimension "
                             f"of extent {n})")
        positions, inside = _pad_positions(n, left, right, mode)
        if n == 0:  # nothing to gather: the padding alone (an empty sum keeps x's node in the graph)
            out_shape = tuple(E.shape(x))[:axis] + (len(positions),) + tuple(E.shape(x))[axis + 1:]
            x = E.broadcast_to(E.add(E.sum(x, axes=(axis,), keepdims=True), fill), out_shape)
            continue
        spec = array_on_axis_spec(axis)
        x = E.index(x, positions, spec=spec)
        if inside is not None and not inside.all():
            x = E.where(inside.reshape((-1,) + (1,) * (len(shape) - 1 - axis)), x, fill)
    return x


def _pad_node_name(shapes, pad=(), mode="constant", value=0.0):
    """PyTorch's node for each mode (circular padding is its in-place copies into a new tensor)."""
    dims = len(pad) // 2
    return {"constant": "ConstantPadNdBackward0", "reflect": f"ReflectionPad{dims}DBackward0",
            "replicate": f"ReplicationPad{dims}DBackward0", "circular": "CopySlices"}[mode]


def window_counts(sizes, kernel, stride, dilation) -> tuple[int, ...]:
    """How many windows of `kernel` (with `stride` and `dilation`) fit along each of `sizes` (may be <= 0)."""
    return tuple((n - d * (k - 1) - 1) // st + 1 for n, k, st, d in zip(sizes, kernel, stride, dilation))


def _windows(shape, kernel, stride, dilation) -> tuple[int, int]:
    """(Ho, Wo): the windows over the last two dimensions of `shape`; ShapeError when there are none."""
    ho, wo = window_counts(tuple(shape[-2:]), kernel, stride, dilation)
    if ho <= 0 or wo <= 0:
        (h, w), (kh, kw), (sh, sw), (dh, dw) = tuple(shape[-2:]), kernel, stride, dilation
        raise ShapeError(f"Calculated output size: ({max(ho, 0)}x{max(wo, 0)}). Output size is too small "
                         f"(input {h}x{w}, kernel {kh}x{kw}, stride {sh}x{sw}, dilation {dh}x{dw})")
    return ho, wo


def _window_specs(shape, kernel, stride, dilation) -> list:
    """Per kernel offset (row-major, as im2col orders them), the strided slice of an (N, C, H, W) tensor
    that this offset of every window reads."""
    ho, wo = _windows(shape, kernel, stride, dilation)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    return [(_WHOLE_AXIS, _WHOLE_AXIS, ("slice", i * dh, i * dh + sh * (ho - 1) + 1, sh),
             ("slice", j * dw, j * dw + sw * (wo - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _unfold_input(shape, kernel, stride, dilation) -> tuple[int, int]:
    """(Ho, Wo) of unfold on an input of `shape`, which must be (N, C, H, W)."""
    if len(shape) != 4:
        raise ShapeError(f"unfold: expected an (N, C, H, W) input, got shape {_fmt_shape(shape)}")
    return _windows(shape, kernel, stride, dilation)


def _fold_input(shape, size, kernel, stride, dilation) -> list:
    """fold's window slices for an input of `shape`, which must be (N, C, kh * kw, Ho, Wo) for output `size`."""
    if len(shape) != 5:
        raise ShapeError(f"fold: expected an (N, C, kh * kw, Ho, Wo) input, got shape {_fmt_shape(shape)}")
    n, c, k, ho, wo = shape
    out_hw = _windows(tuple(size), kernel, stride, dilation)
    if k != kernel[0] * kernel[1] or (ho, wo) != out_hw:
        raise ShapeError(f"fold: input of shape {_fmt_shape(shape)} does not hold the {kernel[0] * kernel[1]} "
                         f"kernel offsets by {out_hw[0]}x{out_hw[1]} windows of a {size[0]}x{size[1]} output")
    return _window_specs(tuple(size), kernel, stride, dilation)


def _unfold(E, x, kernel=(1, 1), stride=(1, 1), dilation=(1, 1)):
    """im2col: (N, C, H, W) to (N, C, kh * kw, Ho, Wo), the window under each output position, one
    strided slice of x per kernel offset."""
    n, c = E.shape(x)[:2]
    ho, wo = _unfold_input(tuple(E.shape(x)), kernel, stride, dilation)
    parts = [E.reshape(E.index(x, spec=spec), shape=(n, c, 1, ho, wo))
             for spec in _window_specs(E.shape(x), kernel, stride, dilation)]
    return parts[0] if len(parts) == 1 else E.concat(*parts, axis=2)


def _fused_unfold(x, kernel=(1, 1), stride=(1, 1), dilation=(1, 1)):
    ho, wo = _unfold_input(x.shape, kernel, stride, dilation)
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    s = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (n, c, kh, kw, ho, wo),
                                              (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw),
                                              writeable=False)
    return windows.reshape(n, c, kh * kw, ho, wo)  # a copy: the windows overlap


def _vjp_unfold(E, ctx, g):
    return (E.fold(g, size=tuple(ctx.shapes[0][-2:]), **ctx.attrs),)


def _fold(E, g, size=(1, 1), kernel=(1, 1), stride=(1, 1), dilation=(1, 1)):
    """col2im, unfold's adjoint: (N, C, kh * kw, Ho, Wo) to (N, C, H, W) with H, W = `size`, each window
    added back where unfold took it from (overlaps add up)."""
    specs = _fold_input(tuple(E.shape(g)), size, kernel, stride, dilation)
    n, c, _, ho, wo = E.shape(g)
    shape = (n, c) + tuple(size)
    total = None
    for offset, spec in enumerate(specs):
        part = E.reshape(E.index(g, spec=(_WHOLE_AXIS, _WHOLE_AXIS, ("slice", offset, offset + 1, None))),
                         shape=(n, c, ho, wo))
        part = E.index_add(part, spec=spec, shape=shape)
        total = part if total is None else E.add(total, part)
    return total


def _fused_fold(g, size=(1, 1), kernel=(1, 1), stride=(1, 1), dilation=(1, 1)):
    specs = _fold_input(g.shape, size, kernel, stride, dilation)
    out = np.zeros(g.shape[:2] + tuple(size), dtype=g.dtype)
    for offset, spec in enumerate(specs):
        out[build_index(spec, ())] += g[:, :, offset]
    return out


def _vjp_fold(E, ctx, g):
    attrs = {k: v for k, v in ctx.attrs.items() if k != "size"}
    return (E.unfold(g, **attrs),)


def _unfold_samples(rng, dtype):
    # Small kernels: each sample compiles a kernel per backend in the generic tests (a function per offset).
    return [Sample((_u(rng, (2, 3, 4, 5), dtype),), {"kernel": (2, 2), "stride": (1, 1), "dilation": (1, 1)}),
            Sample((_u(rng, (1, 2, 6, 6), dtype),), {"kernel": (2, 1), "stride": (2, 3), "dilation": (2, 1)},
                   note="strided, dilated")]


def _fold_samples(rng, dtype):
    return [Sample((_u(rng, (2, 3, 4, 3, 4), dtype),),
                   {"size": (4, 5), "kernel": (2, 2), "stride": (1, 1), "dilation": (1, 1)}),
            Sample((_u(rng, (1, 2, 2, 2, 2), dtype),),
                   {"size": (6, 6), "kernel": (2, 1), "stride": (2, 3), "dilation": (2, 1)},
                   note="strided, dilated: gaps and overlaps")]


def _pad_samples(rng, dtype):
    return [Sample((_u(rng, (2, 3), dtype),), {"pad": (2, 1), "mode": "constant", "value": 0.5}),
            Sample((_u(rng, (1, 3, 4), dtype),), {"pad": (-1, 2, 1, 0), "mode": "constant", "value": 0.0},
                   note="crop"),
            Sample((_u(rng, (2, 4), dtype),), {"pad": (2, 3), "mode": "reflect", "value": 0.0}),
            Sample((_u(rng, (1, 3, 4), dtype),), {"pad": (1, 2, 2, 1), "mode": "replicate", "value": 0.0}),
            Sample((_u(rng, (2, 3, 4), dtype),), {"pad": (1, 3, 2, 0), "mode": "circular", "value": 0.0})]


def _roll(E, x, shifts=(), dims=None):
    shape = E.shape(x)
    if dims is None:  # the flattened tensor, rolled, in its shape again
        flat = E.reshape(x, shape=(int(np.prod(shape)),))
        return E.reshape(_roll(E, flat, shifts=tuple(shifts), dims=(0,)), shape=shape)
    if len(shifts) != len(dims):
        raise ShapeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    for shift, dim in zip(shifts, dims):
        axis = normalize_axes(dim, len(shape))[0]
        n = shape[axis]
        k = shift % n if n else 0
        if k:
            x = E.concat(E.index(x, spec=axis_slice_spec(len(shape), axis, n - k, n)),
                         E.index(x, spec=axis_slice_spec(len(shape), axis, 0, n - k)), axis=axis)
    return x


def _repeat(E, x, repeats=()):
    shape = E.shape(x)
    if len(repeats) < len(shape):
        raise ShapeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    shape = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    # Each dimension of size n becomes (r, n): a broadcast along the new axis, then merged.
    spread = tuple(v for n in shape for v in (1, n))
    wide = tuple(v for r, n in zip(repeats, shape) for v in (r, n))
    out = tuple(r * n for r, n in zip(repeats, shape))
    return E.reshape(E.broadcast_to(E.reshape(x, shape=spread), wide), shape=out)


def _index_select(E, x, index, axis=0):
    if len(E.shape(index)) > 1:
        raise IndexingError("index_select(): Index is supposed to be a vector")
    spec = array_on_axis_spec(axis)
    return E.index(x, index, spec=spec)


def _index_add_along(E, x, index, source, axis=0, alpha=1.0):
    """x with source's slices added at positions `index` along `axis` (repeats accumulate)."""
    if len(E.shape(index)) > 1:
        raise IndexingError("index_add_(): Index is supposed to be a vector")
    x_shape = tuple(E.shape(x))
    axis = normalize_axes((axis,), len(x_shape))[0] if x_shape else 0  # a negative axis counts from the end
    expected = tuple(math.prod(E.shape(index)) if d == axis else n for d, n in enumerate(x_shape))
    if tuple(E.shape(source)) != expected:
        raise ShapeError(f"index_add_(): source of shape {list(E.shape(source))} does not fit: expected "
                         f"{list(expected)} (self's shape with dimension {axis} as long as the index)")
    spec = array_on_axis_spec(axis)
    added = E.index_add(source if alpha == 1 else E.mul(source, alpha), index, spec=spec, shape=tuple(E.shape(x)))
    return E.add(x, added)


def _index_add_samples(rng, dtype):
    return [Sample((_u(rng, (4, 3), dtype), np.array([2, 0, 2], np.int64), _u(rng, (3, 3), dtype)),
                   {"axis": 0, "alpha": 1.0}, note="a repeated row"),
            Sample((_u(rng, (2, 5), dtype), np.array([4, 1], np.int64), _u(rng, (2, 2), dtype)),
                   {"axis": 1, "alpha": -0.5})]


def _scatter(E, x, index, src, axis=0):
    # Where index points, src's value (for repeated targets PyTorch leaves the winner unspecified;
    # here they add up), elsewhere x's: the gradient of x is zero at the written places.
    arrays, spec = _along_axis(E, x, index, axis, "scatter")
    src = _fitting_src(E, x, index, src, axis)
    shape = tuple(E.shape(x))
    hits = E.index_add(np.ones(tuple(E.shape(index)), np.int64), *arrays, spec=spec, shape=shape)
    return E.where(E.gt(hits, 0), E.index_add(src, *arrays, spec=spec, shape=shape), x)


def _scatter_samples(rng, dtype):
    index = np.array([[3, 0, 1], [1, 2, 0]], np.int64)
    return [Sample((_u(rng, (2, 4), dtype), index, _u(rng, (2, 3), dtype)), {"axis": 1}),
            Sample((_u(rng, (3, 4), dtype), np.array([[2, 0, 1, 1]], np.int64), _u(rng, (2, 5), dtype)),
                   {"axis": 0}),
            Sample((_u(rng, (3, 4), dtype), np.zeros((0, 4), np.int64), _u(rng, (2, 4), dtype)), {"axis": 0},
                   note="empty index")]


def _scan(E, x, axis, combine, identity):
    """Inclusive scan of `combine` along `axis` in ceil(log2 n) rounds (Hillis and Steele): round k
    combines each element with the one 2**k before it (`identity` before the start).  Every round is
    elementwise, so the scan fuses and vectorises, and its gradient is the same rounds transposed."""
    shape = tuple(E.shape(x))
    axis = normalize_axes((axis,), len(shape))[0] if shape else 0
    if not shape:
        return combine(x, np.asarray(identity, E.dtype(x)))
    n, shift = shape[axis], 1
    while shift < n:
        head = np.full(tuple(shift if d == axis else m for d, m in enumerate(shape)), identity, E.dtype(x))
        body = E.index(x, spec=axis_slice_spec(len(shape), axis, None, n - shift))
        x = combine(x, E.concat(head, body, axis=axis))
        shift *= 2
    return x


def _cumsum(E, x, axis=0):
    return _scan(E, x, axis, E.add, 0)


def _cumprod(E, x, axis=0):
    return _scan(E, x, axis, E.mul, 1)


def _scan_samples(rng, dtype):
    # 3 and 4 rounds, along the last axis and the first; few samples, as each round is several nodes.
    return [Sample((_u(rng, (2, 5), dtype),), {"axis": -1}), Sample((_u(rng, (9, 2), dtype),), {"axis": 0}),
            Sample((_u(rng, (), dtype),), {"axis": 0})]


def _prod(E, x, axes=None, keepdims=False):
    """The product over `axes` by halving: a tree of elementwise products, exact where x holds zeros
    (unlike a gradient of out / x) and with log2(n) levels of rounding."""
    shape = tuple(E.shape(x))
    reduced = sorted(normalize_axes(axes, len(shape)))
    for axis in reduced:
        n = shape[axis]
        if n == 0:  # the empty product is 1; x stays in the graph (its gradient is empty)
            x = E.add(E.sum(x, axes=(axis,), keepdims=True), 1)
        while n > 1:
            if n % 2:
                pad = np.ones(tuple(1 if d == axis else m for d, m in enumerate(shape)), E.dtype(x))
                x, n = E.concat(x, pad, axis=axis), n + 1
            half = n // 2
            x = E.mul(E.index(x, spec=axis_slice_spec(len(shape), axis, None, half)),
                      E.index(x, spec=axis_slice_spec(len(shape), axis, half, None)))
            n = half
        shape = tuple(1 if d == axis else m for d, m in enumerate(shape))
    out_shape = shape if keepdims else tuple(m for d, m in enumerate(shape) if d not in reduced)
    return E.reshape(x, shape=out_shape) if tuple(E.shape(x)) != out_shape else x


def _prod_samples(rng, dtype):
    with_zero = _u(rng, (3, 4), dtype)
    with_zero[1, 2] = 0
    return [Sample((_u(rng, (3, 5), dtype),), {"axes": (1,), "keepdims": False}),
            Sample((_u(rng, (2, 3), dtype),), {"axes": None, "keepdims": False}),
            Sample((with_zero,), {"axes": (0,), "keepdims": True}, note="a zero")]


def _prod_name(shapes, axes=None, keepdims=False, **_):
    """ProdBackward0 for the product of all elements, ProdBackward1 along a dimension (PyTorch's overloads)."""
    return "ProdBackward0" if axes is None else "ProdBackward1"


def _frac(E, x):
    return E.sub(x, E.trunc(x))


def _round_decimals(E, x, decimals=0):
    # PyTorch's way: round half to even at the scaled value, then scale back.
    if decimals >= 0:
        return E.div(E.round(E.mul(x, 10.0 ** decimals)), 10.0 ** decimals)
    return E.mul(E.round(E.div(x, 10.0 ** -decimals)), 10.0 ** -decimals)


def _round_decimals_samples(rng, dtype):
    x = np.asarray(rng.integers(-300, 300, size=(3, 4)) / 100 + 0.0023, dtype=dtype)
    return [Sample((x,), {"decimals": 1}), Sample((x * 100,), {"decimals": -1})]


def _xlogy(E, x, y):
    # 0 where x is 0, unless y is NaN (PyTorch's rule, which keeps 0 * log(0) out of entropies).  The
    # selection only where log(y) is not finite, so that d/dx is log(y) at x = 0 too, as PyTorch's is.
    log_y = E.log(y)
    odd = E.logical_not(E.lt(E.abs(log_y), math.inf))
    return E.where(E.logical_and(E.logical_and(E.eq(x, 0.0), E.eq(y, y)), odd), 0.0, E.mul(x, log_y))


def _vjp_xlogy(E, ctx, g):
    # PyTorch's derivatives, which are those of x * log(y) even where x is 0 (d/dx = log(y) there too).
    x, y = ctx.args
    return (E.mul(g, E.log(y)) if ctx.needs[0] else None, E.mul(g, E.div(x, y)) if ctx.needs[1] else None)


def _xlogy_samples(rng, dtype):
    x = np.where(rng.uniform(size=(3, 4)) < 0.3, 0.0, _u(rng, (3, 4), dtype)).astype(dtype)
    return [Sample((x, _pos(rng, (3, 4), dtype)), note="zeros in x"),
            Sample((_u(rng, (4,), dtype), _pos(rng, (3, 4), dtype)), note="broadcast")]


def _lerp(E, start, end, weight):
    diff = E.sub(end, start)
    # Two forms, each exact at its end of the interval (PyTorch's choice by |weight| < 0.5).
    low = E.add(start, E.mul(weight, diff))
    high = E.sub(end, E.mul(diff, E.sub(1.0, weight)))
    if isinstance(weight, (int, float)):
        return low if abs(weight) < 0.5 else high
    return E.where(E.lt(E.abs(weight), 0.5), low, high)


def _vjp_lerp(E, ctx, g):
    # The derivatives of start + weight * (end - start), whichever form computed the value.
    start, end, weight = ctx.args
    rest = 1.0 - weight if isinstance(weight, (int, float)) else E.sub(1.0, weight)
    return (E.mul(g, rest) if ctx.needs[0] else None, E.mul(g, weight) if ctx.needs[1] else None,
            E.mul(g, E.sub(end, start)) if len(ctx.needs) > 2 and ctx.needs[2] else None)


def _lerp_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype), _u(rng, (3, 4), dtype), _u(rng, (3, 4), dtype, 0.0, 1.0)),
                   note="tensor weight"),
            Sample((_u(rng, (3, 4), dtype), _u(rng, (4,), dtype), np.asarray(0.75, dtype)), note="0-d weight")]


def _addcmul(E, x, a, b, value=1.0):
    return E.add(x, E.mul(E.mul(a, b), value) if value != 1 else E.mul(a, b))


def _addcdiv(E, x, a, b, value=1.0):
    return E.add(x, E.mul(E.div(a, b), value) if value != 1 else E.div(a, b))


def _addc_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype), _u(rng, (3, 4), dtype), _away_from_zero(rng, (4,), dtype)),
                   {"value": 0.5}),
            Sample((_u(rng, (4,), dtype), _u(rng, (3, 1), dtype), _away_from_zero(rng, (3, 4), dtype)),
                   {"value": 1.0})]


def _nan_to_num(E, x, nan=0.0, posinf=None, neginf=None):
    info = np.finfo(E.dtype(x))
    out = E.where(E.ne(x, x), nan, x)
    out = E.where(E.eq(x, math.inf), float(info.max) if posinf is None else posinf, out)
    return E.where(E.eq(x, -math.inf), float(info.min) if neginf is None else neginf, out)


def _nan_to_num_samples(rng, dtype):
    x = _u(rng, (3, 4), dtype)
    x.flat[[1, 5, 9]] = [np.nan, np.inf, -np.inf]
    # Replacing infinities by the dtype's extremes leaves no room for finite differences: no gradient check.
    return [Sample((x,), {"nan": 0.0, "posinf": None, "neginf": None}, grad=()),
            Sample((x,), {"nan": 1.5, "posinf": 9.0, "neginf": -9.0})]


def _masked_fill(E, x, mask, value=0.0):
    return E.where(mask, value, x)


#: From this magnitude on every float64 (and float32) is a whole number: the quotient is its own truncation.
_ALL_WHOLE = 2.0 ** 52


def _trunc_divide(E, x, y):
    if E.dtype(x).kind != "f":
        # Integers: the floor quotient, one step toward zero where the division was inexact and the signs differ.
        q = E.floor_divide(x, y)
        differ = E.logical_and(E.ne(E.remainder(x, y), 0), E.ne(E.lt(x, 0), E.lt(y, 0)))
        return E.where(differ, E.add(q, 1), q)
    # Floats: the rounded quotient truncated, as PyTorch's trunc(x / y); inf and nan pass through.
    q = E.div(x, y)
    whole = E.mul(E.sign(q), E.floor_divide(E.abs(q), 1.0))
    return E.where(E.lt(E.abs(q), _ALL_WHOLE), whole, q)


def _trunc_divide_samples(rng, dtype):
    x = _u(rng, (3, 4), dtype, -3.7, 3.7)
    return [Sample((x, _u(rng, (3, 4), dtype, 1.1, 1.4)), note="3x4 / 3x4"),
            Sample((x, -_u(rng, (4,), dtype, 1.1, 1.4)), note="3x4 / 4, negative divisors")]


def _roll_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype),), {"shifts": (1,), "dims": None}),
            Sample((_u(rng, (3, 4), dtype),), {"shifts": (1, -5), "dims": (0, 1)}),
            Sample((_u(rng, (2, 3, 4), dtype),), {"shifts": (2,), "dims": (-1,)})]


def _repeat_samples(rng, dtype):
    return [Sample((_u(rng, (2, 3), dtype),), {"repeats": (2, 1)}),
            Sample((_u(rng, (3,), dtype),), {"repeats": (2, 1, 2)}),
            Sample((_u(rng, (2, 1, 3), dtype),), {"repeats": (1, 4, 1)})]


def _index_select_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype), np.array([2, 0, 2], np.int64)), {"axis": 0}),
            Sample((_u(rng, (3, 4), dtype), np.array([3, 1], np.int64)), {"axis": 1}),
            Sample((_u(rng, (2, 3, 4), dtype), np.array([1], np.int64)), {"axis": 2})]


def _along_axis(E, x, index, axis: int, op: str) -> tuple:
    """The integer arrays that pick, for every position of `index`, x's element at index[pos] along `axis`
    and at pos along every other axis (PyTorch's gather/scatter addressing), and their spec."""
    x_shape, shape = E.shape(x), E.shape(index)
    if len(shape) != len(x_shape):
        raise IndexingError(f"{op}(): Index tensor must have the same number of dimensions as input tensor")
    for d, (n, m) in enumerate(zip(shape, x_shape)):
        if d != axis and n > m:
            raise IndexingError(f"Size does not match at dimension {d} expected index {list(shape)} to be "
                                f"no larger than self {list(x_shape)} apart from dimension {axis}")
    # Full-shaped positions (not broadcastable ones): the kernel lowering indexes with arrays of one shape.
    arrays = [index if d == axis else
              np.ascontiguousarray(np.broadcast_to(
                  np.arange(n, dtype=np.int64).reshape([n if k == d else 1 for k in range(len(shape))]), shape))
              for d, n in enumerate(shape)]
    return arrays, (("array",),) * len(shape)


def _gather(E, x, index, axis=0):
    arrays, spec = _along_axis(E, x, index, axis, "gather")
    return E.index(x, *arrays, spec=spec)


def _fitting_src(E, x, index, src, axis):
    """src's leading block of index's shape (the part that scatter reads), with PyTorch's check of the shapes."""
    i_shape, s_shape = tuple(E.shape(index)), tuple(E.shape(src))
    if len(s_shape) != len(i_shape) or any(i > n for i, n in zip(i_shape, s_shape)):
        raise IndexingError(f"Expected index {list(i_shape)} to be smaller than self {list(E.shape(x))} apart "
                            f"from dimension {axis} and to be smaller size than src {list(s_shape)}")
    if s_shape != i_shape:
        src = E.index(src, spec=tuple(("slice", None, n, None) for n in i_shape))
    return src


def _scatter_add(E, x, index, src, axis=0):
    arrays, spec = _along_axis(E, x, index, axis, "scatter_add")
    src = _fitting_src(E, x, index, src, axis)
    return E.add(x, E.index_add(src, *arrays, spec=spec, shape=tuple(E.shape(x))))


def _addmm(E, x, a, b, beta=1.0, alpha=1.0):
    product = E.matmul(a, b)
    if alpha != 1:
        product = E.mul(product, alpha)
    if beta == 0:  # PyTorch ignores the input's values then (a nan in it does not spread), its gradient is 0
        return E.add(E.where(np.zeros((), bool), x, 0.0), product)
    return E.add(x if beta == 1 else E.mul(x, beta), product)


def _addmm_samples(rng, dtype):
    return [Sample((_u(rng, (2, 4), dtype), _u(rng, (2, 3), dtype), _u(rng, (3, 4), dtype)),
                   {"beta": 1.0, "alpha": 1.0}),
            Sample((_u(rng, (4,), dtype), _u(rng, (2, 3), dtype), _u(rng, (3, 4), dtype)),
                   {"beta": 0.5, "alpha": -2.0}),
            Sample((_u(rng, (2, 2, 2), dtype), _u(rng, (2, 2, 3), dtype), _u(rng, (2, 3, 2), dtype)),
                   {"beta": 0.0, "alpha": 1.5}, note="batched (baddbmm)")]


def _diag_embed(E, x, offset=0):
    n = E.shape(x)[-1]
    m = n + abs(offset)
    rows = np.arange(n, dtype=np.int64) + max(-offset, 0)
    cols = np.arange(n, dtype=np.int64) + max(offset, 0)
    return E.index_add(x, rows, cols, spec=(("ellipsis",), ("array",), ("array",)),
                       shape=tuple(E.shape(x)[:-1]) + (m, m))


def _diag_embed_samples(rng, dtype):
    return [Sample((_u(rng, (3,), dtype),), {"offset": 0}), Sample((_u(rng, (2, 3), dtype),), {"offset": -1})]


def _gather_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype), np.array([[3, 0], [1, 1], [2, 3]], np.int64)), {"axis": 1}),
            Sample((_u(rng, (3, 4), dtype), np.array([[2, 0, 1, 2], [0, 0, 2, 1]], np.int64)), {"axis": 0}),
            Sample((_u(rng, (3, 4), dtype), np.zeros((0, 4), np.int64)), {"axis": 0}, note="empty index")]


def _scatter_add_samples(rng, dtype):
    index = np.array([[3, 0, 3], [1, 1, 2]], np.int64)  # repeated targets accumulate
    return [Sample((_u(rng, (2, 4), dtype), index, _u(rng, (2, 3), dtype)), {"axis": 1}),
            Sample((_u(rng, (3, 4), dtype), np.array([[2, 0, 2, 1]], np.int64), _u(rng, (2, 5), dtype)),
                   {"axis": 0}),
            Sample((_u(rng, (3, 4), dtype), np.zeros((0, 4), np.int64), _u(rng, (2, 4), dtype)), {"axis": 0},
                   note="empty index")]


def _masked_fill_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype), rng.uniform(size=(3, 4)) < 0.5), {"value": 0.5}),
            Sample((_u(rng, (3, 4), dtype), rng.uniform(size=(4,)) < 0.5), {"value": -2.0})]


# Activations and losses of nn.functional (PyTorch's formulas and tie conventions).

def _silu(E, x):
    return E.mul(x, E.sigmoid(x))


def _elu(E, x, alpha=1.0, scale=1.0, input_scale=1.0):
    # expm1 keeps small negative inputs accurate; the gradient at 0 is the negative side's, as PyTorch's.
    negative = E.mul(E.expm1(E.mul(x, input_scale)), alpha * scale)
    return E.where(E.gt(x, 0.0), E.mul(x, scale), negative)


def _vjp_elu(E, ctx, g):
    # A rule of its own: the decomposition's gradient would multiply the unselected branch's
    # exp(x) (inf for large x) by zero.
    (x,) = ctx.args
    alpha, scale, input_scale = ctx.attrs["alpha"], ctx.attrs["scale"], ctx.attrs["input_scale"]
    negative = E.mul(E.exp(E.mul(x, input_scale)), alpha * scale * input_scale)
    return (E.mul(g, E.where(E.gt(x, 0.0), scale, negative)),)


def _leaky_relu(E, x, negative_slope=0.01):
    return E.where(E.gt(x, 0.0), x, E.mul(x, negative_slope))


def _hardtanh(E, x, min_val=-1.0, max_val=1.0):
    # The gradient is 1 strictly inside (min_val, max_val): at a bound the constant branch is taken.
    return E.where(E.le(x, min_val), min_val, E.where(E.ge(x, max_val), max_val, x))


def _hardsigmoid(E, x):
    return E.where(E.le(x, -3.0), 0.0, E.where(E.ge(x, 3.0), 1.0, E.add(E.div(x, 6.0), 0.5)))


def _gelu_tanh(E, x):
    inner = E.mul(E.add(x, E.mul(E.mul(E.mul(x, x), x), 0.044715)), math.sqrt(2.0 / math.pi))
    return E.mul(E.mul(x, 0.5), E.add(E.tanh(inner), 1.0))


def _gelu(E, x):
    return E.mul(E.mul(x, 0.5), E.add(E.erf(E.mul(x, math.sqrt(0.5))), 1.0))


def _logsigmoid(E, x):
    return E.sub(E.minimum(x, 0.0), E.log1p(E.exp(E.neg(E.abs(x)))))


def _vjp_logsigmoid(E, ctx, g):
    (x,) = ctx.args
    return (E.mul(g, E.sigmoid(E.neg(x))),)  # 1/2 at 0, where min(x, 0) has a kink


def _mish(E, x):
    return E.mul(x, E.tanh(_softplus(E, x)))


def _smooth_l1_loss(E, x, t, reduction="mean", beta=1.0):
    d = E.abs(E.sub(x, t))
    if beta == 0:  # PyTorch's l1 loss: the quadratic branch would divide by zero
        return _reduce(E, d, reduction)
    return _reduce(E, E.where(E.lt(d, beta), E.div(E.mul(E.mul(d, d), 0.5), beta), E.sub(d, 0.5 * beta)), reduction)


def _smooth_l1_slope(E, d, attrs):
    beta = attrs["beta"]
    if beta == 0:
        return E.sign(d)
    return E.where(E.lt(E.abs(d), beta), E.div(d, beta), E.sign(d))


def _huber_slope(E, d, attrs):
    delta = attrs["delta"]
    return E.where(E.lt(E.abs(d), delta), d, E.mul(E.sign(d), delta))


def _huber_loss(E, x, t, reduction="mean", delta=1.0):
    d = E.abs(E.sub(x, t))
    return _reduce(E, E.where(E.lt(d, delta), E.mul(E.mul(d, d), 0.5), E.mul(E.sub(d, 0.5 * delta), delta)),
                   reduction)


def _var(E, x, axes=None, correction=1, keepdims=False):
    n = _numel(E.shape(x), axes)
    d = E.sub(x, _mean(E, x, axes=axes, keepdims=True))
    # n - correction <= 0 divides by zero (inf or NaN), as PyTorch does after its warning.
    return E.div(E.sum(E.mul(d, d), axes=axes, keepdims=keepdims), float(max(n - correction, 0)))


def _std(E, x, axes=None, correction=1, keepdims=False):
    return E.sqrt(_var(E, x, axes=axes, correction=correction, keepdims=keepdims))


def _vjp_std(E, ctx, g):
    # PyTorch's rule: 0 where the standard deviation is 0 (one element, or all equal), where the
    # chain through sqrt would give 0 / 0.
    (x,) = ctx.args
    shape, (axes, correction, keepdims) = ctx.shapes[0], (ctx.attrs[k] for k in ("axes", "correction", "keepdims"))
    out = ctx.out
    per_var = E.where(E.eq(out, 0.0), 0.0, E.div(g, E.mul(out, 2.0)))
    d = E.sub(x, _mean(E, x, axes=axes, keepdims=True))
    dof = float(max(_numel(shape, axes) - correction, 0))
    return (E.div(E.mul(E.unreduce(per_var, shape, axes, keepdims), d), dof / 2.0),)


def _activation_samples(**attrs):
    def samples(rng, dtype):
        return [Sample((_away_from_zero(rng, (3, 4), dtype, 0.05, 4.0),), dict(attrs)),
                Sample((_away_from_zero(rng, (7,), dtype, 0.05, 4.0),), dict(attrs))]
    return samples


def _loss_pair_samples(**attrs):
    def samples(rng, dtype):
        out = []
        for reduction in ("mean", "sum", "none"):
            x = _u(rng, (3, 4), dtype, -3, 3)
            # The differences stay away from the branch points |d| = 1 and 0.5, where only one side is smooth.
            t = x + np.asarray(rng.choice([-1.0, 1.0], (3, 4)) * rng.choice([0.2, 0.7, 2.0], (3, 4)), dtype)
            out.append(Sample((x, t), {"reduction": reduction, **attrs}, note=reduction))
        return out
    return samples


def _var_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype),), {"axes": None, "correction": 1, "keepdims": False}),
            Sample((_u(rng, (3, 4), dtype),), {"axes": (1,), "correction": 0, "keepdims": True}),
            Sample((_u(rng, (2, 3, 4), dtype),), {"axes": (0, 2), "correction": 1, "keepdims": False})]


def _matrix_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype),), {}), Sample((_u(rng, (4, 4), dtype),), {}),
            Sample((_u(rng, (5, 2), dtype),), {})]


def _diagonal_samples(rng, dtype):
    out = []
    for shape, offset, dim1, dim2 in [((4, 4), 0, 0, 1), ((3, 5), 1, 0, 1), ((5, 3), -2, 0, 1),
                                      ((2, 3, 4), 0, 1, 2), ((2, 3, 4), -1, 2, 0), ((3, 3), 5, 0, 1)]:
        out.append(Sample((_u(rng, shape, dtype),), {"offset": offset, "dim1": dim1, "dim2": dim2},
                          note=f"shape={shape} offset={offset} dims=({dim1}, {dim2})"))
    return out


def _triangle_samples(rng, dtype):
    return [Sample((_u(rng, (4, 4), dtype),), {"diagonal": 0}), Sample((_u(rng, (3, 5), dtype),), {"diagonal": 1}),
            Sample((_u(rng, (2, 4, 3), dtype),), {"diagonal": -1})]


def _loss_samples(kind):
    def samples(rng, dtype):
        out = []
        for reduction in ("mean", "sum", "none"):
            if kind == "mse":
                args = (_u(rng, (3, 4), dtype), _u(rng, (3, 4), dtype))
            elif kind == "bce":
                args = (rng.uniform(0.1, 0.9, (5,)).astype(dtype), rng.uniform(0, 1, (5,)).astype(dtype))
            elif kind == "bce_logits":
                args = (_u(rng, (2, 3), dtype, -3, 3), rng.uniform(0, 1, (2, 3)).astype(dtype))
            out.append(Sample(args, {"reduction": reduction}, note=reduction))
        return out
    return samples


def _nll_samples(rng, dtype):
    """Class indices (some ignored) with class weights, for (N, C), (C,) and (N, C, d1, d2) input."""
    out = []
    for reduction in ("mean", "sum", "none"):
        weight = rng.uniform(0.5, 2.0, 3).astype(dtype)
        out.append(Sample((_u(rng, (4, 3), dtype), np.array([0, 2, -100, 1]), weight),
                          {"reduction": reduction, "ignore_index": -100}, grad=(0,), note=reduction))
        out.append(Sample((_u(rng, (2, 3, 2, 2), dtype), np.array([[[0, 2], [1, 1]], [[2, 7], [0, 2]]]), weight),
                          {"reduction": reduction, "ignore_index": 7}, grad=(0,), note=f"2d-{reduction}"))
    out.append(Sample((_u(rng, (3,), dtype), np.array(1), np.ones(3, dtype)),
                      {"reduction": "mean", "ignore_index": -100}, grad=(0,), note="one sample"))
    return out


def _axis_samples(rng, dtype):
    return [Sample((_u(rng, (3, 4), dtype, -3, 3),), {"axis": 1}),
            Sample((_u(rng, (2, 3, 4), dtype, -3, 3),), {"axis": 0}),
            Sample((_u(rng, (5,), dtype, -3, 3),), {"axis": -1})]


def _norm_samples(rng, dtype):
    out = []
    for p, axes, keepdims in [(2.0, None, False), (2.0, (1,), True), (1.0, (0,), False),
                              (math.inf, None, False), (3.0, (1,), False), (-math.inf, (1,), False),
                              (0.5, (0, 1), True)]:  # (p = 0, a count, has no gradient path to compare)
        out.append(Sample((_away_from_zero(rng, (3, 4), dtype),), {"p": p, "axes": axes, "keepdims": keepdims},
                          note=f"p={p} axes={axes}"))
    ties = np.asarray([[2.0, -2.0, 1.0], [0.5, -3.0, 3.0]], dtype)  # (zero rows: tests/test_linalg_and_losses.py)
    for p in (math.inf, -math.inf):
        out.append(Sample((ties,), {"p": p, "axes": (1,), "keepdims": False}, note=f"p={p}, ties"))
    return out


def _np_reduce(loss, reduction):
    # add.reduce is what ndarray.mean does inside, without its Python-level wrapper.
    if reduction == "mean":
        if not loss.size:
            return np.asarray(np.nan, loss.dtype)
        return np.asarray(np.add.reduce(loss, axis=None, dtype=loss.dtype) / loss.size)
    if reduction == "sum":
        return np.asarray(np.add.reduce(loss, axis=None, dtype=loss.dtype))
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _fused_bce_logits(z, t, reduction="mean"):
    # exp(-|z|) <= 1: nothing here can overflow.
    loss = (1 - t) * z + np.log1p(np.exp(-np.abs(z))) + np.maximum(-z, 0)
    return _np_reduce(loss.astype(z.dtype, copy=False), reduction)


def _fused_mse(x, t, reduction="mean"):
    d = x - t
    return _np_reduce(d * d, reduction)


def _fused_mean(x, axes=None, keepdims=False):
    ax = normalize_axes(axes, x.ndim) if axes is not None else None
    with np.errstate(invalid="ignore", divide="ignore"):
        if _numel(x.shape, axes) == 0:
            # 0 / 0 is NaN, as in PyTorch, without numpy's "Mean of empty slice" warning.
            total = np.add.reduce(x, axis=ax, keepdims=keepdims, dtype=x.dtype)
            return np.asarray(total / np.zeros((), x.dtype))
        return np.asarray(np.mean(x, axis=ax, keepdims=keepdims, dtype=x.dtype))


def _make_composites() -> dict[str, Composite]:
    c = [
        Composite("mean", arity=1, attrs=("axes", "keepdims"), decompose=_mean, node_name=_mean_name,
                  samples=_reduce_samples, vjp=_vjp_mean, promote="keep", doc="mean over axes", fused=_fused_mean),
        Composite("softplus", arity=1, attrs=("beta", "threshold"), decompose=_softplus, node_name="SoftplusBackward0",
                  samples=lambda rng, dt: [Sample((_u(rng, (3, 4), dt, -5, 5),), {"beta": 1.0, "threshold": 20.0}),
                                   Sample((_u(rng, (6,), dt, -5, 5),), {"beta": 2.0, "threshold": 3.0})],
                  vjp=_vjp_softplus, saves=(0,), promote="float", doc="log(1 + exp(beta x)) / beta"),
        Composite("logsumexp", arity=1, attrs=("axes", "keepdims"), decompose=_logsumexp,
                  node_name="LogsumexpBackward0",
                  samples=lambda rng, dt: [s for s in _reduce_samples(rng, dt) if s.attrs["axes"] is not None],
                  vjp=_vjp_logsumexp, saves=(0, "out"), promote="float", doc="log(sum(exp(x)))"),
        Composite("softmax", arity=1, attrs=("axis",), decompose=_softmax, node_name="SoftmaxBackward0",
                  samples=_axis_samples, vjp=_vjp_softmax, saves=("out",), promote="float", doc="exp(x) / sum(exp(x))"),
        Composite("log_softmax", arity=1, attrs=("axis",), decompose=_log_softmax, node_name="LogSoftmaxBackward0",
                  samples=_axis_samples, vjp=_vjp_log_softmax, saves=("out",), promote="float", doc="x - logsumexp(x)"),
        Composite("norm", arity=1, attrs=("p", "axes", "keepdims"), decompose=_norm,
                  node_name="LinalgVectorNormBackward0", samples=_norm_samples, vjp=_vjp_norm, saves=(0, "out"),
                  promote="keep", doc="vector p-norm over axes"),
        Composite("rsqrt", arity=1, attrs=(), decompose=_rsqrt, node_name="RsqrtBackward0",
                  samples=_unary_samples(_pos), vjp=_vjp_rsqrt, saves=("out",), promote="float",
                  doc="1 / sqrt(x) (NaN below 0, as PyTorch)"),
        Composite("clamp", arity=1, attrs=("min", "max"), decompose=_clamp, node_name="ClampBackward1",
                  samples=lambda rng, dt: [Sample((_away_from_zero(rng, (3, 4), dt, 0.6, 2.0),),
                                          {"min": -1.0, "max": 1.0}),
                                   Sample((_u(rng, (5,), dt),), {"min": None, "max": 0.5})],
                  vjp=_vjp_clamp, saves=(0,), promote="keep", doc="min(max(x, min), max)"),
        Composite("clamp_tensor", arity=3, attrs=(), decompose=_clamp_tensor, node_name="ClampBackward0",
                  samples=_clamp_tensor_samples, promote="same", doc="min(max(x, lo), hi) with tensor bounds"),
        Composite("mse_loss", arity=2, attrs=("reduction",), decompose=_mse_loss, node_name="MseLossBackward0",
                  samples=_loss_samples("mse"), vjp=_vjp_mse, saves=(0, 1), doc="mean squared error", fused=_fused_mse),
        Composite("binary_cross_entropy", arity=2, attrs=("reduction",), decompose=_bce,
                  node_name="BinaryCrossEntropyBackward0", samples=_loss_samples("bce"), vjp=_vjp_bce, saves=(0, 1),
                  doc="BCE on probabilities"),
        Composite("binary_cross_entropy_with_logits", arity=2, attrs=("reduction",), decompose=_bce_logits,
                  node_name="BinaryCrossEntropyWithLogitsBackward0", samples=_loss_samples("bce_logits"),
                  vjp=_vjp_bce_logits, saves=(0, 1), doc="BCE on logits, stable for large |z|",
                  fused=_fused_bce_logits),
        Composite("nll_loss", arity=3, attrs=("reduction", "ignore_index"), decompose=_nll_loss,
                  node_name=_nll_node_name, samples=_nll_samples, vjp=_vjp_nll, saves=(1, 2), promote="keep",
                  doc="negative log-likelihood of class indices, with class weights; input (C,), (N, C) "
                      "or (N, C, d1, ...)",
                  grad_args=(0,)),
        Composite("diagonal", arity=1, attrs=("offset", "dim1", "dim2"), decompose=_diagonal,
                  node_name="DiagonalBackward0", samples=_diagonal_samples, promote="keep",
                  doc="the diagonal of two dimensions, as the last dimension"),
        Composite("trace", arity=1, attrs=(), decompose=_trace, node_name="TraceBackward0", samples=_matrix_samples,
                  promote="keep", doc="sum of a matrix's diagonal"),
        Composite("tril", arity=1, attrs=("diagonal",), decompose=_triangle(True), node_name="TrilBackward0",
                  samples=_triangle_samples, promote="keep", doc="zeros above a diagonal of the last two dimensions"),
        Composite("triu", arity=1, attrs=("diagonal",), decompose=_triangle(False), node_name="TriuBackward0",
                  samples=_triangle_samples, promote="keep", doc="zeros below a diagonal of the last two dimensions"),
        Composite("roll", arity=1, attrs=("shifts", "dims"), decompose=_roll, node_name="RollBackward0",
                  samples=_roll_samples, promote="keep", doc="elements shifted along dimensions, wrapping around"),
        Composite("repeat", arity=1, attrs=("repeats",), decompose=_repeat, node_name="RepeatBackward0",
                  samples=_repeat_samples, promote="keep", doc="the tensor tiled `repeats` times along each dimension"),
        Composite("pad", arity=1, attrs=("pad", "mode", "value"), decompose=_pad, node_name=_pad_node_name,
                  samples=_pad_samples, promote="keep",
                  doc="constant, reflect, replicate or circular padding of the last dimensions"),
        Composite("unfold", arity=1, attrs=("kernel", "stride", "dilation"), decompose=_unfold,
                  node_name="Im2ColBackward0", samples=_unfold_samples, promote="keep", vjp=_vjp_unfold,
                  fused=_fused_unfold,
                  doc="im2col: (N, C, H, W) to (N, C, kh kw, Ho, Wo), every window of the kernel's size"),
        Composite("fold", arity=1, attrs=("size", "kernel", "stride", "dilation"), decompose=_fold,
                  node_name="Col2ImBackward0", samples=_fold_samples, promote="keep", vjp=_vjp_fold, fused=_fused_fold,
                  doc="col2im, unfold's adjoint: the windows added back into an (N, C, H, W) tensor"),
        Composite("index_select", arity=2, attrs=("axis",), decompose=_index_select, node_name="IndexSelectBackward0",
                  samples=_index_select_samples, promote="keep", grad_args=(0,),
                  doc="entries `index` along one dimension"),
        Composite("trunc_divide", arity=2, attrs=(), decompose=_trunc_divide, node_name="DivBackward2",
                  samples=_trunc_divide_samples, vjp=_vjp_floor_divide,
                  doc="the quotient rounded toward zero (div's rounding_mode='trunc')"),
        Composite("addmm", arity=3, attrs=("beta", "alpha"), decompose=_addmm, node_name="AddmmBackward0",
                  samples=_addmm_samples, doc="beta * x + alpha * (a @ b) (addmm; baddbmm for batches)"),
        Composite("diag_embed", arity=1, attrs=("offset",), decompose=_diag_embed, node_name="DiagEmbedBackward0",
                  samples=_diag_embed_samples, promote="keep",
                  doc="the last dimension laid on a diagonal of a new square pair of dimensions"),
        Composite("gather", arity=2, attrs=("axis",), decompose=_gather, node_name="GatherBackward0",
                  samples=_gather_samples, promote="keep", grad_args=(0,),
                  doc="x's element at index[pos] along `axis`, at pos along the others"),
        Composite("scatter_add", arity=3, attrs=("axis",), decompose=_scatter_add, node_name="ScatterAddBackward0",
                  samples=_scatter_add_samples, promote="keep", grad_args=(0, 2),
                  doc="x with src[pos] added at index[pos] along `axis` (repeats accumulate)"),
        Composite("scatter", arity=3, attrs=("axis",), decompose=_scatter, node_name="ScatterBackward0",
                  samples=_scatter_samples, promote="keep", grad_args=(0, 2),
                  doc="x with src[pos] written at index[pos] along `axis`"),
        Composite("index_add_along", arity=3, attrs=("axis", "alpha"), decompose=_index_add_along,
                  node_name="IndexAddBackward0", samples=_index_add_samples, promote="keep", grad_args=(0, 2),
                  doc="x with alpha * source added at `index` along `axis`"),
        Composite("cumsum", arity=1, attrs=("axis",), decompose=_cumsum, node_name="CumsumBackward0",
                  samples=_scan_samples, promote="keep", doc="running sum along `axis` (a log-depth scan)"),
        Composite("cumprod", arity=1, attrs=("axis",), decompose=_cumprod, node_name="CumprodBackward0",
                  samples=_scan_samples, promote="keep", doc="running product along `axis` (a log-depth scan)"),
        Composite("prod", arity=1, attrs=("axes", "keepdims"), decompose=_prod, node_name=_prod_name,
                  samples=_prod_samples, promote="keep", doc="product over axes (None: all), by halving"),
        Composite("frac", arity=1, attrs=(), decompose=_frac, node_name="FracBackward0",
                  samples=_unary_samples(_off_integers), promote="float", doc="x - trunc(x)"),
        Composite("round_decimals", arity=1, attrs=("decimals",), decompose=_round_decimals,
                  node_name="RoundBackward1", samples=_round_decimals_samples, promote="float",
                  doc="round half to even at `decimals` decimal places"),
        Composite("xlogy", arity=2, attrs=(), decompose=_xlogy, node_name="XlogyBackward0", samples=_xlogy_samples,
                  promote="float", vjp=_vjp_xlogy, saves=(0, 1), doc="x * log(y), 0 where x is 0 (unless y is NaN)"),
        Composite("lerp", arity=3, attrs=(), decompose=_lerp, node_name="LerpBackward1", samples=_lerp_samples,
                  promote="float", vjp=_vjp_lerp, saves=(0, 1, 2), doc="start + weight * (end - start)"),
        Composite("addcmul", arity=3, attrs=("value",), decompose=_addcmul, node_name="AddcmulBackward0",
                  samples=_addc_samples, doc="x + value * a * b"),
        Composite("addcdiv", arity=3, attrs=("value",), decompose=_addcdiv, node_name="AddcdivBackward0",
                  samples=_addc_samples, promote="float", doc="x + value * a / b"),
        Composite("nan_to_num", arity=1, attrs=("nan", "posinf", "neginf"), decompose=_nan_to_num,
                  node_name="NanToNumBackward0", samples=_nan_to_num_samples, promote="keep",
                  doc="NaN and infinities replaced by finite numbers"),
        Composite("masked_fill", arity=2, attrs=("value",), decompose=_masked_fill, node_name="MaskedFillBackward0",
                  samples=_masked_fill_samples, promote="keep", grad_args=(0,), doc="`value` where the mask is true"),
        Composite("silu", arity=1, attrs=(), decompose=_silu, node_name="SiluBackward0", samples=_activation_samples(),
                  promote="float", doc="x * sigmoid(x)"),
        Composite("elu", arity=1, attrs=("alpha", "scale", "input_scale"), decompose=_elu, node_name="EluBackward0",
                  samples=_activation_samples(alpha=1.0, scale=1.0, input_scale=1.0), vjp=_vjp_elu, saves=(0,),
                  promote="float", doc="x above 0, alpha (exp(x) - 1) below, times scale (selu is one)"),
        Composite("leaky_relu", arity=1, attrs=("negative_slope",), decompose=_leaky_relu,
                  node_name="LeakyReluBackward0", samples=_activation_samples(negative_slope=0.1), promote="keep",
                  doc="x above 0, slope * x below"),
        Composite("hardtanh", arity=1, attrs=("min_val", "max_val"), decompose=_hardtanh,
                  node_name="HardtanhBackward0", samples=_activation_samples(min_val=-1.0, max_val=2.0),
                  promote="keep", doc="x clamped to [min_val, max_val]"),
        Composite("hardsigmoid", arity=1, attrs=(), decompose=_hardsigmoid, node_name="HardsigmoidBackward0",
                  samples=_activation_samples(), promote="float", doc="x / 6 + 1/2 clamped to [0, 1]"),
        Composite("gelu", arity=1, attrs=(), decompose=_gelu, node_name="GeluBackward0", samples=_activation_samples(),
                  promote="float", doc="GELU: x * Phi(x), with erf"),
        Composite("gelu_tanh", arity=1, attrs=(), decompose=_gelu_tanh, node_name="GeluBackward0",
                  samples=_activation_samples(), promote="float", doc="GELU, tanh approximation"),
        Composite("logsigmoid", arity=1, attrs=(), decompose=_logsigmoid, node_name="LogSigmoidBackward0",
                  samples=_activation_samples(), vjp=_vjp_logsigmoid, saves=(0,), promote="float",
                  doc="log(sigmoid(x)), without overflow"),
        Composite("mish", arity=1, attrs=(), decompose=_mish, node_name="MishBackward0", samples=_activation_samples(),
                  promote="float", doc="x * tanh(softplus(x))"),
        Composite("smooth_l1_loss", arity=2, attrs=("reduction", "beta"), decompose=_smooth_l1_loss,
                  node_name="SmoothL1LossBackward0", samples=_loss_pair_samples(beta=1.0),
                  vjp=_vjp_loss_of_difference(_smooth_l1_slope), saves=(0, 1),
                  doc="0.5 d^2 / beta below beta, |d| - beta / 2 above"),
        Composite("huber_loss", arity=2, attrs=("reduction", "delta"), decompose=_huber_loss,
                  node_name="HuberLossBackward0", samples=_loss_pair_samples(delta=0.5),
                  vjp=_vjp_loss_of_difference(_huber_slope), saves=(0, 1),
                  doc="0.5 d^2 below delta, delta (|d| - delta / 2) above"),
        Composite("var", arity=1, attrs=("axes", "correction", "keepdims"), decompose=_var, node_name="VarBackward0",
                  samples=_var_samples, promote="float", doc="variance with `correction` (1: unbiased)"),
        Composite("std", arity=1, attrs=("axes", "correction", "keepdims"), decompose=_std, node_name="StdBackward0",
                  samples=_var_samples, vjp=_vjp_std, saves=(0, "out"), promote="float",
                  doc="standard deviation: sqrt of var"),
        Composite("stack", arity=None, attrs=("axis",), decompose=_stack, node_name="StackBackward0",
                  samples=lambda rng, dt: [Sample((_u(rng, (2, 3), dt), _u(rng, (2, 3), dt)), {"axis": 1})],
                  promote="same", doc="stack along a new axis"),
    ]
    return {e.name: e for e in c}


COMPOSITES: dict[str, Composite] = _make_composites()

#: Everything an Emitter can apply, by name.
TABLE: dict[str, Op | Composite] = {**OPS, **COMPOSITES}


def register_op(op: Op) -> None:
    """Add an entry whose definition needs the graph machinery built on this module (``custom_vjp``,
    which runs, differentiates and batches the sub-graphs it holds: ``ir/custom_vjp.py``).

    The package ``tracegrad.ir`` registers it on import, before anything reads the table.
    """
    if op.name in TABLE:
        raise RuntimeError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    TABLE[op.name] = op
    _install_op_methods({op.name: op})

_install_op_methods(TABLE)


def _install_numpy_fast_paths() -> None:
    # Eager backward calls these methods in its inner loop; binding each
    # primitive's impl directly skips the name look-up of `apply`.  Callers run
    # inside np.errstate already (the engine, Composite.impl), so the per-call
    # errstate of quiet impls is skipped.
    for name, entry in OPS.items():
        impl = getattr(entry.impl, "raw", entry.impl)

        def method(self, *args, _impl=impl, **attrs):
            out = _impl(*args, **attrs)
            return out if type(out) is np.ndarray else np.asarray(out)
        method.__name__ = name
        setattr(NumpyEmitter, name, method)


_install_numpy_fast_paths()
NUMPY = NumpyEmitter()
