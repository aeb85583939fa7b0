"""Edge values and empty tensors on every entry of the op table, in every interpreter.

Generic like ``test_ops.py`` and ``test_backends.py``: every entry of
``TABLE``, every one of its samples, float32 and float64.

Edge values
    Each sample keeps its shapes, integer and boolean arguments (indices,
    targets, masks) and attributes; its float arrays are refilled with one
    edge pattern: zeros, negative numbers, large numbers (+-2**100), huge
    ones (3e38 / 1e308), +-inf, NaN, or all of these mixed with -0.0.  The
    forward value must equal numpy's (the entry's numpy implementation, or
    a composite's decomposition into them) with NaN and +-inf in the same
    places, in eager mode, on the interpreter backend and in numba kernels.
    Gradients have no numpy reference at these points, so the compiled
    gradients (interpreter and numba) must equal eager's, NaN included.

Empty tensors
    Each sample is also run with one of its extents set to 0 wherever the
    type rule and numpy accept that: eager forward equals numpy, the type
    rule predicts the result type, backward gives gradients of the input
    shapes (zero where the output is empty), and the interpreter agrees;
    numba runs one program covering each lowering (see empty_primitives).

Compile budget: one compiled function per (entry, dtype) computes every
sample of the entry (the program of ``test_backends.py``, but returning each
sample's output beside the loss, and taking the cotangents as arguments).
Edge patterns are new values in arrays of the same shapes, so every pattern
runs the kernel compiled for the first: about 100 kernels in all, which the
disk cache keeps.  Known divergences are listed in KNOWN with their cause.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad._dispatch import apply_op, wrap
from tracegrad.ir.ops import NUMPY, TABLE, Composite, Op, Sample
from tracegrad.ir.types import TensorType

ENTRIES = sorted(TABLE)
DTYPES = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64)}
BACKENDS = ("interpreter", "numba")

# --------------------------------------------------------------------------
# Edge patterns.  Values are cycled through each float array (see _fill).
# --------------------------------------------------------------------------
# Large is a power of two (~1.27e30, beyond 1e30) so that sums and products of
# +-large are exact in both dtypes: any summation order (numpy's pairwise sums,
# a kernel's reassociated ones) gives the same value, and a mismatch is a real
# one.  Its square overflows float32 but not float64.  Huge values are all
# positive: with both signs, whether a sum overflows to inf first or cancels
# first would depend on the summation order.
LARGE = 2.0 ** 100
HUGE = {"f32": 3e38, "f64": 1e308}
INF, NAN = math.inf, math.nan

PATTERNS = {
    "zero": lambda dt: [0.0],
    "negative": lambda dt: [-0.5, -1.25, -2.0, -3.0],
    "large": lambda dt: [LARGE, -LARGE],
    "huge": lambda dt: [HUGE[dt]],
    "inf": lambda dt: [INF, 1.5, -INF, -0.5],
    "nan": lambda dt: [NAN, 0.75, -2.0],
    "mixed": lambda dt: [0.0, -1.25, INF, NAN, -INF, LARGE, -0.0, 2.5],
}

# Tolerances for finite results.  Eager and the interpreter run the numpy
# implementations, the kernels vecmath (at most 2.5 ulp, compiler/vecmath.py
# MAX_ULP) under reassociating fast-math: a few ulps, far inside these.
RTOL = {"f64": 1e-12, "f32": 2e-6}


# --------------------------------------------------------------------------
# Samples, references, fills
# --------------------------------------------------------------------------

def _samples(name, dt):
    # One fixed seed: every test of an (entry, dtype) sees the samples its compiled function was traced with.
    return TABLE[name].samples(np.random.default_rng(11), DTYPES[dt])


def _is_data(a):
    """Arrays a program takes as inputs: floats, and booleans (conditions, masks); index arrays stay fixed."""
    return isinstance(a, np.ndarray) and a.dtype.kind in "fb"


def _is_float(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _reference(entry, args, attrs):
    """numpy's answer: the primitive's implementation, or the composite's decomposition into them."""
    with np.errstate(all="ignore"):
        if isinstance(entry, Composite):
            return np.asarray(entry.decompose(NUMPY, *args, **attrs))
        return np.asarray(entry.impl(*args, **attrs))


