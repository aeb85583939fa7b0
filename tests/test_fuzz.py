"""Property-based fuzzing: random straight-line programs over the op table.

Hypothesis draws small programs: a few float64 inputs of random,
broadcast-compatible shapes, then a sequence of steps, each one entry of
``tracegrad.ir.ops.TABLE`` called through ``tracegrad._dispatch.apply_op``.
Every float value that no later step reads is folded into the scalar output
by a fixed random projection ``sum(v * R)``, so that each element of each
result reaches the output and its gradient.  For every program:

* eager mode (``tg.tensor(..., requires_grad=True)``, ``.backward()``)
  reproduces the numpy implementations' value, and its gradients match
  central finite differences of them;
* ``tg.value_and_grad(..., backend="interpreter")`` (the symbolic adjoint)
  agrees with eager mode to ~1e-9;
* in ``test_numba_agrees_with_interpreter`` the numba kernel agrees with the
  interpreter to ~1e-9, also when called again with strided inputs.

The ops are read from the table, so a new entry gets fuzzed without an edit
here: its samples tell the kind of each operand (float, bool condition,
integer index) and the interval its float operands live in; attributes named
``axes``, ``keepdims``, ``axis``, ``perm``, ``shape`` and ``spec`` are drawn to
fit the operand's shape, and any other attribute takes the values the
entry's samples use.  Comparisons and logical ops (no gradient, bool result)
build the conditions of ``where``.  ``test_every_entry_is_fuzzed_or_excluded``
fails when an entry is neither drawable nor listed, with its reason, in
``NOT_FUZZED``.  A few call patterns that hit known bugs are left out of
generation (``_known_bug``, ``_known_kernel_bug``, empty now); each comment
has a one-line repro, and the exclusion should go when the bug is fixed.

Gradients only mean something where the program is smooth, so the generator
evaluates each step with numpy as it draws it and keeps it only if the
result is finite, moderate and free of kinks, ties and jumps near the point
(a second difference along a random direction).  A step that fails, with an
operand outside the interval of the entry's samples, is retried on that
operand squashed into the interval by ``lo + (hi - lo) * sigmoid(x)`` (table
ops themselves); otherwise it is dropped.  A program whose finite
differences still disagree between two step sizes is rejected, not failed:
the reference is not differentiable there.

The default (CI) profile is derandomized and small::

    pytest tests/test_fuzz.py

``TRACEGRAD_FUZZ=long`` runs about ten times as many programs, drawn afresh
on each run, and shrinks numba failures too (slow)::

    TRACEGRAD_FUZZ=long pytest tests/test_fuzz.py

After the module, a summary (programs run, rejected, steps per op, numba
graphs that fell back to the interpreter) is printed to the terminal.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from numeric import numeric_grad

import tracegrad as tg
from tracegrad._dispatch import apply_op
from tracegrad.ir.ops import TABLE, build_index, normalize_axes

# --------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------

_PROFILE = os.environ.get("TRACEGRAD_FUZZ", "ci") or "ci"
if _PROFILE not in ("ci", "long"):
    raise ValueError(f"TRACEGRAD_FUZZ={_PROFILE!r}: expected 'ci' or 'long'")

# Kernel compiles make single examples slow, and the generator drops steps
# it cannot place, which hypothesis may take for heavy filtering.
_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("tracegrad-fuzz-ci", deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=_QUIET)
settings.register_profile("tracegrad-fuzz-long", deadline=None, derandomize=False, print_blob=True,
                          suppress_health_check=_QUIET)
_BASE = settings.get_profile(f"tracegrad-fuzz-{_PROFILE}")

# Programs per parametrized case: per op for the reference test (45 ops at the
# time of writing), per shard of ops for the numba test, which pays a kernel
# compile for each program.
# Kernel compiles dominate the suite's time: CI draws few kernel programs and more executor ones (no compile).
EXAMPLES = {"ci": {"reference": 10, "numba": 1, "executor": 6},
            "long": {"reference": 100, "numba": 40, "executor": 100}}[_PROFILE]
MAX_STEPS = {"ci": 8, "long": 12}[_PROFILE]

# --------------------------------------------------------------------------
# Limits of the generator
# --------------------------------------------------------------------------

MAX_INPUTS = 4
MAX_INPUT_NUMEL = 48         # finite differences cost two program runs per input element
BOUND = 100.0                # largest |value| a step may produce
PROBE = 1e-4                 # step of the smoothness probe, far above the finite-difference step
ATTEMPTS = 4                 # tries at placing one drawn op before dropping the step

# Entries that are never drawn, and why.  The classification below must
# account for every other entry (test_every_entry_is_fuzzed_or_excluded).
NOT_FUZZED = {
    "index_select": "its index operand is an integer vector whose range depends on the other operand's shape",
    "detach": "stops the gradient on purpose, so finite differences of the value disagree by design",
    "argmax": "integer result and no gradient",
    "argsort": "integer result and no gradient (sort, topk and median, built on it, are tested in test_tensor_api)",
    "cast": "its samples convert to float32 or int64: a float32 round trip breaks the 1e-9 agreement",
    "custom_vjp": "its attributes are sub-graphs built for one input type (autograd.Function tests cover it)",
}

def _class_targets(gen, logp_shape, attrs):
    """nll_loss's target: a class index (or ignore_index) per row; random integers would be out of range."""
    if len(logp_shape) not in (1, 2) or 0 in logp_shape:
        return None
    n_classes = logp_shape[-1]
    rows = logp_shape[:1] if len(logp_shape) == 2 else ()
    target = gen.rng.integers(0, n_classes, size=rows)
    ignore = attrs.get("ignore_index")
    if ignore is not None and rows and gen.draw(st.booleans()):
        target[gen.draw(st.integers(0, rows[0] - 1))] = ignore
    return np.asarray(target, dtype=np.int64)


