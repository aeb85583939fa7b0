"""Accuracy, special values, vectorisation and pure-Python fallback of
tracegrad.compiler.vecmath.

Every accuracy check runs the functions the way generated kernels do: inside
an ``@njit(fastmath=FASTMATH)`` loop over arrays.  References are numpy in a
wider type: float64 for the float32 functions, ``np.longdouble`` (x87 80-bit)
for the float64 ones.  Errors are measured in ulps of the result dtype (see
``ulp_error``).  The compiled loops are cached per function and shared by all
tests.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
import textwrap

import llvmlite.binding as llvm
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from tracegrad.compiler import vecmath as vm

DTYPES = (np.float32, np.float64)
NAMES = sorted(vm.FUNCTIONS)
UNARY = [n for n in NAMES if vm.ARITY[n] == 1]
HP = {np.float32: np.float64, np.float64: np.longdouble}
LONGDOUBLE_OK = np.finfo(np.longdouble).nmant >= 63
PI_DIGITS = "3.14159265358979323846264338327950288"


def _need_reference(dt):
    if dt is np.float64 and not LONGDOUBLE_OK:
        pytest.skip("np.longdouble is not the x87 80-bit type: no float64 reference")


# --------------------------------------------------------------------------
# references and ulp measure
# --------------------------------------------------------------------------
BOUNDED_RANGE = {np.float32: vm.SIN32_BOUNDED_RANGE, np.float64: vm.SIN64_BOUNDED_RANGE}


def reference(name, dt, *args):
    """High-precision reference for the dt function; args in the wider type."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            (x,) = args
            one = x.dtype.type(1)
            return one / (one + np.exp(-x))
        if name == "softplus":
            (x,) = args
            return np.logaddexp(x.dtype.type(0), x)
        if name.endswith("_bounded"):
            (x,) = args
            r = getattr(np, name[:3])(x)
            return np.where(np.abs(x) < BOUNDED_RANGE[dt], r, np.nan)
        return getattr(np, name)(*args)


def ulp_error(y, ref, dt):
    """|y - ref| in ulps of dt at ref (ref in the wider type).

    ulp(v) = 2**(e - p + 1) for 2**e <= |v| < 2**(e+1), at least the smallest
    denormal.  Values beyond the overflow threshold count as +-2**(emax+1),
    so an inf result for a reference that rounds to inf has error 0 and a
    finite result next to the threshold is measured against that value.
    """
    hp = ref.dtype.type
    fi = np.finfo(dt)
    p = fi.nmant + 1
    emin = fi.minexp + 1          # frexp exponent of the smallest normal
    big = hp(2) ** (fi.maxexp)
    ref = np.clip(ref, -big, big)
    yy = y.astype(hp)
    yy = np.where(np.isinf(yy), np.copysign(big, yy), yy)
    _, e = np.frexp(ref)
    ulp = np.ldexp(hp(1), (np.maximum(e, emin) - p).astype(np.int32))
    return np.abs(yy - ref) / ulp


def ulp_of(v, dt):
    """ulp of dt at the wide-type values v (as in ulp_error)."""
    fi = np.finfo(dt)
    _, e = np.frexp(v)
    return np.ldexp(v.dtype.type(1), (np.maximum(e, fi.minexp + 1) - fi.nmant - 1).astype(np.int32))


# --------------------------------------------------------------------------
# kernels, compiled once per function (as the code generator would)
# --------------------------------------------------------------------------
@functools.cache
def kernel(name, dt):
    f = vm.FUNCTIONS[name][np.dtype(dt)]
    if vm.ARITY[name] == 1:
        @njit(fastmath=vm.FASTMATH)
        def k(a, out):
            for i in range(a.size):
                out[i] = f(a[i])
    else:
        @njit(fastmath=vm.FASTMATH)
        def k(a, b, out):
            for i in range(a.size):
                out[i] = f(a[i], b[i])
    return k


def run(name, dt, *args):
    args = [np.ascontiguousarray(a, dtype=dt) for a in args]
    out = np.empty_like(args[0])
    kernel(name, dt)(*args, out)
    return out