def _fill(a, values, slot):
    """`a` refilled with `values`, cycled; the slot-th float argument of a sample walks the cycle
    with a stride of its own, so that two arguments of m*m elements meet in every pair of values."""
    m = len(values)
    k = np.arange(a.size)
    order = (k + slot * (k // m) + slot) % m
    return np.asarray(values, dtype=a.dtype)[order].reshape(a.shape)


def _cotangent(rng, shape, dtype):
    # Positive and at most 1: a cotangent times a huge input does not overflow, and sums of such
    # products overflow (or not) in every summation order alike.  With both signs, whether a
    # gradient's sum first overflows to inf or first cancels would depend on the order the
    # kernel adds in (and FMA contraction, which skips the rounding of each product).
    return rng.uniform(0.5, 1.0, size=shape).astype(dtype)


def _differentiable(entry):
    return isinstance(entry, Composite) or entry.vjp is not None


# --------------------------------------------------------------------------
# Programs: many op applications as one compiled function
# --------------------------------------------------------------------------

class Program:
    """Cases -- (entry, sample) pairs -- as one function of their data arrays.

    ``f(variant, *data, *cotangents)`` applies each case's entry to its
    sample and returns ``(loss, outputs)`` with ``loss = sum <output,
    cotangent>`` over the float outputs, so the gradient of the loss with
    respect to a case's inputs is that case's vjp.  ``variant`` (a static
    argument) picks one of several lists of cases of the same structure: the
    same entries and data positions, other shapes, integer arguments and
    attributes (the samples as they are, and their empty versions).
    """

    def __init__(self, label, dt, variants):
        self.label, self.dt, self.variants = label, dt, variants
        cases = variants[0]
        self.slots = []  # (case, argument position) of each data input, in call order
        for i, (_, s) in enumerate(cases):
            self.slots += [(i, p) for p, a in enumerate(s.args) if _is_data(a)]
        self.float_slots = [k for k, (i, p) in enumerate(self.slots) if _is_float(cases[i][1].args[p])]
        self.float_out = [_reference(e, s.args, s.attrs).dtype.kind == "f" for e, s in cases]
        self.differentiable = (any(_differentiable(e) for e, _ in cases) and any(self.float_out)
                               and bool(self.float_slots))
        self._compiled, self._cotangents = {}, {}

    def function(self):
        variants, slots, n, float_out = self.variants, self.slots, len(self.slots), self.float_out

        def program(variant, *arrays):
            cases = variants[variant]
            args = [list(s.args) for _, s in cases]
            for (i, p), x in zip(slots, arrays[:n]):
                args[i][p] = x
            outs, loss = [], None
            for (entry, s), a, r, is_float in zip(cases, args, arrays[n:], float_out):
                out = apply_op(entry, tuple(a), s.attrs)
                outs.append(out)
                if is_float:
                    term = (out * r).sum()
                    loss = term if loss is None else loss + term
            return loss, tuple(outs)
        return program

    def compiled(self, backend):
        """The compiled program on `backend`: value_and_grad with the outputs as aux, or jit."""
        if backend not in self._compiled:
            f = self.function()
            if self.differentiable:
                argnums = tuple(1 + k for k in self.float_slots)
                self._compiled[backend] = tg.value_and_grad(f, argnums=argnums, has_aux=True, backend=backend)
            else:
                self._compiled[backend] = tg.jit(lambda *a: f(*a)[1], backend=backend)
        return self._compiled[backend]

    # -- inputs ---------------------------------------------------------
    def data(self, variant=0, pattern=None):
        """The data arrays of a variant, the float ones refilled with an edge pattern."""
        cases = self.variants[variant]
        out, slot_in_case, last = [], 0, None
        for i, p in self.slots:
            a = cases[i][1].args[p]
            slot_in_case = slot_in_case + 1 if i == last else 0
            last = i
            if pattern is not None and _is_float(a):
                a = _fill(a, PATTERNS[pattern](self.dt), slot_in_case)
            out.append(a)
        return out

    def cotangents(self, variant):
        if variant not in self._cotangents:
            rng = np.random.default_rng(5 + variant)
            self._cotangents[variant] = [_cotangent(rng, _reference(e, s.args, s.attrs).shape, DTYPES[self.dt])
                                         for e, s in self.variants[variant]]
        return self._cotangents[variant]

    def args_with(self, variant, data):
        """Per case: its argument tuple with `data` put in."""
        args = [list(s.args) for _, s in self.variants[variant]]
        for (i, p), x in zip(self.slots, data):
            args[i][p] = x
        return [tuple(a) for a in args]

    # -- runs -----------------------------------------------------------
    def run_compiled(self, backend, variant, data):
        """(outputs, gradients by float slot or None) of the compiled program."""
        f = self.compiled(backend)
        if self.differentiable:
            (_, outs), grads = f(variant, *data, *self.cotangents(variant))
            return [np.asarray(o) for o in outs], [np.asarray(g) for g in grads]
        return [np.asarray(o) for o in f(variant, *data, *self.cotangents(variant))], None

    def run_eager(self, variant, data):
        """(outputs, gradients by float slot) in eager mode, each backward seeded with its cotangent."""
        cots = self.cotangents(variant)
        outs, grads = [], {}
        for i, ((entry, s), args) in enumerate(zip(self.variants[variant], self.args_with(variant, data))):
            leaves = [tg.tensor(a, requires_grad=True) if _is_float(a) else a for a in args]
            out = apply_op(entry, tuple(leaves), s.attrs)
            outs.append(out._data)
            if out.requires_grad:
                (out * wrap(cots[i])).sum().backward()
            for p, leaf in enumerate(leaves):
                if _is_float(args[p]):
                    grads[(i, p)] = np.zeros_like(args[p]) if leaf.grad is None else leaf.grad._data
        return outs, [grads[self.slots[k]] for k in self.float_slots]

    def empty_variants(self):
        return range(1, len(self.variants))


@functools.cache
def program(name, dt) -> Program:
    """Every sample of an entry; variant k > 0 takes the k-th empty version of each sample that has one."""
    entry = TABLE[name]
    samples = _samples(name, dt)
    variants = [[(entry, s) for s in samples]]
    empties = [_empty_variants(entry, s) for s in samples]
    for k in range(max(map(len, empties), default=0)):
        # A sample with fewer empty versions repeats its last one; one without any stays as it is.
        variants.append([(entry, v[min(k, len(v) - 1)] if v else s) for s, v in zip(samples, empties)])
    return Program(name, dt, variants)


# --------------------------------------------------------------------------
# Empty variants of a sample
# --------------------------------------------------------------------------

def _zeroed(shape, n):
    return tuple(0 if d == n else d for d in shape)


def _accepts(entry, args, attrs):
    """(type rule accepts, numpy accepts) for these arguments."""
    rule = True
    if isinstance(entry, Op):
        try:
            entry.infer([TensorType(np.asarray(a).dtype, np.shape(a)) for a in args], attrs)
        except Exception:
            rule = False
    try:
        _reference(entry, args, attrs)
        ref = True
    except Exception:
        ref = False
    return rule, ref


def _empty_candidates(sample):
    """Versions of the sample with an extent of its data arrays (and of a ``shape`` attribute) set to 0.

    One per extent n > 1, set to 0 wherever it occurs: the same extent
    everywhere keeps broadcasting and matrix shapes consistent.  And one with
    every leading extent set to 0, which is what a reshape needs (its target
    shape rarely shares an extent with its input).  Duplicates are dropped.
    """
    def version(change):
        args = tuple(np.zeros(change(a.shape), a.dtype) if _is_data(a) else a for a in sample.args)
        attrs = {k: change(tuple(v)) if k == "shape" else v for k, v in sample.attrs.items()}
        return args, attrs

    seen = set()
    sizes = sorted({n for a in sample.args if _is_data(a) for n in a.shape if n > 1})
    changes = [(f"{n} -> 0", functools.partial(_zeroed, n=n)) for n in sizes]
    changes.append(("leading extents -> 0", lambda shape: (0,) + tuple(shape[1:]) if shape else shape))
    for label, change in changes:
        args, attrs = version(change)
        key = (tuple(np.shape(a) for a in args), repr(sorted(attrs.items())))
        if key in seen or all(np.size(a) for a in args if _is_data(a)):
            continue
        seen.add(key)
        yield label, Sample(args, attrs, sample.grad, note=f"{sample.note} [{label}]")


def _empty_variants(entry, sample):
    return [s for _, s in _empty_candidates(sample) if all(_accepts(entry, s.args, s.attrs))]


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

def _scale(entry, args, gradient=False):
    """The absolute error scale of a result: 1, or the largest finite input magnitude where the
    result sums or composes several steps.

    Such results may legitimately differ by a rounding of their largest
    intermediate: x - logsumexp(x) at x = 2**100 is 0 in numpy (log 2 is
    absorbed by 2**100) and -log 2 in a kernel that reassociates it to
    (x - max) - log(sum), and a sum of +-2**100 * cotangent depends on the
    order it is added in.  An absolute tolerance of rtol * that magnitude
    admits this; NaN and inf positions are still compared exactly.  Single
    elementwise, shape and index ops are one correctly rounded step (or
    vecmath's few ulps); their gradients too, unless broadcasting makes the
    vjp sum over the broadcast axes.
    """
    single = isinstance(entry, Op) and entry.kind in ("elementwise", "shape", "index", "other")
    if gradient and single:
        shapes = {np.shape(a) for a in args if _is_float(a)}
        single = len(shapes) == 1 and entry.kind != "shape"
    if single:
        return 1.0
    finite = [np.abs(a[np.isfinite(a)]).max() for a in args if _is_float(a) and np.isfinite(a).any()]
    return max([1.0] + [float(v) for v in finite])


def _undefined(entry, args, out):
    """Elements nobody defines: casts of NaN, inf and out-of-range floats to integers (C leaves them
    undefined; numpy gives INT64_MIN on x86, LLVM's fptosi a poison value)."""
    if entry.name == "cast" and out.dtype.kind in "iu":
        x = np.asarray(args[0], dtype=np.float64)
        info = np.iinfo(out.dtype)
        with np.errstate(invalid="ignore"):
            return ~(np.isfinite(x) & (x >= info.min) & (x < info.max))
    return None


def _assert_same(actual, expected, rtol, atol, msg, undefined=None):
    """Same shape and dtype; floats within tolerance with NaN and +-inf in the same places."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{msg}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{msg}: dtype {actual.dtype} != {expected.dtype}"
    if undefined is not None and undefined.any():
        keep = ~np.broadcast_to(undefined, actual.shape)
        actual, expected = actual[keep], expected[keep]
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=msg)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=msg)


# Runs shared by the forward and the gradient tests of a case: (data, result or exception).
_RUNS: dict = {}


def _run(prog, backend, pattern):
    key = (prog.label, prog.dt, backend, pattern)
    if key not in _RUNS:
        data = prog.data(0, pattern)
        try:
            result = prog.run_eager(0, data) if backend == "eager" else prog.run_compiled(backend, 0, data)
        except Exception as e:  # re-raised in every test of the case
            result = e
        _RUNS[key] = (data, result)
    data, result = _RUNS[key]
    if isinstance(result, Exception):
        raise result
    return data, result


# --------------------------------------------------------------------------
# Which cases run, and the known failures
# --------------------------------------------------------------------------

#: Entries whose samples take no float array: edge values do not apply (empty tensors do).
NO_FLOAT_INPUTS = {"logical_and": "boolean inputs", "logical_or": "boolean inputs",
                   "logical_not": "boolean input"}

#: Entries whose inputs the edge patterns would make singular matrices (a few values repeated), which
#: raise as in PyTorch rather than give values; tests/test_linalg_and_losses.py checks their errors.
SINGULAR_AT_EDGES = {n: "matrices of repeated values are singular" for n, e in TABLE.items()
                     if getattr(e, "kind", "") == "linalg"}

EDGE_ENTRIES = [n for n in ENTRIES if n not in NO_FLOAT_INPUTS and n not in SINGULAR_AT_EDGES]
GRAD_ENTRIES = [n for n in EDGE_ENTRIES if _differentiable(TABLE[n])]

#: Known failures: (entry, pattern, where) -> (reason, strict); `where` is a backend for forward
#: values and "grad-<backend>" for gradients.  Both dtypes fail alike.
KNOWN: dict[tuple[str, str, str], tuple[str, bool]] = {}


def _case(name, dt, pattern, where):
    known = KNOWN.get((name, pattern, where))
    marks = [pytest.mark.xfail(strict=known[1], reason=known[0])] if known else []
    return pytest.param(name, dt, pattern, where, marks=marks, id=f"{where}-{pattern}-{dt}-{name}")


def _kernel_dtype(name):
    """The one dtype whose kernel runs the edge patterns of `name` (a numba compile costs seconds).

    Kernels of the two dtypes differ only in the runtime functions elementwise ops call (the vector
    math of each dtype): float32, whose results overflow and underflow soonest, for those; float64
    for the rest, whose kernels are written alike for both.  test_backends compares every entry's
    float64 kernel, and the float32 one of every elementwise entry, with the interpreter on its
    samples, with these same compiled programs; eager and interpreter cases run both dtypes here.
    """
    return "f32" if getattr(TABLE[name], "kind", "") == "elementwise" else "f64"


FORWARD_CASES = [_case(n, dt, p, w) for w in ("eager",) + BACKENDS for p in PATTERNS for dt in DTYPES
                 for n in EDGE_ENTRIES if not (w == "numba" and dt != _kernel_dtype(n))]
GRAD_CASES = [_case(n, dt, p, f"grad-{b}") for b in BACKENDS for p in PATTERNS for dt in DTYPES
              for n in GRAD_ENTRIES if not (b == "numba" and dt != _kernel_dtype(n))]

# The numpy references themselves warn at inf and NaN (and on means of empty arrays);
# the values are what this module checks.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# --------------------------------------------------------------------------
# Tests: coverage
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_is_covered(name):
    """Every entry has samples in both dtypes, and edge values reach it unless it is listed float-free."""
    for dt in DTYPES:
        assert _samples(name, dt), f"{name}: no samples for {dt}"
    floats = all(any(_is_float(a) for s in _samples(name, dt) for a in s.args) for dt in DTYPES)
    assert floats == (name not in NO_FLOAT_INPUTS), \
        f"{name}: update NO_FLOAT_INPUTS (its samples {'now' if floats else 'no longer'} take float arrays)"


def test_known_failures_name_real_cases():
    """Every KNOWN entry marks a generated case (a renamed entry or pattern would leave it dangling)."""
    ids = {(n, p, w) for w in ("eager", "grad-interpreter", "grad-numba") + BACKENDS for n in ENTRIES
           for p in PATTERNS}
    assert set(KNOWN) <= ids


# --------------------------------------------------------------------------
# Tests: edge values
# --------------------------------------------------------------------------

def test_kernels_keep_nan_and_inf():
    """No nnan/ninf (nor "fast", which implies them) in the kernels' fast-math flags: with them LLVM may
    assume no NaN or inf ever occurs, and none of the checks below would mean anything."""
    from tracegrad.compiler import runtime, vecmath
    banned = {"nnan", "ninf", "fast"}
    assert not banned & set(runtime.FASTMATH) and not banned & set(vecmath.FASTMATH)
    assert not banned & set(runtime.JIT_OPTIONS["fastmath"] or ())
    prog = program("add", "f64")
    f = prog.compiled("numba")
    f(0, *prog.data(0), *prog.cotangents(0))
    source = next(iter(f._cache.values()))[0].kernel_source()["graph"]
    flags = set(re.findall(r"'(\w+)'", " ".join(re.findall(r"fastmath=\{([^}]*)\}", source))))
    assert "fastmath=" in source and not banned & flags, flags


@pytest.mark.parametrize("name, dt, pattern, where", FORWARD_CASES)
def test_edge_forward_matches_numpy(name, dt, pattern, where):
    prog = program(name, dt)
    data, (outs, _) = _run(prog, where, pattern)
    rtol = RTOL[dt]
    for (entry, s), args, out in zip(prog.variants[0], prog.args_with(0, data), outs):
        expected = _reference(entry, args, s.attrs)
        _assert_same(out, expected, rtol, rtol * _scale(entry, args),
                     f"{name} {dt} {pattern} {where}: {s.note} {s.attrs}", _undefined(entry, args, expected))


@pytest.mark.parametrize("name, dt, pattern, where", GRAD_CASES)
def test_edge_gradients_match_eager(name, dt, pattern, where):
    """No numpy reference for gradients at these points: the compiled ones must equal eager's."""
    prog = program(name, dt)
    if not prog.differentiable:
        pytest.skip("no sample has a float output")
    data, (_, eager) = _run(prog, "eager", pattern)
    _, (_, compiled) = _run(prog, where.removeprefix("grad-"), pattern)
    rtol = RTOL[dt]
    all_args = prog.args_with(0, data)
    for k, a, b in zip(prog.float_slots, compiled, eager):
        i, p = prog.slots[k]
        entry, s = prog.variants[0][i]
        _assert_same(a, b, rtol, rtol * _scale(entry, all_args[i], gradient=True),
                     f"{name} {dt} {pattern} {where}: gradient of input {p} of {s.note} {s.attrs}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
@pytest.mark.parametrize("dt", DTYPES)
def test_floor_divide_at_exact_multiples(dt, op, backend):
    """x // y and x % y where x is a multiple of y, the edge of floor; found by the huge pattern
    (kernels once computed floor(x * (1/y)) in vector loops).

    The divisors are ones whose rounded reciprocal is below 1/y (x * (1/y) < x / y).
    """
    y = np.array({"f32": 61.0, "f64": 49.0}[dt], dtype=DTYPES[dt])
    k = np.arange(1.0, 9.0, dtype=DTYPES[dt])
    f = tg.jit(lambda x, y: apply_op(TABLE[op], (x, y)), backend=backend)
    np.testing.assert_array_equal(f(k * y, y), k if op == "floor_divide" else np.zeros_like(k))


# --------------------------------------------------------------------------
# Tests: empty tensors
# --------------------------------------------------------------------------

#: Op entries whose type rule accepts an empty version of a sample that numpy rejects (or the reverse).
@pytest.mark.parametrize("name", [n for n in ENTRIES if isinstance(TABLE[n], Op)])
def test_empty_type_rule_agrees_with_numpy(name):
    """An empty version of a sample is accepted by the type rule exactly when numpy accepts it
    (a graph-shaped entry -- custom_vjp -- is typed for its sample's shapes: rejecting is right)."""
    entry = TABLE[name]
    for s in _samples(name, "f64"):
        for _, c in _empty_candidates(s):
            rule, ref = _accepts(entry, c.args, c.attrs)
            assert rule == ref or (name == "custom_vjp" and not rule), \
                f"{name} {c.note} {c.attrs}: type rule {'accepts' if rule else 'rejects'}, numpy " \
                f"{'accepts' if ref else 'rejects'}"


def _check_empty_gradients(prog, variant, grads, where):
    """Gradients have their input's shape and dtype, and are 0 when the output has no element."""
    cases = prog.variants[variant]
    for k, g in zip(prog.float_slots, grads):
        i, p = prog.slots[k]
        entry, s = cases[i]
        x = s.args[p]
        msg = f"{prog.label} {prog.dt} {where}: gradient of input {p} of {s.note} {s.attrs}"
        assert g.shape == x.shape and g.dtype == x.dtype, f"{msg}: {g.dtype}{list(g.shape)}, input " \
                                                          f"{x.dtype}{list(x.shape)}"
        if _reference(entry, s.args, s.attrs).size == 0:
            np.testing.assert_array_equal(g, np.zeros_like(x), err_msg=msg)


#: Entries none of whose samples has an empty version: custom_vjp's sub-graphs are typed for their
#: sample's shapes, and nll_loss's fixed integer targets fit no empty input.
NO_EMPTY_VERSION = {"custom_vjp", "nll_loss"}
EMPTY_ENTRIES = [n for n in ENTRIES if n not in NO_EMPTY_VERSION]


def _empty_program(name, dt) -> Program:
    prog = program(name, dt)
    assert prog.empty_variants(), f"no sample of {prog.label} accepts an extent of 0: update NO_EMPTY_VERSION"
    return prog


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", EMPTY_ENTRIES)
def test_empty_eager_matches_numpy(name, dt):
    prog = _empty_program(name, dt)
    for v in prog.empty_variants():
        data = prog.data(v)
        outs, grads = prog.run_eager(v, data)
        for (entry, s), args, out in zip(prog.variants[v], prog.args_with(v, data), outs):
            expected = _reference(entry, args, s.attrs)
            _assert_same(out, expected, 0, 0, f"{name} {dt} eager: {s.note} {s.attrs}")
            if isinstance(entry, Op):
                types = [TensorType(np.asarray(a).dtype, np.shape(a)) for a in args]
                assert entry.infer(types, s.attrs) == TensorType(expected.dtype, expected.shape), s.note
        _check_empty_gradients(prog, v, grads, "eager")


def _check_compiled_empties(prog, backend, variant):
    rtol = RTOL[prog.dt]
    data = prog.data(variant)
    outs, grads = prog.run_compiled(backend, variant, data)
    for (entry, s), args, out in zip(prog.variants[variant], prog.args_with(variant, data), outs):
        _assert_same(out, _reference(entry, args, s.attrs), rtol, rtol,
                     f"{prog.label} {prog.dt} {backend}: {entry.name} {s.note} {s.attrs}")
    if grads is not None:
        _check_empty_gradients(prog, variant, grads, backend)
        _, eager = prog.run_eager(variant, data)
        for k, a, b in zip(prog.float_slots, grads, eager):
            entry, s = prog.variants[variant][prog.slots[k][0]]
            _assert_same(a, b, rtol, rtol, f"{prog.label} {prog.dt} {backend}: gradient of {entry.name} {s.note}")


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", EMPTY_ENTRIES)
def test_empty_interpreter_matches_numpy(name, dt):
    prog = _empty_program(name, dt)
    for v in prog.empty_variants():
        _check_compiled_empties(prog, "interpreter", v)


@functools.cache
def empty_primitives() -> Program:
    """One empty version of a sample of selected primitives, as one float64 program for numba.

    Empty shapes are new traces, and their kernels new source (extents that
    coincide share a loop bound, empty constants are folded), so running
    every entry's empty versions on numba as on the interpreter would compile
    about 300 kernels: minutes on an empty cache; even one program of one
    empty case per primitive is a half-minute compile.  What numba adds to
    the interpreter is the lowering, so this covers each lowering once, in
    one compile of a few seconds: every primitive with a loop nest of its own
    (kind other than elementwise: reductions, argmax, matmul, shape and index
    ops, concat), and one elementwise primitive per arity -- elementwise ops
    share their loops and differ only in the scalar expression inside, which
    an extent of 0 never reaches.  Composites are lowered as the primitives
    they decompose into, and the lowering does not depend on the float dtype.
    """
    cases, arities = [], set()
    for name in ENTRIES:
        entry = TABLE[name]
        if not isinstance(entry, Op) or (entry.kind == "elementwise" and entry.arity in arities):
            continue
        first = next((v[0] for v in (_empty_variants(entry, s) for s in _samples(name, "f64")) if v), None)
        if first is not None:
            cases.append((entry, first))
            if entry.kind == "elementwise":
                arities.add(entry.arity)
    return Program("empty primitives", "f64", [cases])


def test_empty_numba_matches_numpy():
    prog = empty_primitives()
    names = [entry.name for entry, _ in prog.variants[0]]
    assert {"sum", "max", "matmul", "index", "index_add", "concat"} <= set(names), names
    _check_compiled_empties(prog, "numba", 0)


def _sum_of_empty_broadcast(x):
    return apply_op(TABLE["sum"], (apply_op(TABLE["broadcast"], (x,), {"shape": (0,)}),),
                    {"axes": None, "keepdims": False})


@pytest.mark.parametrize("where", ["eager", *BACKENDS])
def test_sum_of_an_empty_broadcast_is_zero(where):
    """sum(broadcast(x, (0,))) is 0 for every x, inf and NaN included; found while writing this module
    (the simplifier once rewrote it as x * 0; the generic programs multiply by a cotangent before
    summing, which that rewrite does not match)."""
    xs = [np.array(v) for v in (INF, NAN, 2.0)]
    if where == "eager":
        sums = [_sum_of_empty_broadcast(tg.tensor(x))._data for x in xs]
    else:
        f = tg.jit(_sum_of_empty_broadcast, backend=where)
        sums = [f(x) for x in xs]
    np.testing.assert_array_equal(sums, [0.0, 0.0, 0.0])
