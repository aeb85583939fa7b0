"""Vectorisable elementary functions for generated numba kernels.

Why this module exists
----------------------
numba lowers ``math.exp``/``np.tanh``/``np.sin`` inside a loop to scalar libm
calls.  A call the loop vectoriser has no vector variant for (there is no Intel
SVML here) keeps the whole loop scalar, which made float32 transcendental
kernels ~10x slower than numpy.  The functions below are written with
arithmetic, selects (``a if c else b`` on cheap values, which LLVM turns into
``select``), integer bit manipulation through numba's scalar ``.view`` and
loads from small constant tables only, so a loop that calls them vectorises.

How to call them
----------------
* One njit-compiled function per name and dtype: ``exp_f32``, ``exp_f64``,
  ... ; ``FUNCTIONS[name][np.dtype(...)]`` maps to the same objects, ``ARITY``
  gives the argument count (``logaddexp`` takes two).  Dispatch is explicit:
  the code generator knows the dtype of every value, so it picks the function
  itself (no ``overload`` indirection to debug).  An ``*_f32`` function
  converts its argument to float32 first, an ``*_f64`` one to float64.
* Call them from any ``@njit`` kernel; the kernel may use ``fastmath=FASTMATH``.
  Do NOT wrap them with ``inline="always"`` and do not paste their bodies into
  kernels: numba's IR-level inlining would compile the body with the kernel's
  flags, and ``reassoc``/``nsz`` legally destroy the algorithms (LLVM folds the
  two halves of the Cody-Waite constant back into one, reorders the two-step
  exponent scaling so it overflows/underflows, drops signs of zero).  Instead
  each function is compiled on its own with ``fastmath={'contract'}`` (FMA
  contraction only: it can only make the products here more exact),
  ``error_model='numpy'`` (no ZeroDivisionError branch) and numba's
  ``forceinline=True``, which marks the LLVM function ``alwaysinline``: LLVM
  inlines it into the kernel when the kernel is optimised (before loop
  vectorisation), and every inlined instruction keeps its own flags.  (Left
  to LLVM's cost model, the larger functions such as expm1 or tanh stayed
  calls, and a call keeps the loop scalar.)  ``tests/test_vecmath.py`` checks that the kernel loop really
  vectorises for every function.
* ``NUMBA_DISABLE_JIT=1`` turns every function into plain Python working on
  numpy scalars (numpy may then warn about overflow in intermediate values;
  the results are the same up to FMA contraction, i.e. at most an ulp).
* ``sin``/``cos`` are correct for every finite argument; the table lookups of
  their large-argument reduction cost gathers in every call.  When the
  arguments are known to be moderate, ``sin_bounded``/``cos_bounded`` do only
  the Cody-Waite reduction (2-3x faster) and return NaN for |x| >= 2**24
  (float32) / 2**27 (float64).
* The float32 functions compute in float32, except sin/cos (float64 inside,
  so their loops run at half the vector width) and logaddexp (float64).
* On this CPU LLVM prefers 256-bit vectors (8 floats); exp reaches numpy's
  own AVX-512 speed only with 512-bit vectors, which need numba's CPU
  features without ``prefer-256-bit`` (``NUMBA_CPU_FEATURES``): a process-wide
  choice for whoever configures numba, not something this module sets.

Accuracy
--------
``MAX_ULP[(name, dtype_str)]`` is the documented bound in units in the last
place of the result dtype, over all inputs unless the docstring says
otherwise.  The float32 bounds of the one-argument functions were checked
exhaustively (all 2**32 inputs) against float64 libm; the float64 bounds
(and logaddexp's) come from tens of millions of random samples spread over
all magnitudes (plus the known hard cases of trigonometric reduction)
against ``np.longdouble``, with a margin.  logaddexp's bound is in ulps of
max(|result|, |max(a, b)|), see its docstring.  The ulp
of a value v is 2**(e - p + 1) for 2**e <= |v| < 2**(e+1) (p = 24 or 53),
never smaller than the smallest denormal; an infinite result counts as
2**(emax+1).  Special values (0, -0.0, +-inf, NaN, denormals) follow numpy.

Polynomial coefficients
-----------------------
All coefficients were fitted for this module by ``derive_coefficients()``
below: discrete minimax (Lawson's iteratively re-weighted least squares) on
Chebyshev nodes in ``np.longdouble``, with iterative refinement of each least
squares solve, then rounded to the working precision.  Targets are evaluated
from their Taylor series in long double.  Constants of pi are computed from
Machin's formula with Python integers (``_pi_scaled``), so nothing here is
copied from another library.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

__all__ = [
    "FASTMATH", "FUNCTIONS", "MAX_ULP", "ARITY", "derive_coefficients", "stored_table_error", "STORED_ERROR_LOG2",
    "exp_f32", "exp_f64", "log_f32", "log_f64", "log1p_f32", "log1p_f64",
    "expm1_f32", "expm1_f64", "tanh_f32", "tanh_f64", "sigmoid_f32",
    "sigmoid_f64", "softplus_f32", "softplus_f64", "logaddexp_f32",
    "logaddexp_f64", "sin_f32", "sin_f64", "cos_f32", "cos_f64",
    "sin_bounded_f32", "sin_bounded_f64", "cos_bounded_f32", "cos_bounded_f64",
]

#: fastmath flags of the generated kernels (no nnan/ninf: NaN and inf keep
#: their meaning).  A plain set because numba rejects a frozenset.
FASTMATH = {"arcp", "contract", "afn", "reassoc", "nsz"}

#: flags the functions of this module are compiled with: only FMA contraction.
_INTERNAL_FASTMATH = {"contract"}


def _vm(fn):
    """Compile one of this module's scalar functions (see module docstring)."""
    return njit(fastmath=_INTERNAL_FASTMATH, error_model="numpy", forceinline=True, nogil=True)(fn)


def _hex(*values):
    return tuple(float.fromhex(v) for v in values)


def _horner(coefs, ft):
    """njit polynomial sum(coefs[i] * x**i) in Horner form, as straight-line
    code with the coefficients as typed constants (generated source, so it
    needs no loop or tuple indexing for LLVM to see through)."""
    env = {f"c{i}": ft(c) for i, c in enumerate(coefs)}
    expr = f"c{len(coefs) - 1}"
    for i in range(len(coefs) - 2, -1, -1):
        expr = f"({expr}) * x + c{i}"
    src = f"def horner(x):\n    return {expr}\n"
    exec(compile(src, f"<vecmath horner {len(coefs)}>", "exec"), env)
    return _vm(env["horner"])


# --------------------------------------------------------------------------
# Polynomial coefficients (lowest degree first), produced by
# derive_coefficients(); see there for targets, intervals and weights.
# --------------------------------------------------------------------------
# exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2; weight r^2/|expm1(r)| (relative
# error of expm1(r), which bounds the relative error of exp(r) too).
# degree 5: weighted error 2^-32.0; degree 10: 2^-61.6.
_EXP_P32 = _hex("0x1.0000000000000p-1", "0x1.5555540000000p-3", "0x1.5554b20000000p-5",
                "0x1.11118a0000000p-7", "0x1.6d71f80000000p-10", "0x1.a032be0000000p-13")