def _class_weights(gen, logp_shape, attrs):
    """nll_loss's class weights: one positive constant per class (not differentiated, as in PyTorch)."""
    return np.asarray(gen.rng.uniform(0.5, 2.0, size=logp_shape[-1]))


def _along_axis_index(gen, x_shape, attrs):
    """gather's and scatter_add's index: no larger than x off the axis, its values within x's extent along it."""
    axis = attrs.get("axis", 0)
    if not x_shape or 0 in x_shape or not -len(x_shape) <= axis < len(x_shape):
        return None
    shape = tuple(gen.draw(st.integers(1, n)) for n in x_shape)
    return np.asarray(gen.rng.integers(0, x_shape[axis], size=shape), dtype=np.int64)


def _positions_along_axis(gen, x_shape, attrs):
    """index_add's index: one position per slice of the source (drawn with x's shape), repeats allowed."""
    axis = attrs.get("axis", 0)
    if not x_shape or 0 in x_shape or not -len(x_shape) <= axis < len(x_shape):
        return None
    n = x_shape[axis]
    return np.asarray(gen.rng.integers(0, n, size=n), dtype=np.int64)


# Operands drawn as constants of their own shape, by (op, position): not a partner of the anchor's shape.
FIXED_OPERANDS = {("nll_loss", 2): _class_weights}

# Integer operands other than the index arrays that come with a `spec` attribute.
INT_OPERANDS = {"nll_loss": _class_targets, "gather": _along_axis_index, "scatter_add": _along_axis_index,
                "scatter": _along_axis_index, "index_add_along": _positions_along_axis}


def _known_bug(name, args, attrs) -> bool:
    """Calls kept out of generation: invalid ones, and any that hit a known bug until it is fixed.

    A bug case carries a one-line repro, so that the failure the fuzzer found stays easy to rerun.
    """
    # Not a bug: a broadcast to fewer dimensions is invalid (PyTorch's expand refuses it too).
    if name == "broadcast" and len(attrs["shape"]) < np.ndim(args[0]):
        return True
    if getattr(TABLE[name], "kind", "") == "linalg":
        # Not a bug: singular or nearly singular matrices raise (as in PyTorch), and the gradients of
        # det and slogdet there need the SVD (documented in docs/compat.md).
        a = np.asarray(args[0])
        return a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.size == 0 or not np.all(np.linalg.cond(a) < 1e6)
    if name in ("var", "std"):
        # Not a bug: over no more elements than `correction` the variance is 0 / 0 (NaN, as PyTorch's).
        shape = np.shape(args[0])
        try:
            axes = normalize_axes(attrs["axes"], len(shape))
        except IndexError:
            return False  # axes that do not fit: the op raises, and the generator drops the step
        return (math.prod(shape[a] for a in axes) if shape else 1) <= attrs["correction"]
    return False


def _known_kernel_bug(name, producer, attrs) -> bool:
    """Like _known_bug, for the numba backend only; `producer`: the entry that computed the first operand."""
    del name, producer, attrs  # none known at the moment
    return False


# Attributes derived from the operand's shape; all others come from samples.
SHAPE_ATTRS = ("axes", "keepdims", "axis", "perm", "shape", "spec")

# --------------------------------------------------------------------------
# What the table says about each entry
# --------------------------------------------------------------------------

_F64 = np.dtype(np.float64)


@dataclass(frozen=True)
class Domain:
    """The interval of an operand in the entry's gradient samples; gap > 0: they keep |x| >= gap."""

    lo: float
    hi: float
    gap: float = 0.0

    def contains(self, x) -> bool:
        x = np.asarray(x)
        inside = np.all((x >= self.lo) & (x <= self.hi))
        return bool(inside and (self.gap == 0.0 or np.all(np.abs(x) >= self.gap)))

    def intervals(self):
        """Sub-intervals to squash an operand into, kept off the edges the samples reach."""
        if self.gap > 0.0:
            parts = [(self.gap, self.hi), (self.lo, -self.gap)]
        else:
            parts = [(self.lo, self.hi)]
        out = []
        for lo, hi in parts:
            pad = 0.1 * (hi - lo)
            out.append((lo + pad, hi - pad))
        return out


