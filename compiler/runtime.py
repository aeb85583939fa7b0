"""Scalar functions the generated kernels call, one variant per dtype (``exp_f32``, ``maximum_i64`` ...).

The op table's kernel templates name these functions (``exp({0})``); the
code generator appends the operand dtype's suffix.  Each is a numba
function compiled on its own and marked always-inline for LLVM
(``forceinline``): compiled once per process, inlined into each kernel's loop
before vectorisation, and part of the kernel's machine code on disk.  The transcendental ones come
from :mod:`tracegrad.compiler.vecmath` where it provides a vectorisable
version for the dtype, else from numpy's (libm) version.

NaN semantics follow numpy: ``maximum``/``minimum`` propagate NaN, ``relu``
of NaN is NaN, ``sign`` of NaN is NaN.
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit

from tracegrad.compiler import special, vecmath
from tracegrad.ir.ops import TABLE, _cofactor_one

__all__ = ["FASTMATH", "JIT_OPTIONS", "LIBM_FUNCTIONS", "SUM_BLOCK", "names", "SUFFIX"]


def _fastmath_requested() -> bool:
    return os.environ.get("TRACEGRAD_FASTMATH", "").strip().lower() not in ("", "0", "false", "no", "off")


#: Fast-math flags of the generated kernels and of these functions, read once at import.  None by
#: default, since each flag changes IEEE results of ordinary code: ``reassoc`` folds ``x + C - C``
#: to ``x`` and cancels compensated-sum error terms, ``arcp`` makes ``3 / 10`` ``3 * (1 / 10)``,
#: ``nsz`` turns ``-0.0 + 0.0`` into -0.0, ``afn`` allows approximate library functions, and
#: ``contract`` fuses ``a * b + c`` into one FMA with one rounding instead of two, so a kernel
#: would no longer match numpy, eager mode and the interpreter bit for bit.  Sums keep their speed
#: without them: they accumulate in blocks (``sum_block_*``, the one place ``reassoc`` is allowed,
#: since the order within a block is the kernel's to choose).
#: ``TRACEGRAD_FASTMATH=1`` turns on the flags vecmath's functions are written to tolerate.
FASTMATH = frozenset(vecmath.FASTMATH) if _fastmath_requested() else frozenset()
JIT_OPTIONS = dict(fastmath=set(FASTMATH) or False, error_model="numpy", forceinline=True, nogil=True)
#: Elements summed per block by a kernel's float sums (a few KB: the block stays in L1).
SUM_BLOCK = 512
#: For functions whose answer depends on exact rounding (floor division): with `arcp`,
#: LLVM turns x / y into x * (1 / y) in vector loops, and 49.0 // 49.0 became 0.
EXACT_OPTIONS = dict(fastmath=False, error_model="numpy", forceinline=True, nogil=True)

SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.int64): "i64",
          np.dtype(np.int32): "i32", np.dtype(np.bool_): "bool"}

_exported: dict[str, object] = {}

#: Functions that call libm (or :mod:`compiler.special`) one element at a time, without vector math:
#: the op table's ``scalar`` functions and the special functions below.
LIBM_FUNCTIONS = frozenset({name for name, entry in TABLE.items() if getattr(entry, "scalar", None) is not None}
                           | {"erf", "erfc", "lgamma", "erfinv", "polygamma"})


def _export(name: str, fn) -> None:
    globals()[name] = fn
    _exported[name] = fn


def _float_functions(dt, vec):
    t = dt.type
    zero, one = t(0), t(1)

    def pick(name, fallback):
        impl = vec.get(name, {}).get(dt)
        return impl if impl is not None else njit(**JIT_OPTIONS)(fallback)

    fns = {
        "exp": pick("exp", lambda x: np.exp(x)),
        "log": pick("log", lambda x: np.log(x)),
        "log1p": pick("log1p", lambda x: np.log1p(x)),
        "expm1": pick("expm1", lambda x: np.expm1(x)),
        "sin": pick("sin", lambda x: np.sin(x)),
        "cos": pick("cos", lambda x: np.cos(x)),
        "tanh": pick("tanh", lambda x: np.tanh(x)),
        "sqrt": njit(**JIT_OPTIONS)(lambda x: np.sqrt(x)),  # one instruction, vectorised by LLVM
        # libm's erf in float64, rounded once to the element type (float32: within one ulp).
        "erf": njit(**JIT_OPTIONS)(lambda x: t(math.erf(np.float64(x)))),
        "erfc": njit(**JIT_OPTIONS)(lambda x: t(math.erfc(np.float64(x)))),
        # float64 special functions (compiler/special.py, libm's lgamma), rounded once like erf.
        "lgamma": njit(**JIT_OPTIONS)(lambda x: t(math.lgamma(np.float64(x)))),
        "erfinv": njit(**JIT_OPTIONS)(lambda x: t(special.erfinv(np.float64(x)))),
        "polygamma": njit(**JIT_OPTIONS)(lambda x, n: t(special.polygamma(n, np.float64(x)))),
        "logaddexp": pick("logaddexp", lambda a, b: np.logaddexp(a, b)),
        # Exact operations (no fast-math rewrite may change their rounding).
        "floor": njit(**EXACT_OPTIONS)(lambda x: np.floor(x)),
        "ceil": njit(**EXACT_OPTIONS)(lambda x: np.ceil(x)),
        "trunc": njit(**EXACT_OPTIONS)(lambda x: np.trunc(x)),
        "rint": njit(**EXACT_OPTIONS)(lambda x: np.rint(x)),
        "fmod": njit(**EXACT_OPTIONS)(lambda x, y: np.fmod(x, y)),
    }
    exp = fns["exp"]

    def sigmoid_fallback(x):
        # exp(-|x|) cannot overflow; select the branch without dividing inf by inf.
        e = exp(-abs(x))
        r = one / (one + e)
        return r if x >= zero else e * r
    fns["sigmoid"] = pick("sigmoid", sigmoid_fallback)

    @njit(**JIT_OPTIONS)
    def relu(x):
        return x if (x > zero or x != x) else zero

    @njit(**JIT_OPTIONS)
    def absolute(x):
        return abs(x)

    @njit(**JIT_OPTIONS)
    def sign(x):
        return one if x > zero else (-one if x < zero else (x if x != x else zero))

    @njit(**JIT_OPTIONS)
    def divide(x, y):
        return x / y

    half = t(0.5)

    @njit(**JIT_OPTIONS)
    def power(x, y):
        # x ** 0.5 is sqrt(x), as in the op table's numpy rule (ir/ops.py _pow).
        return np.sqrt(x) if y == half else x ** y

    @njit(**EXACT_OPTIONS)
    def divmod_(x, y):
        # numpy's float divmod: the quotient is rebuilt from fmod so that it is exact
        # at multiples, and infinities give what numpy gives (inf // 1.5 is nan,
        # -0.5 // inf is -1, -0.5 % inf is inf).
        mod = np.fmod(x, y)
        if y == zero:
            return x / y, mod
        div = (x - mod) / y
        if mod != zero:
            if (y < zero) != (mod < zero):
                mod += y
                div -= one
        else:
            mod = np.copysign(zero, y)
        if div != zero:
            floordiv = np.floor(div)
            if div - floordiv > half:
                floordiv += one
        else:
            floordiv = np.copysign(zero, x / y)
        return floordiv, mod

    @njit(**EXACT_OPTIONS)
    def floor_divide(x, y):
        return divmod_(x, y)[0]

    @njit(**EXACT_OPTIONS)
    def remainder(x, y):
        return divmod_(x, y)[1]
    # Several vector accumulators need `reassoc` (LLVM keeps the additions in order without it); its
    # effect stays inside this function's instructions when they are inlined into a kernel.
    @njit(fastmath={"reassoc"}, error_model="numpy", forceinline=True, nogil=True)
    def sum_block(block, count):
        total = zero
        for k in range(count):
            total += block[k]
        return total
    fns.update(relu=relu, sign=sign, divide=divide, power=power, floor_divide=floor_divide, remainder=remainder,
               abs=absolute, sum_block=sum_block)
    # The op table's own scalar functions (libm's, in the element type: within an ulp or two).
    for name, entry in TABLE.items():
        scalar = getattr(entry, "scalar", None)
        if scalar is not None:
            fns[name] = njit(**JIT_OPTIONS)(scalar)
    return fns


def _int_functions(dt):
    t = dt.type
    zero, one = t(0), t(1)

    @njit(**JIT_OPTIONS)
    def relu(x):
        return x if x > zero else zero

    @njit(**JIT_OPTIONS)
    def sign(x):
        return one if x > zero else (-one if x < zero else zero)

    @njit(**JIT_OPTIONS)
    def floor_divide(x, y):
        return x // y if y != zero else zero

    @njit(**JIT_OPTIONS)
    def remainder(x, y):
        return x % y if y != zero else zero

    @njit(**JIT_OPTIONS)
    def power(x, y):
        return x ** y

    @njit(**JIT_OPTIONS)
    def absolute(x):
        return abs(x)

    @njit(**JIT_OPTIONS)
    def fmod(x, y):
        # C's remainder of truncated division: the dividend's sign (eager mode refuses a zero divisor).
        if y == zero:
            return zero
        r = abs(x) % abs(y)
        return t(-r) if x < zero else t(r)
    return dict(relu=relu, sign=sign, floor_divide=floor_divide, remainder=remainder, power=power, abs=absolute,
                fmod=fmod)


@njit(**EXACT_OPTIONS)
def add_compensated(total, compensation, x):
    """(total + x, the compensation plus that addition's rounding error): Neumaier's summation step.

    Kernels add their block sums with it, in float64, so the error of a sum
    no longer grows with its length: a few dozen roundings of the element
    dtype within a block, next to nothing between blocks.
    Compiled without fast-math: ``reassoc`` would cancel the error term to 0.
    """
    new_total = total + x
    if abs(total) >= abs(x):
        compensation += (total - new_total) + x
    else:
        compensation += (x - new_total) + total
    return new_total, compensation


@njit(**EXACT_OPTIONS)
def compensated_result(total, compensation):
    """The compensated sum; an infinite or NaN total is the answer (its error term is NaN)."""
    return total + compensation if np.isfinite(total) else total


_export("add_compensated", add_compensated)
_export("compensated_result", compensated_result)


def _compare_functions():
    @njit(**JIT_OPTIONS)
    def maximum(x, y):
        return x if (x >= y or x != x) else y

    @njit(**JIT_OPTIONS)
    def minimum(x, y):
        return x if (x <= y or x != x) else y
    return dict(maximum=maximum, minimum=minimum)


# Matrix products go through these (compiled once per dtype and cached on disk) rather than
# np.dot written into each kernel: numba types every np.dot call site anew, which made a
# kernel with a hundred products take seconds to compile.  `a`, `b`, `o` are flat arrays;
# the suffix says which operand is read transposed (a C-contiguous n x m block as m x n).

@njit(cache=True, nogil=True)
def matmul_nn(a, b, o, m, k, n):
    np.dot(a.reshape((m, k)), b.reshape((k, n)), o.reshape((m, n)))


@njit(cache=True, nogil=True)
def matmul_tn(a, b, o, m, k, n):
    np.dot(a.reshape((k, m)).T, b.reshape((k, n)), o.reshape((m, n)))


@njit(cache=True, nogil=True)
def matmul_nt(a, b, o, m, k, n):
    np.dot(a.reshape((m, k)), b.reshape((n, k)).T, o.reshape((m, n)))


@njit(cache=True, nogil=True)
def matmul_tt(a, b, o, m, k, n):
    np.dot(a.reshape((k, m)).T, b.reshape((n, k)).T, o.reshape((m, n)))


for _name in ("matmul_nn", "matmul_tn", "matmul_nt", "matmul_tt"):
    _exported[_name] = globals()[_name]

# Decompositions the kernels call (op table templates ``svd_factors({0}, False)[1]`` ...): compiled once
# and cached on disk like the products, where numba would type each np.linalg call site of a kernel anew
# (an SVD's gradient program took 25 s to compile with them inline).

@njit(cache=True, nogil=True)
def svd_factors(a, full):
    """(U, S, Vh) of matrix `a`, reduced or with `full` matrices."""
    u, s, vh = np.linalg.svd(a, full_matrices=full)
    return np.ascontiguousarray(u), s, np.ascontiguousarray(vh)


@njit(cache=True, nogil=True)
def eigh_factors(a):
    """(ascending eigenvalues, eigenvectors as columns) of `a`'s symmetric part."""
    w, v = np.linalg.eigh((a + a.T) * 0.5)
    return w, np.ascontiguousarray(v)


#: The cofactor matrix of a square matrix by its SVD: the op table's numpy function, compiled as it is.
cofactor_matrix = njit(cache=True, nogil=True)(_cofactor_one)


@njit(cache=True, nogil=True)
def qr_factors(a, complete):
    """(Q, R) of matrix `a`, reduced, or complete (Q m x m, R m x n): numba has only the reduced QR, and
    LAPACK's reflectors of [A | 0] are A's followed by identities, so its Q is A's complete one."""
    m, n = a.shape
    if complete and m > n:
        padded = np.zeros((m, m), a.dtype)
        padded[:, :n] = a
        q, r = np.linalg.qr(padded)
        return np.ascontiguousarray(q), np.ascontiguousarray(r[:, :n])
    q, r = np.linalg.qr(a)
    return np.ascontiguousarray(q), np.ascontiguousarray(r)


for _name in ("svd_factors", "eigh_factors", "qr_factors", "cofactor_matrix"):
    _export(_name, globals()[_name])

_NONE = -9223372036854775807  # codegen's marker for an omitted slice bound


@njit(forceinline=True, nogil=True)
def slice_start_step(start, stop, step, n):
    """(first index, step) of ``slice(start, stop, step)`` on an axis of length `n` (Python's rules).

    Omitted bounds arrive as the marker ``-2**63 + 1``.
    """
    if step == _NONE:
        step = 1
    if step > 0:
        if start == _NONE:
            start = 0
        elif start < 0:
            start = max(start + n, 0)
        else:
            start = min(start, n)
    else:
        if start == _NONE:
            start = n - 1
        elif start < 0:
            start = max(start + n, -1)
        else:
            start = min(start, n - 1)
    return start, step  # `stop` does not matter: the loop runs over the result's extent


_export("slice_start_step", slice_start_step)


def _build() -> None:
    vec = vecmath.FUNCTIONS
    shared = _compare_functions()
    for dt, suffix in SUFFIX.items():
        fns = dict(shared)
        if dt.kind == "f":
            fns.update(_float_functions(dt, vec))
        elif dt.kind in "iu":
            fns.update(_int_functions(dt))
        for name, fn in fns.items():
            _export(f"{name}_{suffix}", fn)


_build()


def names() -> dict[str, object]:
    """Every runtime function by its generated-code name (``exp_f32`` ...)."""
    return dict(_exported)