_EXP_P64 = _hex("0x1.0000000000000p-1", "0x1.5555555555559p-3", "0x1.555555555553fp-5",
                "0x1.111111110f6a8p-7", "0x1.6c16c16c1eeb7p-10", "0x1.a01a01afe8657p-13",
                "0x1.a01a017c1c173p-16", "0x1.71ddf84aa4ac6p-19", "0x1.27e535758d7d2p-22",
                "0x1.af5ecf5fc11dbp-26", "0x1.1ee9fbb9be358p-29")
# log1p(f) = 2s + s z T(z), s = f/(2+f), z = s^2 <= ((sqrt2-1)/(sqrt2+1))^2;
# weight z/2 (relative error of log1p(f)). degree 2: 2^-30.2; degree 6: 2^-59.5.
_LOG_T32 = _hex("0x1.55557a0000000p-1", "0x1.995eb60000000p-2", "0x1.31e34c0000000p-2")
_LOG_T64 = _hex("0x1.5555555555592p-1", "0x1.999999997fd76p-2", "0x1.24924941f50ccp-2",
                "0x1.c71c5205fa1adp-3", "0x1.74663fa4cba0bp-3", "0x1.39a1a6ba1c089p-3",
                "0x1.2f06369f10380p-3")
# sin(r) = r + r z S(z), z = r^2 <= (pi/4)^2, weight z (relative error of sin).
# The float32 functions evaluate it in float64 (degree 3: 2^-37.6); float64
# uses degree 6 (2^-65.7, the long double noise floor).
_SIN_S32 = _hex("-0x1.5555554cb9ea2p-3", "0x1.111108964db9cp-7", "-0x1.a00f9da91e85cp-13",
                "0x1.6cd859217ae9dp-19")
_SIN_S64 = _hex("-0x1.5555555555555p-3", "0x1.111111111110ap-7", "-0x1.a01a01a018a02p-13",
                "0x1.71de3a533db72p-19", "-0x1.ae6452acadbd8p-26", "0x1.6120a4eeb2580p-33",
                "-0x1.aaafd708aff9cp-41")
# cos(r) = 1 - z/2 + z^2 C(z), weight z^2/cos(r) (relative error of cos).
# degree 3 (float64 arithmetic for float32): 2^-42.9; degree 5: 2^-63.9.
_COS_C32 = _hex("0x1.5555554ed8d31p-5", "-0x1.6c16b82958c4dp-10", "0x1.a010de556f9b6p-16",
                "-0x1.241e82ef55e33p-22")
_COS_C64 = _hex("0x1.555555555554bp-5", "-0x1.6c16c16c14f79p-10", "0x1.a01a019c823ccp-16",
                "-0x1.27e4f7e96d528p-22", "0x1.1ee9d6e06856fp-29", "-0x1.8fa4349f5f7d2p-37")


# --------------------------------------------------------------------------
# Coefficient derivation (run by hand / by the tests; not at import time).
# --------------------------------------------------------------------------
def _fit_minimax(target, weight, lo, hi, degree, n_nodes=600, iters=80):
    """Weighted discrete minimax polynomial fit in long double.

    Minimises max_i |w(x_i) (target(x_i) - p(x_i))| over ``n_nodes``
    Chebyshev nodes of [lo, hi] with Lawson's algorithm (each step a weighted
    least squares problem whose weights are multiplied by the current error).
    Each least squares solve is done in float64 on a column-scaled monomial
    basis and refined in long double (residuals in long double), so the
    coefficients are accurate beyond float64.  Returns (coefficients lowest
    degree first, best weighted max error).
    """
    ld = np.longdouble
    k = np.arange(n_nodes, dtype=ld)
    lo, hi = ld(lo), ld(hi)
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * k + 1) * ld(np.pi) / (2 * n_nodes))
    y, w0 = target(x), weight(x)
    span = max(abs(lo), abs(hi))
    A = np.stack([(x / span) ** j for j in range(degree + 1)], axis=1)
    lw = np.ones(n_nodes, dtype=ld)
    best = None
    for _ in range(iters):
        sw = np.sqrt(lw) * w0
        Aw, bw = A * sw[:, None], y * sw
        c = np.zeros(degree + 1, dtype=ld)
        for _ in range(4):
            res = bw - Aw @ c
            d = np.linalg.lstsq(Aw.astype(np.float64), res.astype(np.float64), rcond=None)[0]
            c = c + d.astype(ld)
        err = np.abs((y - A @ c) * w0)
        m = err.max()
        if best is None or m < best[1]:
            best = (c.copy(), m)
        lw = lw * (err / m + ld(1e-6))
        lw /= lw.sum()
    c, m = best
    return c / np.array([span ** j for j in range(degree + 1)], dtype=ld), float(m)


def _series(coef, z, terms):
    acc = np.zeros_like(z)
    for k in reversed(range(terms)):
        acc = acc * z + np.longdouble(coef(k))
    return acc


def _fit_jobs():
    """{table name: (target, weight, lo, hi, degree, storage dtype)} of every coefficient table above."""
    ld = np.longdouble
    P = lambda r: _series(lambda k: ld(1) / ld(math.factorial(k + 2)), r, 30)
    w_exp = lambda r: r * r / np.abs(np.expm1(r) + (r == 0))
    r_exp = ld(0.5) * np.log(ld(2)) * ld(1.0001)
    T = lambda z: _series(lambda k: ld(2) / ld(2 * k + 3), z, 40)
    z_log = ((np.sqrt(ld(2)) - 1) / (np.sqrt(ld(2)) + 1)) ** 2 * ld(1.0001)
    S = lambda z: _series(lambda k: ld((-1) ** (k + 1)) / ld(math.factorial(2 * k + 3)), z, 25)
    C = lambda z: _series(lambda k: ld((-1) ** k) / ld(math.factorial(2 * k + 4)), z, 25)
    w_cos = lambda z: z * z / np.cos(np.sqrt(z))
    z_trig = (ld(np.pi) / 4) ** 2 * ld(1.0001)
    return {
        "_EXP_P32": (P, w_exp, -r_exp, r_exp, 5, np.float32),
        "_EXP_P64": (P, w_exp, -r_exp, r_exp, 10, np.float64),
        "_LOG_T32": (T, lambda z: z / 2, 0, z_log, 2, np.float32),
        "_LOG_T64": (T, lambda z: z / 2, 0, z_log, 6, np.float64),
        "_SIN_S32": (S, lambda z: z, 0, z_trig, 3, np.float64),
        "_SIN_S64": (S, lambda z: z, 0, z_trig, 6, np.float64),
        "_COS_C32": (C, w_cos, 0, z_trig, 3, np.float64),
        "_COS_C64": (C, w_cos, 0, z_trig, 5, np.float64),
    }