@dataclass(frozen=True)
class Signature:
    """Operand kinds ('f' float, 'b' bool, 'i' integer) and float domains, read from an entry's samples."""

    kinds: tuple[str, ...]
    variadic: bool
    domains: tuple[Domain | None, ...]
    sample_attrs: tuple[dict, ...]

    def kind(self, pos):
        return self.kinds[min(pos, len(self.kinds) - 1)]

    def domain(self, pos):
        return self.domains[min(pos, len(self.domains) - 1)]


def _kind_of(a) -> str:
    if isinstance(a, (np.ndarray, np.generic)):  # a 0-d sample may be a numpy scalar
        return {"f": "f", "b": "b", "i": "i", "u": "i"}.get(a.dtype.kind, "?")
    return "?"


def _signature(entry) -> Signature:
    # Several draws, so that a gap around zero is the samples' intent, not chance.
    samples = [s for seed in range(8) for s in entry.samples(np.random.default_rng(seed), _F64)]
    width = max(len(s.args) for s in samples)
    kinds = []
    for p in range(width):
        seen = {_kind_of(s.args[p]) for s in samples if len(s.args) > p}
        kinds.append(seen.pop() if len(seen) == 1 else "?")
    domains = []
    for p in range(width):
        vals = []
        for s in samples:
            if len(s.args) <= p or kinds[p] != "f" or (s.grad is not None and p not in s.grad):
                continue
            vals.append(np.ravel(s.args[p]))
        if not vals:
            domains.append(None)
            continue
        v = np.concatenate(vals)
        lo, hi = float(v.min()), float(v.max())
        gap = float(np.abs(v).min()) if lo < 0 < hi else 0.0
        domains.append(Domain(lo, hi, gap if gap >= 0.1 else 0.0))
    return Signature(tuple(kinds), entry.arity is None, tuple(domains),
                     tuple(dict(s.attrs) for s in samples))


def _why_not_fuzzable(name) -> str | None:
    """None when the generator can draw `name`, else what it lacks."""
    entry = TABLE[name]
    sig = _signature(entry)
    if "?" in sig.kinds or sig.kinds[0] == "i":
        return "operands of mixed or unknown kinds"
    if "f" not in sig.kinds:
        return "no float operand"
    if "i" in sig.kinds and "spec" not in entry.attrs and name not in INT_OPERANDS:
        return "integer operands with no generator"
    for a in entry.attrs:
        if a not in SHAPE_ATTRS and not any(a in s for s in sig.sample_attrs):
            return f"attribute {a!r} has no generator and no sample value"
    return None


def _classify():
    values, conditions = [], []
    for name in sorted(TABLE):
        entry = TABLE[name]
        if name in NOT_FUZZED:
            continue
        if not entry.differentiable:
            if entry.promote == "compare":
                conditions.append(name)
            continue
        if _why_not_fuzzable(name) is None:
            values.append(name)
    return values, conditions


VALUE_OPS, CONDITION_OPS = _classify()
SIGNATURES = {name: _signature(TABLE[name]) for name in VALUE_OPS + CONDITION_OPS}
# Comparisons of floats make conditions; logical ops combine them.
COMPARISONS = [n for n in CONDITION_OPS if SIGNATURES[n].kinds[0] == "f" and TABLE[n].arity == 2]
LOGICAL_UNARY = [n for n in CONDITION_OPS if SIGNATURES[n].kinds[0] == "b" and TABLE[n].arity == 1]
LOGICAL_BINARY = [n for n in CONDITION_OPS if SIGNATURES[n].kinds[0] == "b" and TABLE[n].arity == 2]

# --------------------------------------------------------------------------
# Programs
# --------------------------------------------------------------------------
# An operand is ("x", j) input j, ("v", k) the value of step k, ("c", number)
# a Python float, or ("a", array) a constant array (indices, or class weights).


class Program:
    """Float64 inputs, steps over them, and the projections that make one scalar output."""

    def __init__(self):
        self.inputs = []
        self.steps = []          # (entry name, operands, attrs)
        self.projections = {}    # ("x", j) / ("v", k) -> R

    def run(self, xs, apply, project):
        vals = []

        def get(ref):
            tag, v = ref
            return xs[v] if tag == "x" else vals[v] if tag == "v" else v

        for name, refs, attrs in self.steps:
            vals.append(apply(name, [get(r) for r in refs], attrs))
        total = None
        for ref, r in self.projections.items():
            term = project(get(ref), r)
            total = term if total is None else total + term
        return total

    def numpy_value(self, xs) -> float:
        return float(self.run(xs, _numpy_apply, lambda v, r: np.sum(v * r)))

    def tensor_value(self, xs):
        return self.run(xs, _tensor_apply, lambda v, r: (v * tg.tensor(r)).sum())

    def function(self):
        def program(*xs):
            return self.tensor_value(xs)
        return program

    def __repr__(self):
        # Reads as a repro: paste it after the imports of this file.
        def arr(a):
            return f"np.array({a.tolist()!r})"

        def ref(r):
            tag, v = r
            return f"x{v}" if tag == "x" else f"v{v}" if tag == "v" else repr(v) if tag == "c" else arr(v)

        args = ", ".join(f"x{j}" for j in range(len(self.inputs)))
        lines = [f"def f({args}):"]
        for k, (name, refs, attrs) in enumerate(self.steps):
            ops = ", ".join(ref(r) for r in refs) + ("," if len(refs) == 1 else "")
            lines.append(f"    v{k} = apply_op(TABLE[{name!r}], ({ops}), {_source(attrs)})")
        terms = [f"({ref(r)} * tg.tensor({arr(p)})).sum()" for r, p in self.projections.items()]
        lines.append("    return " + " + ".join(terms))
        lines.append("xs = [" + ", ".join(arr(x) for x in self.inputs) + "]")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):
        # hypothesis prints falsifying examples with this; keep the repro form
        printer.text(repr(self))