# --------------------------------------------------------------------------
# sample sets
# --------------------------------------------------------------------------
def log_uniform(rng, dt, n, lo=None, hi=None, signs=True):
    fi = np.finfo(dt)
    lo = float(fi.smallest_subnormal) if lo is None else lo
    hi = float(fi.max) if hi is None else hi
    m = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    if signs:
        m *= rng.choice([-1.0, 1.0], n)
    return m.astype(dt)


def around(rng, dt, centre, n, spread_ulps=1 << 12):
    """n values within +-spread ulps of centre (as integer steps)."""
    c = np.array(centre, dtype=dt)
    steps = rng.integers(-spread_ulps, spread_ulps, n)
    it = np.int32 if dt is np.float32 else np.int64
    bits = c.view(it) + steps.astype(it)
    return bits.view(dt)


def pio2_multiples(dt, ks):
    """Floats nearest to k pi/2 (the hard cases of trig range reduction)."""
    ld = np.longdouble(PI_DIGITS) / 2 if LONGDOUBLE_OK else np.pi / 2
    return (np.asarray(ks, dtype=np.longdouble) * ld).astype(dt)


def samples(name, dt, seed=0):
    rng = np.random.default_rng(seed + (0 if dt is np.float32 else 1))
    single = dt is np.float32
    n = 40_000 if single else 20_000
    parts = [
        log_uniform(rng, dt, n),                                 # every magnitude
        rng.uniform(-1, 1, n).astype(dt),
        rng.uniform(-10, 10, n).astype(dt),
        log_uniform(rng, dt, n // 4, hi=1e-3),                   # near 0, denormals
        around(rng, dt, 1.0, n // 8), around(rng, dt, -1.0, n // 8),
    ]
    edge = {np.float32: (88.72, 103.97, 17.3, 9.01), np.float64: (709.78, 745.13, 37.4, 19.1)}[dt]
    if name in ("exp", "expm1", "sigmoid", "softplus", "tanh", "logaddexp"):
        for c in edge:
            parts += [rng.uniform(c - 1, c + 1, n // 8).astype(dt),
                      rng.uniform(-c - 1, -c + 1, n // 8).astype(dt)]
    if name in ("log", "log1p"):
        parts += [np.abs(log_uniform(rng, dt, n)), around(rng, dt, 0.5, n // 8),
                  around(rng, dt, 2.0, n // 8), rng.uniform(-1, -0.5, n // 8).astype(dt),
                  around(rng, dt, -1.0, n // 8, spread_ulps=64)]
    if name in ("sin", "cos", "sin_bounded", "cos_bounded"):
        big = 3e38 if single else 1.7e308
        parts += [rng.uniform(-1e4, 1e4, n).astype(dt), log_uniform(rng, dt, n, lo=1e4, hi=big),
                  pio2_multiples(dt, np.arange(-20000, 20000)),
                  pio2_multiples(dt, rng.integers(1, 2**60 if not single else 2**30, 4000)),
                  pio2_multiples(dt, rng.integers(1, 2**26 if not single else 2**23, 4000))]
    return np.concatenate(parts)


def special_values(dt):
    fi = np.finfo(dt)
    tiny, sub = fi.tiny, fi.smallest_subnormal
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, sub, -sub, tiny, -tiny,
                     tiny / 3, -tiny / 3, 3 * sub, fi.max, -fi.max, 1.0, -1.0, 2.0, -2.0,
                     fi.eps, -fi.eps], dtype=dt)


def check_against_reference(name, dt, args, out):
    """Returns (max ulp error, arg tuple of the worst case) and asserts that
    NaN / inf / zero results are exactly those of the rounded reference."""
    hp = HP[dt]
    ref = reference(name, dt, *[a.astype(hp) for a in args])
    with np.errstate(all="ignore"):
        expect = ref.astype(dt)                     # correctly rounded value
    nan = np.isnan(expect)
    bad = nan != np.isnan(out)
    assert not bad.any(), f"NaN mismatch at {[a[bad][:5] for a in args]}: {out[bad][:5]}"
    inf = np.isinf(expect) & np.isinf(ref)
    bad = inf & (out != expect)
    assert not bad.any(), f"inf mismatch at {[a[bad][:5] for a in args]}: {out[bad][:5]}"
    zero = ref == 0
    bad = zero & ((out != 0) | (np.signbit(out) != np.signbit(expect)))
    assert not bad.any(), f"zero mismatch at {[a[bad][:5] for a in args]}: {out[bad][:5]}"
    fin = ~nan & ~zero & ~inf
    if name == "logaddexp":
        # documented as an absolute bound: ulps of max(|result|, |max(a, b)|)
        # (m + log1p(e) cancels where exp(a) + exp(b) ~ 1, as in numpy)
        m = np.maximum(args[0], args[1]).astype(hp)
        scale = np.maximum(np.abs(ref[fin]), np.abs(m[fin]))
        err = ulp_error(out[fin], ref[fin], dt) * ulp_of(ref[fin], dt) / ulp_of(scale, dt)
    else:
        err = ulp_error(out[fin], ref[fin], dt)
    if err.size == 0:
        return 0.0, None
    i = int(np.argmax(err))
    return float(err[i]), tuple(a[fin][i] for a in args)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def test_exports():
    assert vm.FASTMATH == {"arcp", "contract", "afn", "reassoc", "nsz"}
    assert set(NAMES) >= {"exp", "log", "log1p", "expm1", "tanh", "sigmoid", "sin", "cos",
                          "softplus", "logaddexp"}
    for name in NAMES:
        assert set(vm.FUNCTIONS[name]) == {np.dtype(np.float32), np.dtype(np.float64)}
        for dt in DTYPES:
            f = vm.FUNCTIONS[name][np.dtype(dt)]
            bound = vm.MAX_ULP[(name, np.dtype(dt).name)]
            assert f is getattr(vm, f"{name}_{'f32' if dt is np.float32 else 'f64'}")
            assert f"{bound} ulp" in f.__doc__


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", UNARY)
def test_accuracy(name, dt):
    _need_reference(dt)
    x = samples(name, dt)
    out = run(name, dt, x)
    assert out.dtype == dt
    err, where = check_against_reference(name, dt, (x,), out)
    bound = vm.MAX_ULP[(name, np.dtype(dt).name)]
    assert err <= bound, f"{name} {dt.__name__}: {err:.3f} ulp at x={where}"


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_accuracy_logaddexp(dt):
    _need_reference(dt)
    rng = np.random.default_rng(5)
    n = 50_000
    a = np.concatenate([rng.uniform(-50, 50, n), log_uniform(rng, np.float64, n, hi=1e30)]).astype(dt)
    b = np.concatenate([a[:n] + rng.normal(0, 3, n).astype(dt), rng.permutation(a[n:])]).astype(dt)
    out = run("logaddexp", dt, a, b)
    err, where = check_against_reference("logaddexp", dt, (a, b), out)
    assert err <= vm.MAX_ULP[("logaddexp", np.dtype(dt).name)], f"{err:.3f} ulp at {where}"
    # symmetric
    assert np.array_equal(out, run("logaddexp", dt, b, a), equal_nan=True)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", UNARY)
def test_special_values(name, dt):
    _need_reference(dt)
    x = special_values(dt)
    out = run(name, dt, x)
    # classes (NaN, +-inf, +-0) exactly as the correctly rounded reference,
    # which for these inputs is what numpy returns
    err, where = check_against_reference(name, dt, (x,), out)
    assert err <= vm.MAX_ULP[(name, np.dtype(dt).name)], f"{err:.3f} ulp at {where}"
    with np.errstate(all="ignore"):
        npy = {"softplus": lambda v: np.logaddexp(dt(0), v)}.get(name, getattr(np, name, None))
        if npy is not None:
            want = npy(x)
            cls = ~np.isfinite(want) | (want == 0)
            assert np.array_equal(np.isnan(out[cls]), np.isnan(want[cls]))
            fin = cls & ~np.isnan(want)
            assert np.array_equal(out[fin], want[fin])
            assert np.array_equal(np.signbit(out[fin]), np.signbit(want[fin]))


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_special_values_logaddexp(dt):
    v = np.array([0.0, -0.0, 1.0, -5.0, np.inf, -np.inf, np.nan, np.finfo(dt).max], dtype=dt)
    a, b = (m.ravel() for m in np.meshgrid(v, v))
    out = run("logaddexp", dt, a, b)
    with np.errstate(all="ignore"):
        want = np.logaddexp(a, b)
    assert np.array_equal(np.isnan(out), np.isnan(want))
    cls = np.isinf(want)
    assert np.array_equal(out[cls], want[cls])


@pytest.mark.parametrize("name", UNARY)
def test_edges(name):
    """Saturation, overflow and underflow edges, exactly."""
    for dt in DTYPES:
        f = vm.FUNCTIONS[name][np.dtype(dt)]
        fi = np.finfo(dt)
        if name == "exp":
            assert f(dt(100.0 if dt is np.float32 else 710.0)) == np.inf
            assert f(dt(-104.0 if dt is np.float32 else -746.0)) == 0.0
            assert f(-fi.max) == 0.0
            # the smallest denormal result is reachable
            assert f(dt(-103.9 if dt is np.float32 else -744.4)) == fi.smallest_subnormal
        elif name == "tanh":
            assert f(dt(20.0)) == 1.0 and f(dt(-20.0)) == -1.0 and f(fi.max) == 1.0
        elif name == "sigmoid":
            assert f(fi.max) == 1.0 and f(-fi.max) == 0.0 and f(dt(0.0)) == 0.5
        elif name == "expm1":
            assert f(dt(-50.0)) == -1.0 and f(fi.max) == np.inf
        elif name == "log":
            assert f(dt(1.0)) == 0.0 and not np.signbit(f(dt(1.0)))
            assert f(fi.smallest_subnormal) == pytest.approx(
                math.log(float(fi.smallest_subnormal)), rel=float(fi.eps))
        elif name == "log1p":
            assert f(dt(-1.0)) == -np.inf and np.isnan(f(dt(-1.5)))
        elif name == "softplus":
            assert f(fi.max) == fi.max and f(-fi.max) == 0.0
        elif name in ("sin", "cos"):
            assert -1.0 <= f(fi.max) <= 1.0
            if dt is np.float64 and LONGDOUBLE_OK:
                # the double nearest to a multiple of pi/2 (|x mod pi/2| ~
                # 2**-60.9): the hardest case for the Payne-Hanek reduction
                x = np.array([np.ldexp(6381956970095103.0, 797)])
                out = run(name, dt, x)
                assert ulp_error(out, reference(name, dt, x.astype(np.longdouble)), dt)[0] <= 0.5
        elif name.endswith("_bounded"):
            r = BOUNDED_RANGE[dt]
            below = np.nextafter(dt(r), dt(0))
            assert np.isnan(f(dt(r))) and np.isnan(f(-fi.max)) and not np.isnan(f(below))


# one hypothesis property per function: any float (specials included) is
# within the documented bound of the reference, with the same NaN/inf/zero
# class; plus the function's symmetry where it has one
_SYMMETRY = {"sin": -1, "tanh": -1, "cos": 1, "sin_bounded": -1, "cos_bounded": 1}


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", UNARY)
def test_property(name, dt):
    _need_reference(dt)
    f = vm.FUNCTIONS[name][np.dtype(dt)]
    width = 32 if dt is np.float32 else 64

    @settings(max_examples=100, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.floats(width=width), min_size=1, max_size=8))
    def prop(xs):
        x = np.array(xs, dtype=dt)
        out = run(name, dt, x)
        err, where = check_against_reference(name, dt, (x,), out)
        assert err <= vm.MAX_ULP[(name, np.dtype(dt).name)], (err, where)
        if name in _SYMMETRY:
            neg = run(name, dt, -x)
            assert np.array_equal(neg, _SYMMETRY[name] * out, equal_nan=True)
        if name == "sigmoid":
            s = out.astype(np.float64) + run(name, dt, -x).astype(np.float64)
            ok = ~np.isnan(x)
            assert np.all(np.abs(s[ok] - 1.0) <= 4 * np.finfo(dt).eps)
        # a scalar call from Python gives the kernel's value
        assert np.array_equal(np.array([f(v) for v in x], dtype=dt), out, equal_nan=True)

    prop()


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_property_logaddexp(dt):
    _need_reference(dt)
    width = 32 if dt is np.float32 else 64

    @settings(max_examples=100, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.floats(width=width), st.floats(width=width))
    def prop(a, b):
        x, y = np.array([a], dtype=dt), np.array([b], dtype=dt)
        out = run("logaddexp", dt, x, y)
        with np.errstate(all="ignore"):
            want = np.logaddexp(x, y)
        if np.isnan(want[0]) or np.isinf(want[0]):
            assert np.array_equal(out, want, equal_nan=True)
        else:
            err, where = check_against_reference("logaddexp", dt, (x, y), out)
            assert err <= vm.MAX_ULP[("logaddexp", np.dtype(dt).name)], (err, where)

    prop()


def test_callable_from_njit():
    """Composes inside another njit function (compiled with FASTMATH)."""
    @njit(fastmath=vm.FASTMATH)
    def softplus_by_hand(x):
        return max(x, 0.0) + vm.log1p_f64(vm.exp_f64(-abs(x)))

    for x in (-30.0, -1.0, 0.0, 2.5, 40.0):
        assert softplus_by_hand(x) == pytest.approx(vm.softplus_f64(x), rel=4e-16)


# --------------------------------------------------------------------------
# vectorisation: the loop the code generator emits must use vector registers
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_vectorises(name, dt):
    k = kernel(name, dt)
    args = [np.ones(16, dtype=dt)] * vm.ARITY[name]
    k(*args, np.empty(16, dtype=dt))
    ir = "\n".join(k.inspect_llvm().values())
    elem = "float" if dt is np.float32 else "double"
    assert re.search(rf"<\d+ x {elem}>", ir), f"{name} {dt.__name__}: loop not vectorised"
    # no scalar libm call or call to an un-inlined vecmath function remains
    calls = set(re.findall(r"call [^@\n]*@\"?([\w.$]+)", ir))
    libm = {c for c in calls
            if re.fullmatch(r"(llvm\.)?(exp2?|log2?|sin|cos|tanh|pow|expm1|log1p)(f|\.v?\d*f\d+)?", c)}
    assert not libm, libm
    assert not [c for c in calls if "compiler7vecmath" in c], calls


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_fused_loop_vectorises(dt):
    """Several functions in one loop (as fused kernels have them) still vectorise."""
    F = {n: vm.FUNCTIONS[n][np.dtype(dt)] for n in ("tanh", "sin", "exp", "log1p")}
    tanh, sin, exp, log1p = F["tanh"], F["sin"], F["exp"], F["log1p"]

    @njit(fastmath=vm.FASTMATH, error_model="numpy")
    def k(a, out):
        for i in range(a.size):
            x = a[i]
            out[i] = tanh(x) * sin(x) + log1p(exp(x))

    a = np.linspace(-3, 3, 64).astype(dt)
    out = np.empty_like(a)
    k(a, out)
    ir = "\n".join(k.inspect_llvm().values())
    elem = "float" if dt is np.float32 else "double"
    # With AVX-512 LLVM vectorises the whole loop (vector loads); on AVX2-only processors
    # (seen: AMD Zen 3) its cost model keeps the loop scalar and packs parts of the body
    # into vector registers, which is what the generic check asks for.
    whole_loop = "+avx512f" in llvm.get_host_cpu_features().flatten()
    assert re.search(rf"load <\d+ x {elem}>" if whole_loop else rf"<\d+ x {elem}>", ir)
    want = [F["tanh"](x) * F["sin"](x) + F["log1p"](F["exp"](x)) for x in a]
    np.testing.assert_allclose(out, np.array(want, dtype=dt), rtol=4 * np.finfo(dt).eps)


# --------------------------------------------------------------------------
# pure Python fallback (NUMBA_DISABLE_JIT=1)
# --------------------------------------------------------------------------
_FALLBACK_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import numba
    assert numba.config.DISABLE_JIT
    from tracegrad.compiler import vecmath as vm
    vals = json.loads(sys.argv[1])
    out = {}
    warnings.simplefilter("ignore")
    with np.errstate(all="ignore"):
        for name, per in vm.FUNCTIONS.items():
            for dt, f in per.items():
                xs = np.array(vals, dtype=dt)
                if vm.ARITY[name] == 1:
                    ys = [f(x) for x in xs]
                else:
                    ys = [f(x, y) for x, y in zip(xs, xs[::-1])]
                assert all(type(y) is dt.type for y in ys), (name, dt, {type(y) for y in ys})
                out[f"{name}:{dt.name}"] = [repr(float(y)) for y in ys]
    print(json.dumps(out))
""")


def test_disable_jit_fallback():
    vals = [0.0, -0.0, 1e-45, 5e-324, 1e-30, -0.3, 0.5, 1.0, -1.0, 3.0, -7.5, 20.0, 88.5,
            -100.0, 700.0, -740.0, 1e6, 3e38, float("inf"), float("-inf"), float("nan")]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", _FALLBACK_SCRIPT, json.dumps(vals)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, ys in got.items():
        name, dtn = key.split(":")
        dt = np.dtype(dtn).type
        xs = np.array(vals, dtype=dt)
        args = (xs,) if vm.ARITY[name] == 1 else (xs, xs[::-1].copy())
        jitted = run(name, dt, *args)
        py = np.array([float(y) for y in ys], dtype=dt)
        assert np.array_equal(np.isnan(py), np.isnan(jitted)), key
        fin = ~np.isnan(py)
        # identical up to FMA contraction, which only the compiled code does
        same = py[fin] == jitted[fin]
        with np.errstate(invalid="ignore"):
            diff = np.abs(py[fin].astype(np.float64) - jitted[fin].astype(np.float64))
        tol = 2 * np.spacing(np.abs(jitted[fin])).astype(np.float64)
        assert np.all(same | (diff <= tol)), (key, py, jitted)
        assert np.array_equal(np.signbit(py[fin]), np.signbit(jitted[fin])), key


# --------------------------------------------------------------------------
# the stored coefficient tables meet their error bounds
# --------------------------------------------------------------------------
@pytest.mark.skipif(not LONGDOUBLE_OK, reason="needs the x87 80-bit long double")
@pytest.mark.parametrize("table", sorted(vm.STORED_ERROR_LOG2))
def test_stored_coefficients_meet_their_bound(table):
    # What matters is the table as stored, not that a re-fit reproduces its last bits:
    # that depends on the platform's long double (derive_coefficients is a tool, not a gate).
    assert vm.stored_table_error(table) <= 2.0 ** vm.STORED_ERROR_LOG2[table], table


# --------------------------------------------------------------------------
# compiler/special.py: the float64 special functions kernels call (digamma, polygamma, erfinv)
# --------------------------------------------------------------------------

def test_special_functions_meet_their_stated_bounds():
    """The bounds compiler/special.py states, against scipy, on points spread over each domain."""
    import scipy.special as sp

    from tracegrad.compiler import special

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-20.0, 30.0, 3000), rng.uniform(0.0, 3.0, 3000), rng.uniform(30.0, 1e6, 300)])
    x = x[np.abs(x - np.round(x)) > 0.01]  # closer to a pole the rounding of x itself dominates
    psi = np.array([special.digamma(v) for v in x])
    assert np.max(np.abs(psi - sp.digamma(x)) / np.maximum(1.0, np.abs(sp.digamma(x)))) < 2e-14
    for n, bound in ((1, 2e-15), (2, 2e-15), (4, 2e-15), (10, 5e-14)):
        ours, ref = np.array([special.polygamma(n, v) for v in x]), sp.polygamma(n, x)
        assert np.max(np.abs(ours - ref) / np.abs(ref)) < bound, n
    y = np.concatenate([rng.uniform(-1.0, 1.0, 3000), 1.0 - np.logspace(-16, -1, 100), [1e-300, -1e-10]])
    ours, ref = np.array([special.erfinv(v) for v in y]), sp.erfinv(y)
    assert np.max(np.abs(ours - ref) / np.abs(ref)) < 4e-16 * 2


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -0.5, -2.5, math.inf, -math.inf, math.nan, -2.0 ** 100, 1e308])
def test_special_functions_keep_scipys_special_values(x):
    """Poles, infinities and signed zeros as scipy gives them (eager mode's values), NaN in the same places."""
    import scipy.special as sp

    from tracegrad.compiler import special
    pairs = [(special.digamma(x), sp.digamma(x))] + [(special.polygamma(n, x), sp.polygamma(n, x)) for n in (1, 2)]
    pairs += [(special.erfinv(v), sp.erfinv(v)) for v in (x, math.tanh(x) if x == x else x)]
    for ours, ref in pairs:
        assert (ours == ref and math.copysign(1, ours) == math.copysign(1, ref)) or (ours != ours and ref != ref) \
            or math.isclose(ours, ref, rel_tol=2e-14, abs_tol=2e-14), (x, ours, ref)