# Weighted error of each table as stored (coefficients rounded to their storage
# precision), log2, evaluated in long double over its interval: the bound the
# tests hold the tables to.  Rounding the coefficients costs more than the fit
# where the fit is at the noise floor (float64 sin: fit 2^-65.7, stored 2^-57.3).
STORED_ERROR_LOG2 = {"_EXP_P32": -28.5, "_EXP_P64": -59.5, "_LOG_T32": -30.0, "_LOG_T64": -58.5,
                     "_SIN_S32": -37.5, "_SIN_S64": -57.0, "_COS_C32": -42.5, "_COS_C64": -59.0}


def stored_table_error(name: str, n_points: int = 200_001) -> float:
    """Weighted max error of the stored table `name` against its target, on a dense grid, in long double."""
    target, weight, lo, hi, _, _ = _fit_jobs()[name]
    x = np.linspace(np.longdouble(lo), np.longdouble(hi), n_points, dtype=np.longdouble)
    poly = np.zeros_like(x)
    for c in reversed(globals()[name]):
        poly = poly * x + np.longdouble(c)
    return float(np.abs((target(x) - poly) * weight(x)).max())


def derive_coefficients():
    """Re-fit every coefficient table above; returns {name: (coefs, err)}.

    A tool for changing the tables, not a check: the fit's last bits depend on
    the platform's long double (x87 80-bit reproduces the stored float64
    tables).  Coefficients are returned rounded to the precision they are
    stored in (the float32 tables hold float32 values).  Run
    ``python -m tracegrad.compiler.vecmath`` to print them.
    """
    out = {}
    for name, (f, w, lo, hi, deg, dt) in _fit_jobs().items():
        c, err = _fit_minimax(f, w, lo, hi, deg)
        out[name] = (tuple(float(dt(v)) for v in c), err)
    return out


# --------------------------------------------------------------------------
# pi, computed here (Machin), and the Payne-Hanek table for float32 sin/cos.
# --------------------------------------------------------------------------
def _pi_scaled(bits):
    """floor(pi * 2**bits), from pi = 16 atan(1/5) - 4 atan(1/239) in integers."""
    guard = 64
    one = 1 << (bits + guard)

    def atan_inv(x):
        total, term, k, x2 = 0, one // x, 0, x * x
        while term:
            total += term // (2 * k + 1) if k % 2 == 0 else -(term // (2 * k + 1))
            term //= x2
            k += 1
        return total

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> guard


_PI_BITS = 1400                   # enough 2/pi bits for float64 exponents up to 971
_PI_INT = _pi_scaled(_PI_BITS + 64)
# floor(2/pi * 2**_PI_BITS)
_TWO_OVER_PI_INT = (1 << (2 * _PI_BITS + 65)) // _PI_INT


def _int_to_float(v, exp2):
    """Correctly rounded float(v * 2**exp2) for a Python int v >= 0."""
    if v == 0:
        return 0.0
    shift = max(v.bit_length() - 64, 0)
    head = v >> shift
    sticky = 1 if (v & ((1 << shift) - 1)) else 0  # keep rounding honest
    return math.ldexp(float((head << 1) | sticky), exp2 + shift - 1)


def _ph_table_f32():
    """Rows g0, g1, g2 (float64) with g0+g1+g2 = (2**s * 2/pi) mod 4, s = e - 150.

    A float32 |x| with biased exponent e (1..254) is M * 2**s with an integer
    M < 2**24.  Writing 2**s * 2/pi = 4K + G (K integer) gives
    x * 2/pi = 4MK + M*G, so x*2/pi mod 4 = M*G mod 4 and only G is needed.
    G is split relative to its leading bit into 29 + 29 + 53 bits: M*g0 and
    M*g1 are then exact in float64 (24 + 29 bits), and the 111 bits of G leave
    an absolute error below 2**-80 in M*G: even the float32 closest to a
    multiple of pi/2 keeps a nearly correctly rounded result (the exhaustive
    test finds at most 0.5001 ulp).
    """
    B = _PI_BITS
    rows = np.zeros((256, 3), dtype=np.float64)
    for e in range(1, 255):
        s = e - 150
        num = _TWO_OVER_PI_INT  # G = num * 2**(s - B)
        if B - s + 2 < num.bit_length():
            num &= (1 << (B - s + 2)) - 1  # drop the multiple of 4
        L = num.bit_length()
        g0 = num >> (L - 29) << (L - 29)
        rest = num - g0
        g1 = rest >> (L - 58) << (L - 58)
        g2 = rest - g1
        rows[e] = (_int_to_float(g0, s - B), _int_to_float(g1, s - B), _int_to_float(g2, s - B))
    rows[0] = rows[1]  # denormals: same scale as biased exponent 1
    return rows


_PH32 = _ph_table_f32()
_PH32_G0 = np.ascontiguousarray(_PH32[:, 0])
_PH32_G1 = np.ascontiguousarray(_PH32[:, 1])
_PH32_G2 = np.ascontiguousarray(_PH32[:, 2])


def _split_pio2(nbits_list):
    """pi/2 = sum of parts, each part with the given number of significant bits
    (truncated, last part rounded): Cody-Waite constants."""
    B = _PI_BITS
    rem = _PI_INT >> 1  # pi/2 * 2**(B + 64)
    scale = -(B + 64)
    parts = []
    for i, nb in enumerate(nbits_list):
        L = rem.bit_length()
        if i == len(nbits_list) - 1:
            parts.append(_int_to_float(rem, scale))
        else:
            head = rem >> (L - nb) << (L - nb)
            parts.append(_int_to_float(head, scale))
            rem -= head
    return tuple(parts)


# float64 Cody-Waite: four 26-bit parts (n * part exact for n < 2**27) and a
# rounded fifth; 157 bits of pi/2 in all.
_PIO2_64 = _split_pio2([26, 26, 26, 26, 53])
_PIO2_D = _int_to_float(_PI_INT >> 1, -(_PI_BITS + 64))   # pi/2 rounded
_TWO_OVER_PI_D = _int_to_float(_TWO_OVER_PI_INT, -_PI_BITS)


def _ln2_scaled(bits):
    """floor(ln2 * 2**bits) from ln2 = 2 atanh(1/3) = sum 2/((2k+1) 3**(2k+1))."""
    guard = 64
    one = 1 << (bits + guard)
    total, term, k = 0, one // 3, 0
    while term:
        total += term // (2 * k + 1)
        term //= 9
        k += 1
    return (2 * total) >> guard


_LN2_INT = _ln2_scaled(200)


def _ln2_split(hi_bits):
    """ln 2 = hi + lo, hi with ``hi_bits`` significant bits (so k*hi is exact
    for |k| < 2**(p - hi_bits)) and lo = ln2 - hi correctly rounded."""
    L = _LN2_INT.bit_length()
    head = _LN2_INT >> (L - hi_bits) << (L - hi_bits)
    hi = _int_to_float(head, -200)
    lo = float(Fraction(_LN2_INT, 1 << 200) - Fraction(hi))
    return hi, lo