def _source(value) -> str:
    """repr, except that infinities read back as math.inf (norm's p)."""
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        items = [_source(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(value)


def _numpy_apply(name, args, attrs):
    with np.errstate(all="ignore"):
        return np.asarray(TABLE[name].impl(*args, **attrs))


def _tensor_apply(name, args, attrs):
    return apply_op(TABLE[name], tuple(args), attrs)


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------

class _Reject(Exception):
    """This attempt at a step does not work out; roll it back."""


class _Gen:
    """Builds a Program step by step, evaluating each step with numpy as it goes.

    Structural choices are hypothesis draws (so that failures shrink); array
    values, projections and probe directions come from a numpy generator
    seeded by a draw, because drawing floats one by one would be slow and
    hypothesis favours values (0, ties) that make gradients undefined.
    """

    def __init__(self, draw, seed, kernel=False):
        self.draw = draw
        self.kernel = kernel  # the program will be compiled by numba
        self.rng = np.random.default_rng(seed)
        self.prog = Program()
        self.values = []     # numpy value of each step
        self.floats = []     # refs of float values (inputs and steps), oldest first
        self.bools = []      # refs of bool values

    # -- small draws ---------------------------------------------------
    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def coin(self):
        return self.draw(st.booleans())

    def num(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def value(self, ref):
        tag, v = ref
        return self.prog.inputs[v] if tag == "x" else self.values[v] if tag == "v" else v

    # -- transactions --------------------------------------------------
    def mark(self):
        return (len(self.prog.inputs), len(self.prog.steps), len(self.floats), len(self.bools))

    def rollback(self, m):
        n_in, n_steps, n_f, n_b = m
        del self.prog.inputs[n_in:], self.prog.steps[n_steps:], self.values[n_steps:]
        del self.floats[n_f:], self.bools[n_b:]

    # -- shapes and inputs ---------------------------------------------
    def universe(self):
        rank = self.num(0, 3)
        return tuple(self.num(1, (5, 4, 3)[rank - 1]) for _ in range(rank))

    def broadcast_variant(self, shape):
        """A shape that broadcasts against `shape`: leading axes dropped, some axes set to 1."""
        drop = self.num(0, len(shape))
        return tuple(1 if self.coin() else n for n in shape[drop:])

    def related_shape(self, shape):
        """A shape for a fresh operand next to one of `shape`."""
        how = self.pick(["same", "broadcast", "contract", "resize", "scalar"])
        if how == "same":
            return shape
        if how == "broadcast":
            return self.broadcast_variant(shape)
        if how == "scalar" or not shape:
            return ()
        if how == "contract":  # the other operand of a contraction over the last axis
            k = self.num(1, 4)
            return self.pick([(shape[-1],), (shape[-1], k), shape[:-2] + (shape[-1], k)])
        d = self.num(0, len(shape) - 1)
        return shape[:d] + (self.num(1, 4),) + shape[d + 1:]

    def fresh_or_pool(self, shape):
        """A fresh input of `shape`, or a pool value once the inputs are at their limits."""
        try:
            return self.new_input(shape)
        except _Reject:
            return self.floats[-1 - self.num(0, len(self.floats) - 1)]

    def new_input(self, shape):
        numel = sum(x.size for x in self.prog.inputs) + math.prod(shape)
        if len(self.prog.inputs) >= MAX_INPUTS or numel > MAX_INPUT_NUMEL:
            raise _Reject
        self.prog.inputs.append(self.rng.uniform(-2.0, 2.0, size=shape))
        ref = ("x", len(self.prog.inputs) - 1)
        self.floats.append(ref)
        return ref

    def emit(self, name, refs, attrs, out):
        self.prog.steps.append((name, tuple(refs), attrs))
        self.values.append(out)
        ref = ("v", len(self.values) - 1)
        (self.bools if out.dtype == np.bool_ else self.floats).append(ref)
        return ref

    # -- operands ------------------------------------------------------
    def anchor(self):
        """The first float operand: a recent value (shrinks towards the newest), sometimes a fresh input."""
        how = self.num(0, 5)
        if how == 0:
            return self.fresh_or_pool(self.broadcast_variant(self.value(self.floats[0]).shape))
        if how <= 3:
            return self.floats[-1]
        return self.floats[-1 - self.num(0, len(self.floats) - 1)]

    def partner(self, shape, domain):
        """Another float operand for an op whose first float operand has `shape`."""
        how = self.num(0, 3)
        if how == 0:
            return self.floats[-1 - self.num(0, len(self.floats) - 1)]
        if how == 1:
            same = [r for r in self.floats if np.shape(self.value(r)) == shape]
            if same:
                return same[-1 - self.num(0, len(same) - 1)]
        if how == 3 and domain is not None:
            lo, hi = self.pick(domain.intervals())
            return ("c", round(lo + (hi - lo) * self.num(0, 8) / 8, 3))
        return self.fresh_or_pool(self.related_shape(shape))

    def condition(self, shape):
        """A bool operand: a reused condition, or new comparisons (maybe negated or combined)."""
        if self.bools and self.coin():
            return self.bools[-1 - self.num(0, len(self.bools) - 1)]
        cond = self.comparison()
        if LOGICAL_BINARY and self.num(0, 2) == 0:
            cond = self.place(self.pick(LOGICAL_BINARY), [cond, self.comparison()], {})
        if LOGICAL_UNARY and self.num(0, 3) == 0:
            cond = self.place(self.pick(LOGICAL_UNARY), [cond], {})
        return cond

    def comparison(self):
        a = self.floats[-1 - self.num(0, len(self.floats) - 1)]
        b = self.partner(np.shape(self.value(a)), Domain(-2.0, 2.0))
        return self.place(self.pick(COMPARISONS), [a, b], {})

    # -- attributes ----------------------------------------------------
    def axes(self, ndim):
        how = self.num(0, 3)
        if how == 0:
            return None
        if ndim == 0:
            return self.pick([(0,), (-1,), ()])
        picked = [a for a in range(ndim) if self.coin()]
        if how == 3 and not picked:
            picked = [self.num(0, ndim - 1)]
        return tuple(a - ndim if self.coin() else a for a in picked)

    def new_shape(self, shape):
        """A reshape of `shape` (same size) or a shape it broadcasts to."""
        if self.coin():
            left, dims = math.prod(shape), []
            for _ in range(self.num(0, 3)):
                divisors = [d for d in range(1, left + 1) if left % d == 0]
                dims.append(self.pick(divisors))
                left //= dims[-1]
            if left == 1 and self.coin():
                return tuple(dims)
            return tuple(dims) + (left,)
        lead = tuple(self.num(1, 3) for _ in range(self.num(0, 1)))
        return lead + tuple(self.num(1, 3) if n == 1 else n for n in shape)

    def index_item(self, n, arrays, adv_len):
        how = self.pick(["slice", "int", "array"])
        if how == "int":
            return ("int", self.num(-n, n - 1))
        if how == "array":
            arrays.append(np.asarray(self.rng.integers(-n, n, size=adv_len), dtype=np.int64))
            return ("array",)
        step = self.pick([None, 1, 2, -1])
        start = self.pick([None, 0, 1, -1])
        stop = self.pick([None, -1, n, n + 2, 1])
        return ("slice", start, stop, step)

    def spec(self, shape):
        """A numpy index for `shape`: ints, slices, None, Ellipsis and integer arrays (one length).

        Items index a prefix of the axes and, after an Ellipsis, a suffix.
        """
        arrays, items = [], []
        adv_len = self.num(1, 3)
        n = len(shape)
        head = n if self.coin() else self.num(0, n)  # all axes explicit: the mixes that matter
        tail = self.num(0, n - head) if self.coin() else None
        for d in range(head):
            items.append(self.index_item(shape[d], arrays, adv_len))
        if tail is not None:
            items.append(("ellipsis",))
            for d in range(n - tail, n):
                items.append(self.index_item(shape[d], arrays, adv_len))
        for _ in range(self.num(0, 1)):
            items.insert(self.num(0, len(items)), ("none",))
        return tuple(items), arrays

    def scatter(self, shape):
        """spec and shape for index_add: zeros(new shape)[spec] has `shape`."""
        items, out, arrays = [], [], []
        for n in shape:
            if self.num(0, 3) == 0:  # an axis the index drops
                k = self.num(1, 3)
                items.append(("int", self.num(-k, k - 1)))
                out.append(k)
            how = self.pick(["full", "strided", "array"] if not arrays else ["full", "strided"])
            if how == "full":
                items.append(("slice", None, None, None))
                out.append(n)
            elif how == "strided":
                step, start = self.num(1, 2), self.num(0, 1)
                items.append(("slice", start, start + step * n, step))
                out.append(start + step * n + self.num(0, 1))
            else:
                size = self.num(1, 4)
                arrays.append(np.asarray(self.rng.integers(0, size, size=n), dtype=np.int64))
                items.append(("array",))
                out.append(size)
        # numpy moves advanced axes to the front when an int and an array are apart
        if np.zeros(out)[build_index(items, arrays)].shape != tuple(shape):
            raise _Reject
        return tuple(items), tuple(out), arrays

    def attrs(self, name, shape):
        """Attributes for entry `name` on a first float operand of `shape`, plus index arrays."""
        entry, sig = TABLE[name], SIGNATURES[name]
        base = dict(self.pick(sig.sample_attrs)) if sig.sample_attrs else {}
        attrs, arrays = {}, []
        for a in entry.attrs:
            if a == "axes":
                attrs[a] = self.axes(len(shape))
            elif a == "keepdims":
                attrs[a] = self.coin()
            elif a == "axis":
                attrs[a] = self.num(-len(shape) - 1, len(shape))
            elif a == "perm":
                attrs[a] = tuple(self.draw(st.permutations(range(len(shape)))))
            elif a == "spec" and "shape" in entry.attrs:
                attrs["spec"], attrs["shape"], arrays = self.scatter(shape)
            elif a == "spec":
                attrs[a], arrays = self.spec(shape)
            elif a == "shape":
                attrs.setdefault(a, self.new_shape(shape))
            else:
                attrs[a] = base[a]
        return attrs, arrays

    # -- placing a step --------------------------------------------------
    def evaluate(self, name, refs, attrs, nudge=None):
        """numpy result of the call (operands moved by `nudge`), or None where it is invalid."""
        args = [self.value(r) for r in refs]
        if _known_bug(name, args, attrs):
            return None
        producer = self.prog.steps[refs[0][1]][0] if refs[0][0] == "v" else None
        if self.kernel and _known_kernel_bug(name, producer, attrs):
            return None
        if nudge is not None:
            args = [a + nudge[i] if i in nudge else a for i, a in enumerate(args)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return _numpy_apply(name, args, attrs)
            except Exception:
                return None

    def smooth(self, name, refs, attrs, out):
        """Whether finite differences can be trusted through this step.

        The result must be finite and moderate, and a second difference along a
        random direction PROBE long must be small: a kink, jump or tie (or, for a
        bool result, a flip) that close to the operands would make the gradient
        meaningless or the step ill-conditioned.
        """
        numeric = out.dtype != np.bool_
        if numeric and (out.dtype.kind != "f" or out.size == 0 or not np.all(np.isfinite(out))
                        or np.max(np.abs(out)) > BOUND):
            return False
        moving = [i for i, r in enumerate(refs) if r[0] in "xv"
                  and np.asarray(self.value(r)).dtype.kind == "f"]
        if not moving:
            return True
        d = {}
        for i in moving:
            shape = np.shape(self.value(refs[i]))
            d[i] = self.rng.choice([-1.0, 1.0], size=shape) * self.rng.uniform(0.5, 1.5, size=shape) * PROBE
        up = self.evaluate(name, refs, attrs, d)
        down = self.evaluate(name, refs, attrs, {i: -v for i, v in d.items()})
        if up is None or down is None or up.shape != out.shape or down.shape != out.shape:
            return False
        if not numeric:
            return bool(np.array_equal(up, out) and np.array_equal(down, out))
        second = up + down - 2 * out
        return bool(np.all(np.isfinite(second)) and np.all(np.abs(second) <= 1e-5 * (1 + np.abs(out))))

    def place(self, name, refs, attrs):
        """Append the step if it evaluates and is smooth where it stands, else raise _Reject."""
        out = self.evaluate(name, refs, attrs)
        if out is None or not self.smooth(name, refs, attrs, out):
            raise _Reject
        return self.emit(name, refs, attrs, out)

    def squash(self, ref, interval):
        """Map `ref` smoothly into `interval`, with table ops so that every backend runs the map too."""
        lo, hi = interval
        s = self.place("sigmoid", [ref], {})
        s = self.place("mul", [s, ("c", round(hi - lo, 6))], {})
        return self.place("add", [s, ("c", round(lo, 6))], {})

    def operands(self, name):
        """Operands and attributes for one call of `name`, all built around its first float operand."""
        sig = SIGNATURES[name]
        entry = TABLE[name]
        first = sig.kinds.index("f")
        anchor = self.anchor()
        shape = np.shape(self.value(anchor))
        attrs, arrays = self.attrs(name, shape)
        if entry.arity is not None:
            n = entry.arity
        elif sig.kind(1) == "f":
            n = self.num(2, 3)      # concat, stack
        else:
            n = 1                   # the index arrays come with the spec
        refs = []
        for p in range(n):
            kind = sig.kind(p)
            if p == first:
                refs.append(anchor)
            elif (name, p) in FIXED_OPERANDS:
                refs.append(("a", FIXED_OPERANDS[name, p](self, shape, attrs)))
            elif kind == "f":
                refs.append(self.partner(shape, sig.domain(p)))
            elif kind == "b":
                refs.append(self.condition(shape))
            elif name in INT_OPERANDS:
                target = INT_OPERANDS[name](self, shape, attrs)
                if target is None:
                    raise _Reject
                refs.append(("a", target))
        refs += [("a", a) for a in arrays]
        floats = [p for p in range(len(refs)) if sig.kind(p) == "f"]
        if len(floats) == 2 and entry.arity == 2 and self.num(0, 3) == 0:
            i, j = floats
            refs[i], refs[j] = refs[j], refs[i]
        if all(refs[p][0] == "c" for p in floats):
            raise _Reject
        return refs, attrs

    def step(self, name, attempts=ATTEMPTS):
        """Append one call of `name`, or give up after `attempts` draws (counted per op)."""
        for _ in range(attempts):
            m = self.mark()
            try:
                refs, attrs = self.operands(name)
                out = self.evaluate(name, refs, attrs)
                if out is None or out.dtype.kind != "f":
                    raise _Reject
                if self.smooth(name, refs, attrs, out):
                    self.emit(name, refs, attrs, out)
                    return
                self.adapt(name, refs, attrs)
                return
            except _Reject:
                self.rollback(m)
        STATS[f"dropped {name}"] += 1

    def adapt(self, name, refs, attrs):
        """Squash the float operands that lie outside the entry's sample domain, then retry."""
        sig = SIGNATURES[name]
        refs = list(refs)
        changed = False
        for p, r in enumerate(refs):
            dom = sig.domain(p) if sig.kind(p) == "f" else None
            if dom is None or r[0] not in "xv" or dom.contains(self.value(r)):
                continue
            refs[p] = self.squash(r, self.pick(dom.intervals()))
            changed = True
        if not changed:
            raise _Reject
        self.place(name, refs, attrs)
        STATS["steps adapted"] += 1

    def finish(self):
        used = {r for _, refs, _ in self.prog.steps for r in refs if r[0] in "xv"}
        for r in self.floats:
            if r not in used:
                self.prog.projections[r] = self.rng.normal(size=np.shape(self.value(r)))
        return self.prog


@st.composite
def programs(draw, focus=(), extra=MAX_STEPS, kernel=False):
    """Programs that apply every op of `focus` (in a drawn order) among up to `extra` drawn ops."""
    gen = _Gen(draw, draw(st.integers(0, 2**32 - 1)), kernel)
    gen.new_input(gen.universe())
    names = list(focus) + [None] * draw(st.integers(0 if focus else 1, extra))
    # hypothesis favours the head of a list: start it at the focus
    k = VALUE_OPS.index(focus[0]) if focus else 0
    others = st.sampled_from(VALUE_OPS[k:] + VALUE_OPS[:k])
    for name in draw(st.permutations(names)):
        if name is None:
            gen.step(draw(others))
        else:
            gen.step(name, attempts=3 * ATTEMPTS)
    return gen.finish()


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

STATS: Counter = Counter()


def _close(actual, expected, rtol, what, scale=0.0):
    expected = np.asarray(expected)
    atol = rtol * max(1.0, float(np.max(np.abs(expected), initial=0.0)), scale)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def _eager(prog):
    leaves = [tg.tensor(x.copy(), requires_grad=True) for x in prog.inputs]
    out = prog.tensor_value(leaves)
    out.backward()
    grads = [np.zeros_like(x) if t.grad is None else t.grad.numpy() for x, t in zip(prog.inputs, leaves)]
    return out.item(), grads


def _compiled(prog, backend, **options):
    f = tg.value_and_grad(prog.function(), argnums=tuple(range(len(prog.inputs))), backend=backend, **options)
    value, grads = f(*[x.copy() for x in prog.inputs])
    return float(value), list(grads), f


def _strided(x):
    """A non-contiguous view with the values of `x`."""
    if x.ndim == 0:
        return x.copy()
    wide = np.empty(x.shape[:-1] + (2 * x.shape[-1],))
    wide[..., ::2] = x
    return wide[..., ::2]


def _check_reference(prog):
    """Eager mode against numpy and finite differences; the interpreter against eager mode."""
    value = prog.numpy_value(prog.inputs)
    scale = abs(value) + sum(float(np.sum(np.abs(r))) for r in prog.projections.values())
    fd = [numeric_grad(prog.numpy_value, prog.inputs, i) for i in range(len(prog.inputs))]
    coarse = [numeric_grad(prog.numpy_value, prog.inputs, i, eps=1e-4) for i in range(len(prog.inputs))]
    fd_scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in fd])
    smooth = all(np.allclose(a, b, rtol=1e-4, atol=1e-5 * fd_scale) for a, b in zip(fd, coarse))
    if not smooth:
        STATS["rejected: not smooth at the finite-difference scale"] += 1
    assume(smooth)

    e_value, e_grads = _eager(prog)
    _close(e_value, value, 1e-12, "eager value vs numpy", scale=scale)
    for i, (g, d) in enumerate(zip(e_grads, fd)):
        # central differences lose ~1e-10 * |sum of terms| to rounding
        _close(g, d, 1e-5, f"eager gradient of x{i} vs finite differences", scale=1e-4 * scale)

    i_value, i_grads, _ = _compiled(prog, "interpreter")
    _close(i_value, e_value, 1e-9, "interpreter value vs eager", scale=scale)
    for i, (g, e) in enumerate(zip(i_grads, e_grads)):
        assert g.shape == e.shape, f"x{i}: gradient shape {g.shape} vs {e.shape}"
        _close(g, e, 1e-9, f"interpreter gradient of x{i} vs eager")
    return i_value, i_grads


def _record(prog, test):
    STATS[f"programs: {test}"] += 1
    STATS[f"steps: {test}"] += len(prog.steps)
    for name, _, _ in prog.steps:
        STATS[f"op {name}"] += 1


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    """Print what ran (programs, rejections, steps per op) after the module, even under capture."""
    yield
    if not STATS:
        return
    lines = [f"fuzz ({_PROFILE} profile):"]
    lines += [f"  {k}: {v}" for k, v in sorted(STATS.items()) if not k.startswith(("op ", "dropped "))]
    ops = sorted((k[3:], v) for k, v in STATS.items() if k.startswith("op "))
    lines.append("  steps per op: " + ", ".join(f"{k} {v}" for k, v in ops))
    dropped = sorted((k[8:], v) for k, v in STATS.items() if k.startswith("dropped "))
    lines.append("  draws dropped per op: " + ", ".join(f"{k} {v}" for k, v in dropped))
    missing = sorted(set(VALUE_OPS + CONDITION_OPS) - {k for k, _ in ops})
    lines.append(f"  never placed: {', '.join(missing) or '-'}")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

def test_every_entry_is_fuzzed_or_excluded():
    unaccounted = {n: _why_not_fuzzable(n) for n in TABLE
                   if n not in NOT_FUZZED and n not in VALUE_OPS and n not in CONDITION_OPS}
    assert not unaccounted, f"teach the fuzzer these entries or list them in NOT_FUZZED: {unaccounted}"
    assert set(NOT_FUZZED) <= set(TABLE), "NOT_FUZZED names entries the table no longer has"
    assert {"sigmoid", "mul", "add", "where"} <= set(VALUE_OPS)   # the generator builds with these
    assert COMPARISONS and LOGICAL_UNARY and LOGICAL_BINARY


# One test per op: hypothesis spreads its draws unevenly over a long list, and
# a few hundred programs would leave some ops out.  Each program here applies
# the op at least once, among random others.
@pytest.mark.parametrize("op", VALUE_OPS)
@settings(_BASE, max_examples=EXAMPLES["reference"])
@given(data=st.data())
def test_eager_interpreter_and_finite_differences_agree(op, data):
    prog = data.draw(programs(focus=(op,)), label="program")
    _check_reference(prog)
    _record(prog, "eager/interpreter/finite differences")


# Each compiled program applies every op of one shard twice: a compile costs far more than a
# step, so the kernels had better cover many attribute draws each.
SHARDS = 5


# Shrinking compiles a kernel per candidate and can run for many minutes; in
# CI the failing program is printed as it was drawn (it is a runnable repro).
_NUMBA_PHASES = tuple(Phase) if _PROFILE == "long" else (Phase.explicit, Phase.reuse, Phase.generate)


def _compiled_program_agrees(shard, data, label, backend, **options):
    """Draw a program over one shard of the ops, compile it, and check value and gradients against the
    interpreter; returns the program, the compiled (value, gradients) and the compiled function."""
    prog = data.draw(programs(focus=VALUE_OPS[shard::SHARDS] * 2, extra=3, kernel=True), label="program")
    i_value, i_grads = _check_reference(prog)
    value, grads, f = _compiled(prog, backend, **options)
    _close(value, i_value, 1e-9, f"{label} value vs interpreter")
    for i, (g, e) in enumerate(zip(grads, i_grads)):
        assert g.shape == e.shape and g.dtype == e.dtype, f"x{i}: {g.shape} {g.dtype} vs {e.shape} {e.dtype}"
        _close(g, e, 1e-9, f"{label} gradient of x{i} vs interpreter")
    return prog, (value, grads), f


@pytest.mark.parametrize("shard", range(SHARDS))
@settings(_BASE, max_examples=EXAMPLES["executor"], phases=_NUMBA_PHASES)
@given(data=st.data())
def test_executor_agrees_with_interpreter(shard, data):
    prog, _, _ = _compiled_program_agrees(shard, data, "executor", None, tier="executor")
    _record(prog, "executor")


@pytest.mark.parametrize("shard", range(SHARDS))
@settings(_BASE, max_examples=EXAMPLES["numba"], phases=_NUMBA_PHASES)
@given(data=st.data())
def test_numba_agrees_with_interpreter(shard, data):
    prog, (n_value, n_grads), f = _compiled_program_agrees(shard, data, "numba", "numba")
    # A second call takes the cached kernel's fast path; strided inputs must give the same bits.
    again_value, again_grads = f(*[_strided(x) for x in prog.inputs])
    assert float(again_value) == n_value
    for g, h in zip(n_grads, again_grads):
        np.testing.assert_array_equal(h, g, err_msg="second call on strided inputs")
    compiled = [c for entries in getattr(f, "_cache", {}).values() for c in entries[:1]]
    if compiled and not any(c.kernel_source() for c in compiled):
        reasons = [getattr(r, "reason", "") for c in compiled for r in c._runners.values()]
        # Falling back is allowed for what codegen declines on purpose, never for its own ordering bugs.
        assert not any("read before it is computed" in r for r in reasons), reasons
        STATS["numba: ran on the interpreter (unsupported by codegen)"] += 1
    _record(prog, "numba")