# --------------------------------------------------------------------------
# Documented error bounds (ulps of the result dtype) and docstrings.
# --------------------------------------------------------------------------
#: documented maximum error in ulps, keyed by (name, dtype string).
MAX_ULP = {
    # float32: exhaustive maxima (all 2**32 inputs) rounded up;
    # float64: sampled maxima plus a margin (see module docstring)
    ("exp", "float32"): 0.76, ("exp", "float64"): 0.8,
    ("log", "float32"): 0.85, ("log", "float64"): 0.9,
    ("log1p", "float32"): 0.85, ("log1p", "float64"): 0.9,
    ("expm1", "float32"): 1.0, ("expm1", "float64"): 1.0,
    ("tanh", "float32"): 1.75, ("tanh", "float64"): 1.8,
    ("sigmoid", "float32"): 2.45, ("sigmoid", "float64"): 2.5,
    ("softplus", "float32"): 1.6, ("softplus", "float64"): 1.7,
    # logaddexp: ulps of max(|result|, |max(a, b)|), see its docstring;
    # float32 is sampled (two arguments), evaluated in float64
    ("logaddexp", "float32"): 0.6, ("logaddexp", "float64"): 3.5,
    ("sin", "float32"): 0.51, ("sin", "float64"): 0.9,
    ("cos", "float32"): 0.51, ("cos", "float64"): 0.9,
    ("sin_bounded", "float32"): 0.51, ("sin_bounded", "float64"): 0.9,
    ("cos_bounded", "float32"): 0.51, ("cos_bounded", "float64"): 0.9,
}

_DOCS = {
    "exp": """exp(x) in {dtype}; max error {ulp} ulp{how}.

    x = k ln2 + r (Cody-Waite, |r| <= ln2/2), exp(r) = 1 + r + r^2 P(r)
    (minimax P), result 2**k exp(r) scaled in two exact steps.  Overflows to
    inf, underflows through correctly rounded denormals to +0; exp(-inf) = 0,
    exp(inf) = inf, NaN propagates.""",
    "log": """Natural logarithm in {dtype}; max error {ulp} ulp{how}.

    x = 2**e m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(f/(2+f)) with
    f = m - 1 (minimax in s^2).  Denormals are scaled up first.  log(0) =
    log(-0.0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN propagates.""",
    "log1p": """log(1 + x) in {dtype}; max error {ulp} ulp{how}.

    u = 1 + x with its exact rounding error c (TwoSum), then log(u) + c/u
    with the log kernel.  Returns x itself for |x| < 2**-(p+1) (keeps -0.0
    and denormals); log1p(-1) = -inf, log1p(x < -1) = NaN, inf -> inf.""",
    "expm1": """exp(x) - 1 in {dtype}; max error {ulp} ulp{how}.

    exp's reduction, then 2**k - 1 + 2**k (exp(r) - 1) summed exactly except
    for the last rounding, so there is no cancellation near 0.  Returns x for
    tiny |x| (keeps -0.0, denormals); -1 below the underflow edge, inf above
    the overflow edge; expm1(-inf) = -1, NaN propagates.""",
    "tanh": """Hyperbolic tangent in {dtype}; max error {ulp} ulp{how}.

    (1 - E)/(1 + E) with E = exp(-2|x|), numerator and denominator assembled
    from the exact parts of E (no cancellation near 0), sign copied from x.
    Saturates to exactly +-1; tanh(+-inf) = +-1, keeps -0.0 and denormals,
    NaN propagates.""",
    "sigmoid": """Logistic function 1/(1 + exp(-x)) in {dtype}; max error {ulp} ulp{how}.

    With e = exp(-|x|) <= 1: 1/(1+e) for x >= 0, e/(1+e) for x < 0, so it
    never overflows and keeps the denormal results of very negative x.
    sigmoid(inf) = 1, sigmoid(-inf) = 0, NaN propagates.""",
    "softplus": """log(1 + exp(x)) (= np.logaddexp(0, x)) in {dtype}; max error {ulp} ulp{how}.

    max(x, 0) + log1p(exp(-|x|)): no overflow for large x, denormal results
    for very negative x.  softplus(inf) = inf, softplus(-inf) = 0, NaN
    propagates.""",
    "logaddexp": """log(exp(a) + exp(b)) (as np.logaddexp) in {dtype}; max error {ulp} ulp
    of max(|result|, |max(a, b)|){how}.

    max(a, b) + log1p(exp(-|a - b|)), with a - b carried exactly into exp.
    The bound is absolute-like because the sum cancels where exp(a) +
    exp(b) ~ 1 (result near 0), as in numpy.  Equal arguments (including
    equal infinities) give a + ln2, NaN in either argument gives NaN.  The
    two-argument building block of logsumexp.{extra}""",
    "sin": """Sine in {dtype}; max error {ulp} ulp{how}.

    {trig}
    Returns x for tiny |x| (keeps -0.0, denormals); sin(+-inf) = NaN, NaN
    propagates.""",
    "cos": """Cosine in {dtype}; max error {ulp} ulp{how}.

    {trig}
    cos(+-inf) = NaN, NaN propagates.""",
}

_DOCS["sin_bounded"] = """Sine in {dtype} for |x| < {bound:g}; max error {ulp} ulp there, NaN beyond.

    The fast variant of sin: only the Cody-Waite reduction ({cw}), no
    table lookups, so it is 2-3x cheaper than sin (see the
    benchmark) but returns NaN (loudly wrong) for |x| >= {bound:g} and
    for +-inf.  For the code generator when arguments are known to be
    moderate (angles, positional encodings)."""
_DOCS["cos_bounded"] = _DOCS["sin_bounded"].replace("Sine", "Cosine").replace("of sin", "of cos").replace(
    "than sin", "than cos")

_HOW = {
    "float32": " over all float32 inputs (checked exhaustively against float64 libm)",
    "float64": " over all float64 inputs (random samples over every magnitude against long double)",
}
_TRIG = {
    "float32": """Payne-Hanek reduction in float64 from a 256-row table indexed by the
    exponent (exact for every float32, no argument range limit), then
    minimax sin/cos polynomials in float64, rounded once to float32.""",
    "float64": """Cody-Waite reduction (five parts of pi/2) for |x| < 2**27, Payne-Hanek
    from a table indexed by the exponent above that, both in double-double,
    so the bound holds for every finite x (both reductions are computed for
    every element: branch-free).  Then minimax sin/cos polynomials with the
    low part of the reduced argument as a first-order correction.""",
}


def _public(name, ft, fn):
    """Attach the docstring (with the documented bound) and compile."""
    dt = np.dtype(ft).name
    fn.__name__ = f"{name}_{'f32' if dt == 'float32' else 'f64'}"
    fn.__qualname__ = fn.__name__
    extra = ("\n\n    The float32 version is evaluated in float64 and rounded once, so it\n"
             "    is nearly correctly rounded even where the sum cancels." if dt == "float32" else "")
    how = _HOW[dt]
    if name == "logaddexp":
        how = " (random samples against a wider type)"
    fn.__doc__ = _DOCS[name].format(
        dtype=dt, ulp=MAX_ULP[(name, dt)], how=how, trig=_TRIG[dt], extra=extra,
        bound=2.0 ** (24 if dt == "float32" else 27),
        cw="in float64, pi/2 in 29+29+53 bits" if dt == "float32" else "pi/2 in five parts, double-double")
    return _vm(fn)


# --------------------------------------------------------------------------
# Implementations, built per dtype by one factory so that both precisions
# share the algorithm text.  Every constant is a numpy scalar of the working
# dtype (numba freezes closure/global numpy scalars as typed constants: a
# Python float would silently promote float32 arithmetic to float64).
# --------------------------------------------------------------------------
def _build(ft, wide=None):
    single = ft is np.float32
    it = np.int32 if single else np.int64
    P = 24 if single else 53                      # significand bits
    MANT = it(P - 1)                              # stored mantissa bits
    BIAS = it(127 if single else 1023)
    MAXE = it(127 if single else 1023)            # largest normal exponent
    ONE, ZERO, HALF, TWO = ft(1.0), ft(0.0), ft(0.5), ft(2.0)
    INF, NINF, NAN = ft(np.inf), ft(-np.inf), ft(np.nan)
    I1 = it(1)
    MIN_NORMAL = ft(np.finfo(ft).tiny)
    # exp: x is clamped to [EXP_LO, EXP_HI] before the reduction.  Outside it
    # the result is 0 / inf anyway: exp(EXP_LO) < half the smallest denormal,
    # exp(EXP_HI) > max finite; k stays within +-(emax + p + 2), so the two
    # factors 2**k1, 2**k2 of 2**k are normal numbers.
    EXP_HI = ft(89.0 if single else 710.0)
    EXP_LO = ft(-104.0 if single else -746.0)
    # expm1(x) for x below EXPM1_LO rounds to -1 (exp(x) < 2**-(p+1)).
    EXPM1_LO = ft(-18.0 if single else -38.0)
    LOG2E = ft(1.0 / math.log(2.0))   # only picks k; its rounding is harmless
    # Cody-Waite ln2 = LN2_HI + LN2_LO; LN2_HI has p - 11 bits so k*LN2_HI is
    # exact for |k| < 2**11 (covers every exponent of both formats), and
    # x - k*LN2_HI is exact too (Sterbenz-like: both on the grid of x).
    _hi, _lo = _ln2_split(P - 11)
    LN2_HI, LN2_LO = ft(_hi), ft(_lo)
    LN2 = ft(math.log(2.0))
    exp_poly = _horner(_EXP_P32 if single else _EXP_P64, ft)
    log_poly = _horner(_LOG_T32 if single else _LOG_T64, ft)
    # log's range split: m in [sqrt(1/2), sqrt(2)); OFF is the bit pattern of
    # sqrt(1/2) so that (bits - OFF) >> MANT is the exponent of that range.
    OFF = it(np.array(np.sqrt(0.5), dtype=ft).view(it))
    DEN_SCALE = ft(2.0 ** P)                      # lifts denormals to normals
    DEN_E = ft(P)
    # |x| below this: expm1(x), log1p(x), return x (x^2/2 < half an ulp of x);
    # also gives exact signed zeros and denormals.
    TINY = ft(2.0 ** -(P + 1))

    def two_sum(a, b):
        # s + e == a + b exactly (Knuth's TwoSum; no ordering needed)
        s = a + b
        bp = s - a
        ap = s - bp
        return s, (a - ap) + (b - bp)

    two_sum = _vm(two_sum)

    def sum4(a, b, c, d):
        # a + b + c + d with a, b, c summed exactly (two TwoSums) and only
        # the final addition of the small remainder rounding: d and the
        # errors are tiny compared with the result in every use here
        s1, e1 = two_sum(a, b)
        s2, e2 = two_sum(s1, c)
        return s2 + (e2 + (e1 + d))

    sum4 = _vm(sum4)

    def pow2(k):
        # 2**k for EMIN <= k <= MAXE, built from the exponent bits
        return it((k + BIAS) << MANT).view(ft)

    pow2 = _vm(pow2)

    def exp_reduce(xc):
        # xc finite, clamped.  exp(xc) = 2**k * (1 + hi + t) with hi exact:
        # Cody-Waite r = xc - k ln2 = hi + lo, then exp(r) - 1 - hi = lo +
        # r^2 P(r) = t, small (|t| < 0.09), so its rounding hardly matters
        kf = np.rint(xc * LOG2E)
        hi = xc - kf * LN2_HI                     # exact
        lo = -(kf * LN2_LO)
        r = hi + lo
        rl = (hi - r) + lo                        # r + rl == hi + lo
        # d(r^2 P(r))/dr ~ r: rl*r carries the rounding of r into t
        t = lo + (r * r * exp_poly(r) + rl * r)
        return it(kf), hi, t

    exp_reduce = _vm(exp_reduce)

    def exp(x):
        x = ft(x)
        # clamp; NaN goes to EXP_HI so the float->int conversion is defined
        # (fptosi of NaN is poison in LLVM); it is restored at the end
        xc = EXP_HI if not (x <= EXP_HI) else x
        xc = EXP_LO if xc < EXP_LO else xc
        k, hi, t = exp_reduce(xc)
        # 1 + hi + t with the error of 1 + hi recovered exactly (Fast2Sum,
        # |hi| < 1): one final rounding instead of two
        s = ONE + hi
        y = s + (((ONE - s) + hi) + t)
        k1 = it(k >> I1)
        k2 = it(k - k1)
        # two power-of-two factors so that 2**k may be outside the normal
        # range: y*2**k1 is exact, the second product rounds once (correct
        # denormals, overflow to inf)
        res = (y * pow2(k1)) * pow2(k2)
        return res if x == x else x

    def _log_core(u):
        # u > 0 normal (anything else gives garbage the caller selects away):
        # u = 2**e m, m in [sqrt(1/2), sqrt(2)); returns (e as float, m - 1)
        # so that log(u) = e ln2 + log1p(m - 1)
        iu = ft(u).view(it)
        e = it((iu - OFF) >> MANT)
        m = it(iu - (e << MANT)).view(ft)          # in [sqrt(1/2), sqrt(2))
        f = m - ONE                               # exact (Sterbenz)
        return ft(e), f

    _log_core = _vm(_log_core)

    def log(x):
        x = ft(x)
        sub = x < MIN_NORMAL                      # denormal, zero or negative
        xs = x * DEN_SCALE if sub else x
        ef, f = _log_core(xs)
        ef = ef - DEN_E if sub else ef
        # log1p(f) = f - (f^2/2 - s (f^2/2 + R)), s = f/(2+f), R = z T(z):
        # the usual rearrangement of 2 atanh(s) that keeps f exact and the
        # rounded parts small
        s = f / (TWO + f)
        z = s * s
        hfsq = HALF * f * f
        R = z * log_poly(z)
        res = ef * LN2_HI + (f - (hfsq - (s * (hfsq + R) + ef * LN2_LO)))
        res = NAN if x < ZERO else res
        res = NINF if x == ZERO else res
        return x if not (x < INF) else res        # +inf and NaN pass through

    def log1p(x):
        x = ft(x)
        u = ONE + x
        # TwoSum: c is the exact rounding error of 1 + x
        bp = u - ONE
        ap = u - bp
        c = (ONE - ap) + (x - bp)
        us = u if u > ZERO else ONE               # keep the bit tricks defined
        ef, f = _log_core(us)
        s = f / (TWO + f)
        z = s * s
        hfsq = HALF * f * f
        R = z * log_poly(z)
        # log1p(x) = log(u + c) = log(u) + c/u (c/u < 2**-p)
        res = ef * LN2_HI + (f - (hfsq - (s * (hfsq + R) + (ef * LN2_LO + c / us))))
        res = x if abs(x) < TINY else res
        res = NAN if x < -ONE else res
        res = NINF if x == -ONE else res
        return x if not (x < INF) else res

    def expm1_parts(xc):
        # xc finite in [EXPM1_LO, EXP_HI].  exp(xc) = tk + b + c with
        # tk = 2**k, b = 2**k hi (exact), c = 2**k t.  For k = emax + 1
        # the parts are those of exp(xc)/2 (to be doubled by the caller).
        k, hi, t = exp_reduce(xc)
        kk = it(k - I1) if k > MAXE else k
        tk = pow2(kk)
        return k, tk, tk * hi, tk * t

    expm1_parts = _vm(expm1_parts)

    def expm1(x):
        x = ft(x)
        xc = EXP_HI if not (x <= EXP_HI) else x
        xc = EXPM1_LO if xc < EXPM1_LO else xc
        k, tk, b, c = expm1_parts(xc)
        y = sum4(tk, -ONE, b, c)                  # 2**k - 1 + 2**k (hi + t)
        y = y * TWO if k > MAXE else y
        res = x if abs(x) < TINY else y
        return res if x == x else x

    def tanh(x):
        x = ft(x)
        a = abs(x)
        # tanh|x| = (1 - E)/(1 + E), E = exp(-2|x|) = tk (1 + hi + t) <= 1.
        # Numerator and denominator are each assembled from the exact parts
        # with one rounding: no cancellation near 0, no overflow, and the
        # quotient is exactly 1 once E < 2**-(p+1).
        y = -TWO * a
        y = EXPM1_LO if not (y >= EXPM1_LO) else y      # NaN -> finite
        k, tk, b, c = expm1_parts(y)
        num = sum4(ONE, -tk, -b, -c)                    # 1 - E
        den = sum4(ONE, tk, b, c)                       # 1 + E
        res = ft(math.copysign(num / den, x))
        res = x if a < TINY else res                    # -0.0, denormals
        return res if x == x else x

    def sigmoid(x):
        x = ft(x)
        # e = exp(-|x|) <= 1 never overflows; for x < 0, e/(1+e) keeps the
        # tiny and denormal results of large negative x.  (Summing 1 + e
        # from the exact parts of e, as tanh does, gains only ~0.15 ulp
        # here: the rounding of e itself dominates, so it is not done.)
        e = exp(-abs(x))
        num = ONE if x >= ZERO else e
        return num / (ONE + e)

    def softplus(x):
        # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))  (== np.logaddexp(0, x))
        x = ft(x)
        m = x if x > ZERO else ZERO
        return m + log1p(exp(-abs(x)))

    def logaddexp(a, b):
        # log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)), as np.logaddexp
        a = ft(a)
        b = ft(b)
        m = a if a > b else b
        o = b if a > b else a
        # d = o - m <= 0 exactly as d + dl (TwoSum): the rounding of a - b
        # would otherwise be amplified by |d| in exp(d)
        d, dl = two_sum(o, -m)
        dl = dl if abs(dl) < INF else ZERO           # inf - inf: no correction
        e = exp(d)
        res = m + log1p(e + e * dl)
        res = a + LN2 if a == b else res           # equal infinities, exact ties
        return a + b if (a != a or b != b) else res

    if single:
        wide_logaddexp = wide["logaddexp"]

        def logaddexp(a, b):
            # max(a, b) + log1p(...) cancels where exp(a) + exp(b) ~ 1; in
            # float64 the float32 result keeps its relative accuracy there
            return ft(wide_logaddexp(np.float64(a), np.float64(b)))

    impl = {}
    for name, fn in (("exp", exp), ("log", log), ("log1p", log1p), ("expm1", expm1)):
        impl[name] = _public(name, ft, fn)
    exp, log1p, expm1 = impl["exp"], impl["log1p"], impl["expm1"]
    for name, fn in (("tanh", tanh), ("sigmoid", sigmoid), ("softplus", softplus),
                     ("logaddexp", logaddexp)):
        impl[name] = _public(name, ft, fn)
    return impl


# --------------------------------------------------------------------------
# sin / cos
# --------------------------------------------------------------------------
_D = np.float64
_TOPI = _D(_TWO_OVER_PI_D)
_sin_s32 = _horner(_SIN_S32, _D)
_cos_c32 = _horner(_COS_C32, _D)
_sin_s64 = _horner(_SIN_S64, _D)
_cos_c64 = _horner(_COS_C64, _D)
_PIO2_D_ = _D(_PIO2_D)


@_vm
def _reduce_ph32(x):
    """(n, f) with |x| * 2/pi = n + f (mod 4), f in about [-1/2, 1/2].

    Payne-Hanek reduction in float64 arithmetic, exact for every float32
    (see _ph_table_f32), so there is no argument range limit.
    """
    ix = np.float32(x).view(np.int32) & np.int32(0x7FFFFFFF)
    be = ix >> np.int32(23)
    mant = ix & np.int32(0x7FFFFF)
    m = mant + (np.int32(0x800000) if be > np.int32(0) else np.int32(0))
    md = _D(m)
    y0 = md * _PH32_G0[be]                                 # exact
    y0 = y0 - _D(4.0) * np.floor(y0 * _D(0.25))            # exact mod 4
    y1 = md * _PH32_G1[be]                                 # exact
    n = np.rint(y0 + y1)
    f = ((y0 - n) + y1) + md * _PH32_G2[be]                # x*2/pi - n
    return n, f * _PIO2_D_


# Cody-Waite in float64 for the bounded float32 variants: pi/2 in parts of
# 29, 29 and 53 bits, n*part exact for n < 2**24.
_C1, _C2, _C3 = (_D(v) for v in _split_pio2([29, 29, 53]))
#: sin_bounded/cos_bounded are accurate for |x| < this, NaN beyond.
SIN32_BOUNDED_RANGE = float(2.0 ** 24)
SIN64_BOUNDED_RANGE = float(2.0 ** 27)


@_vm
def _reduce_cw32(x):
    xd = abs(_D(x))
    n = np.rint(xd * _TOPI)
    return n, ((xd - n * _C1) - n * _C2) - n * _C3


@_vm
def _sincos32(n, r):
    z = r * r
    s = r + r * z * _sin_s32(z)
    c = _D(1.0) - _D(0.5) * z + z * z * _cos_c32(z)
    return np.int32(n) & np.int32(3), s, c


@_vm
def _finish_sin32(x, q, s, c):
    v = c if (q & np.int32(1)) != np.int32(0) else s
    v = -v if (q & np.int32(2)) != np.int32(0) else v
    v = -v if x < np.float32(0) else v
    res = np.float32(v)
    res = x if abs(x) < np.float32(2.0 ** -12) else res    # -0.0, denormals
    return res if abs(x) < np.float32(np.inf) else x - x    # inf, NaN -> NaN


@_vm
def _finish_cos32(x, q, s, c):
    v = s if (q & np.int32(1)) != np.int32(0) else c
    v = -v if ((q + np.int32(1)) & np.int32(2)) != np.int32(0) else v
    res = np.float32(v)
    return res if abs(x) < np.float32(np.inf) else x - x


def _sin_f32(x):
    x = np.float32(x)
    q, s, c = _sincos32(*_reduce_ph32(x))
    return _finish_sin32(x, q, s, c)


def _cos_f32(x):
    x = np.float32(x)
    q, s, c = _sincos32(*_reduce_ph32(x))
    return _finish_cos32(x, q, s, c)


def _sin_bounded_f32(x):
    x = np.float32(x)
    q, s, c = _sincos32(*_reduce_cw32(x))
    res = _finish_sin32(x, q, s, c)
    return res if abs(x) < np.float32(SIN32_BOUNDED_RANGE) else x - x + np.float32(np.nan)


def _cos_bounded_f32(x):
    x = np.float32(x)
    q, s, c = _sincos32(*_reduce_cw32(x))
    res = _finish_cos32(x, q, s, c)
    return res if abs(x) < np.float32(SIN32_BOUNDED_RANGE) else x - x + np.float32(np.nan)


# ---- float64 ----------------------------------------------------------
# |x| < SIN64_CW_RANGE: Cody-Waite with the five parts of pi/2 above.
# The closest double to a multiple of pi/2 below 2**28 is about 2**-60 away
# from it, the reduction error is below 2**-127: plenty.
# Larger |x|: Payne-Hanek from a table indexed by the exponent (below).
# Both reductions run for every element (branch-free); the select picks one.
_P1, _P2, _P3, _P4, _P5 = (_D(v) for v in _PIO2_64)
SIN64_CW_RANGE = float(2.0 ** 27)
_BE0_64 = 1023 + 27            # smallest biased exponent that uses the table


def _ph_table_f64():
    """Rows (g0..g4, g5) for float64 biased exponents _BE0_64..2046.

    |x| = M * 2**s, M < 2**53 an integer, s = e - 1075 >= -25.  As for float32
    only G = (2**s * 2/pi) mod 4 matters.  G is cut at fixed binary positions
    into 24-bit chunks g_j (bits of weight 2**(1-24j) .. 2**(-22-24j)) and a
    rounded tail g5 (weights below 2**-118).  With M = Mh 2**26 + Ml
    (Mh < 2**27, Ml < 2**26) every product Mh*g_j, Ml*g_j is exact, Mh 2**26 g0
    is a multiple of 16 (vanishes mod 4), and the partial sums of the big
    terms taken mod 4 stay exact (see _reduce_ph64).
    """
    B = _PI_BITS
    rows = np.zeros((2047 - _BE0_64, 6), dtype=np.float64)
    for e in range(_BE0_64, 2047):
        s = e - 1075
        num = _TWO_OVER_PI_INT
        if B - s + 2 < num.bit_length():
            num &= (1 << (B - s + 2)) - 1
        row = []
        for j in range(5):
            base = B - s - 22 - 24 * j          # bit index of weight 2**(-22-24j)
            row.append(math.ldexp((num >> base) & 0xFFFFFF, -22 - 24 * j))
        base4 = B - s - 22 - 24 * 4
        row.append(_int_to_float(num & ((1 << base4) - 1), s - B))
        rows[e - _BE0_64] = row
    return rows


_PH64 = _ph_table_f64()
# one contiguous array per column: plain scaled-index gathers
_PH64_G = tuple(np.ascontiguousarray(_PH64[:, j]) for j in range(6))
_PH64_G0, _PH64_G1, _PH64_G2, _PH64_G3, _PH64_G4, _PH64_G5 = _PH64_G
_PIO2_HI = _D(_int_to_float((_PI_INT >> 1) >> ((_PI_INT >> 1).bit_length() - 26),
                            (_PI_INT >> 1).bit_length() - 26 - (_PI_BITS + 64)))
_PIO2_MID = _D(_PIO2_D - float(_PIO2_HI))      # exact: the rest of pi/2 rounded
_PIO2_TAIL = _D(float(Fraction(_PI_INT >> 1, 1 << (_PI_BITS + 64)) - Fraction(_PIO2_D)))
_MASK26 = np.int64((1 << 26) - 1)
_HIGH27 = np.int64(~((1 << 27) - 1))


@_vm
def _two_sum(a, b):
    s = a + b
    bp = s - a
    ap = s - bp
    return s, (a - ap) + (b - bp)


@_vm
def _mod4(v):
    # exact for any double v >= 0 (v/4, floor and 4*floor are exact)
    return v - _D(4.0) * np.floor(v * _D(0.25))


@_vm
def _reduce_cw64(ax):
    """|x| = n pi/2 + h + l for 0 <= ax < SIN64_CW_RANGE (double-double h+l)."""
    n = np.rint(ax * _TOPI)
    r1 = ax - n * _P1                  # exact: n*_P1 exact, both on one grid
    h, l = _two_sum(r1, -(n * _P2))    # n*_P2, n*_P3, n*_P4 exact
    h, e = _two_sum(h, -(n * _P3))
    l = l + e
    h, e = _two_sum(h, -(n * _P4))
    l = (l + e) - n * _P5
    hh = h + l
    return n, hh, l - (hh - h)


@_vm
def _reduce_ph64(ax):
    """Payne-Hanek for ax >= 2**27 (garbage below, selected away)."""
    ix = np.float64(ax).view(np.int64)
    be = ix >> np.int64(52)
    row = be - np.int64(_BE0_64)
    row = np.int64(0) if row < np.int64(0) else row
    row = np.int64(2046 - _BE0_64) if row > np.int64(2046 - _BE0_64) else row
    mant = (ix & np.int64((1 << 52) - 1)) | np.int64(1 << 52)
    mh = _D(mant >> np.int64(26)) * _D(2.0 ** 26)
    ml = _D(mant & _MASK26)
    g0 = _PH64_G0[row]
    g1 = _PH64_G1[row]
    g2 = _PH64_G2[row]
    g3 = _PH64_G3[row]
    g4 = _PH64_G4[row]
    g5 = _PH64_G5[row]
    # coarse part, exact: L0, H1 (grid 2**-22, 2**-20), L1, H2 (2**-46, 2**-44),
    # every partial sum < 8 on a grid >= 2**-46, so < 2**50 ulps: exact
    c = _mod4(_mod4(ml * g0) + _mod4(mh * g1))
    c = _mod4(c + _mod4(ml * g1))
    c = _mod4(c + _mod4(mh * g2))
    h3 = mh * g3
    n = np.rint(c + h3)
    # fine part as double-double; each TwoSum is exact, so cancellation in
    # the leading terms leaves the small ones intact (|x 2/pi - n| can be as
    # small as 2**-61 for doubles)
    h, lo = _two_sum(c - n, h3)
    h, e = _two_sum(h, ml * g2)
    lo = lo + e
    h, e = _two_sum(h, mh * g4)
    lo = lo + e
    h, e = _two_sum(h, ml * g3)
    lo = lo + e
    lo = lo + (mh * g5 + (ml * g4 + ml * g5))
    fh = h + lo
    fl = lo - (fh - h)
    # (fh + fl) * pi/2 in double-double: fh split by masking its low 27 bits,
    # pi/2 = _PIO2_HI (26 bits) + _PIO2_MID, so the partial products are exact
    fhh = np.int64(np.float64(fh).view(np.int64) & _HIGH27).view(np.float64)
    fhl = fh - fhh
    p = fh * _D(_PIO2_D)
    err = (((fhh * _PIO2_HI - p) + fhh * _PIO2_MID) + fhl * _PIO2_HI) + fhl * _PIO2_MID
    lo = err + (fl * _D(_PIO2_D) + fh * _PIO2_TAIL)
    rh = p + lo
    return n, rh, lo - (rh - p)


@_vm
def _sincos64(n, h, l):
    """(q, sin(h+l), cos(h+l)), q = n mod 4, for |h + l| <~ pi/4."""
    z = h * h
    # sin(h + l) ~ sin h + l cos h; the l-terms are folded into the small part
    s = h + (h * z * _sin_s64(z) + l * (_D(1.0) - _D(0.5) * z))
    # cos(h + l) ~ cos h - l h; 1 - z/2 with its rounding error recovered
    hz = _D(0.5) * z
    w = _D(1.0) - hz
    c = w + (((_D(1.0) - w) - hz) + (z * z * _cos_c64(z) - h * l))
    return np.int64(n) & np.int64(3), s, c


@_vm
def _reduce_f64(x):
    ax = abs(x)
    big = ax >= SIN64_CW_RANGE
    axc = _D(0.0) if big else ax                 # keep n*_P1 etc. exact
    n1, h1, l1 = _reduce_cw64(axc)
    n2, h2, l2 = _reduce_ph64(ax)
    n = n2 if big else n1
    h = h2 if big else h1
    l = l2 if big else l1
    return n, h, l


@_vm
def _finish_sin64(x, q, s, c):
    v = c if (q & np.int64(1)) != np.int64(0) else s
    v = -v if (q & np.int64(2)) != np.int64(0) else v
    v = -v if x < np.float64(0) else v
    v = x if abs(x) < np.float64(2.0 ** -27) else v     # -0.0, denormals
    return v if abs(x) < np.float64(np.inf) else x - x  # inf, NaN -> NaN


@_vm
def _finish_cos64(x, q, s, c):
    v = s if (q & np.int64(1)) != np.int64(0) else c
    v = -v if ((q + np.int64(1)) & np.int64(2)) != np.int64(0) else v
    return v if abs(x) < np.float64(np.inf) else x - x


def _sin_f64(x):
    x = np.float64(x)
    q, s, c = _sincos64(*_reduce_f64(x))
    return _finish_sin64(x, q, s, c)


def _cos_f64(x):
    x = np.float64(x)
    q, s, c = _sincos64(*_reduce_f64(x))
    return _finish_cos64(x, q, s, c)


def _sin_bounded_f64(x):
    x = np.float64(x)
    ax = abs(x)
    ok = ax < SIN64_BOUNDED_RANGE
    q, s, c = _sincos64(*_reduce_cw64(ax if ok else np.float64(0.0)))
    res = _finish_sin64(x, q, s, c)
    return res if ok else x - x + np.float64(np.nan)


def _cos_bounded_f64(x):
    x = np.float64(x)
    ax = abs(x)
    ok = ax < SIN64_BOUNDED_RANGE
    q, s, c = _sincos64(*_reduce_cw64(ax if ok else np.float64(0.0)))
    res = _finish_cos64(x, q, s, c)
    return res if ok else x - x + np.float64(np.nan)


_IMPL64 = _build(np.float64)
_IMPL32 = _build(np.float32, wide=_IMPL64)
_IMPL32["sin"] = _public("sin", np.float32, _sin_f32)
_IMPL32["cos"] = _public("cos", np.float32, _cos_f32)
_IMPL64["sin"] = _public("sin", np.float64, _sin_f64)
_IMPL64["cos"] = _public("cos", np.float64, _cos_f64)
for _ft, _impl, _sfx in ((np.float32, _IMPL32, "f32"), (np.float64, _IMPL64, "f64")):
    _impl["sin_bounded"] = _public("sin_bounded", _ft, globals()[f"_sin_bounded_{_sfx}"])
    _impl["cos_bounded"] = _public("cos_bounded", _ft, globals()[f"_cos_bounded_{_sfx}"])

exp_f32, exp_f64 = _IMPL32["exp"], _IMPL64["exp"]
log_f32, log_f64 = _IMPL32["log"], _IMPL64["log"]
log1p_f32, log1p_f64 = _IMPL32["log1p"], _IMPL64["log1p"]
expm1_f32, expm1_f64 = _IMPL32["expm1"], _IMPL64["expm1"]
tanh_f32, tanh_f64 = _IMPL32["tanh"], _IMPL64["tanh"]
sigmoid_f32, sigmoid_f64 = _IMPL32["sigmoid"], _IMPL64["sigmoid"]
softplus_f32, softplus_f64 = _IMPL32["softplus"], _IMPL64["softplus"]
logaddexp_f32, logaddexp_f64 = _IMPL32["logaddexp"], _IMPL64["logaddexp"]
sin_f32, sin_f64 = _IMPL32["sin"], _IMPL64["sin"]
cos_f32, cos_f64 = _IMPL32["cos"], _IMPL64["cos"]
sin_bounded_f32, sin_bounded_f64 = _IMPL32["sin_bounded"], _IMPL64["sin_bounded"]
cos_bounded_f32, cos_bounded_f64 = _IMPL32["cos_bounded"], _IMPL64["cos_bounded"]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
FUNCTIONS = {name: {_F32: _IMPL32[name], _F64: _IMPL64[name]} for name in _IMPL32}
#: number of arguments of each function
ARITY = {name: (2 if name == "logaddexp" else 1) for name in FUNCTIONS}


if __name__ == "__main__":
    # Re-fit the coefficient tables and print them beside the stored ones (a tool for changing them).
    for table, (coefs, fit_error) in derive_coefficients().items():
        print(f"{table}: fit error 2^{math.log2(fit_error):.1f}, "
              f"stored error 2^{math.log2(stored_table_error(table)):.1f}")
        print("    " + ", ".join(float(c).hex() for c in coefs))
