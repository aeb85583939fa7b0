"""vecmath against numpy and against numba loops calling np.* (scalar libm).

Run:  python benchmarks/vecmath_bench.py [--n 1048576] [--rounds 15]
                                          [--functions exp,tanh] [--dtypes float32]

For every function and dtype it times, on the same 1M-element input:

* ``numpy``     the numpy ufunc expression (allocation-free where numpy can);
* ``np-numba``  an ``@njit(fastmath=FASTMATH)`` loop calling ``np.exp`` & co.,
                which numba lowers to scalar libm calls;
* ``vecmath``   the same loop calling ``tracegrad.compiler.vecmath``.

The three variants are timed interleaved, round after round, and the best
round of each is reported, so the ratios come from one run on one machine
state (this machine is shared: absolute times drift, ratios much less).
``vec`` is the vector type the vecmath loop loads its input with (empty when
the loop did not vectorise); LLVM prefers 256-bit vectors on this CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from numba import njit

from tracegrad.compiler import vecmath as vm

try:  # numpy has no logistic function
    from scipy.special import expit as _expit
except ImportError:  # pragma: no cover
    _expit = None


def _np_sigmoid(a, out):
    if _expit is not None:
        return _expit(a, out=out)
    np.negative(a, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


NUMPY = {
    "exp": lambda a, out: np.exp(a, out=out),
    "log": lambda a, out: np.log(a, out=out),
    "log1p": lambda a, out: np.log1p(a, out=out),
    "expm1": lambda a, out: np.expm1(a, out=out),
    "tanh": lambda a, out: np.tanh(a, out=out),
    "sigmoid": _np_sigmoid,
    "softplus": lambda a, out: np.logaddexp(a.dtype.type(0), a, out=out),
    "sin": lambda a, out: np.sin(a, out=out),
    "cos": lambda a, out: np.cos(a, out=out),
    "sin_bounded": lambda a, out: np.sin(a, out=out),
    "cos_bounded": lambda a, out: np.cos(a, out=out),
    "logaddexp": lambda a, b, out: np.logaddexp(a, b, out=out),
}

# scalar bodies with np.* for the "np-numba" loops (libm calls)
_NP_SCALAR = {
    "exp": lambda x: np.exp(x),
    "log": lambda x: np.log(x),
    "log1p": lambda x: np.log1p(x),
    "expm1": lambda x: np.expm1(x),
    "tanh": lambda x: np.tanh(x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: max(x, 0) + np.log1p(np.exp(-abs(x))),
    "sin": lambda x: np.sin(x),
    "cos": lambda x: np.cos(x),
    "sin_bounded": lambda x: np.sin(x),
    "cos_bounded": lambda x: np.cos(x),
    "logaddexp": lambda a, b: np.logaddexp(a, b),
}


def _loop1(f):
    @njit(fastmath=vm.FASTMATH)
    def k(a, out):
        for i in range(a.size):
            out[i] = f(a[i])
    return k


def _loop2(f):
    @njit(fastmath=vm.FASTMATH)
    def k(a, b, out):
        for i in range(a.size):
            out[i] = f(a[i], b[i])
    return k


def inputs(name, dt, n, rng):
    if name == "log":
        a = np.exp(rng.uniform(-20, 20, n))
    elif name == "log1p":
        a = rng.uniform(-0.9, 10, n)
    elif name in ("sin", "cos", "sin_bounded", "cos_bounded"):
        a = rng.uniform(-100, 100, n)
    else:
        a = rng.uniform(-10, 10, n)
    a = a.astype(dt)
    if vm.ARITY[name] == 2:
        return a, (a + rng.normal(0, 3, n)).astype(dt)
    return (a,)


def vector_type(kernel):
    """The vector type the loop loads its input with ('' if scalar)."""
    ir = "\n".join(kernel.inspect_llvm().values())
    found = re.findall(r"load <(\d+) x (float|double)>", ir)
    if not found:
        return ""
    width, elem = max(found, key=lambda t: int(t[0]))
    return f"<{width} x {elem}>"


def bench(name, dt, n, rounds, rng):
    args = inputs(name, dt, n, rng)
    out = np.empty_like(args[0])
    loop = _loop1 if vm.ARITY[name] == 1 else _loop2
    scalar = njit(fastmath=vm.FASTMATH)(_NP_SCALAR[name])
    k_np = loop(scalar)
    k_vm = loop(vm.FUNCTIONS[name][np.dtype(dt)])
    variants = {
        "numpy": lambda: NUMPY[name](*args, out),
        "np-numba": lambda: k_np(*args, out),
        "vecmath": lambda: k_vm(*args, out),
    }
    with np.errstate(all="ignore"):
        for fn in variants.values():  # compile, warm caches
            fn()
        best = {k: float("inf") for k in variants}
        for _ in range(rounds):
            for key, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                best[key] = min(best[key], time.perf_counter() - t0)
    return {k: v * 1e3 for k, v in best.items()}, vector_type(k_vm)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--functions", default=",".join(sorted(vm.FUNCTIONS)))
    ap.add_argument("--dtypes", default="float32,float64")
    ns = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"n = {ns.n}, best of {ns.rounds} interleaved rounds, times in ms")
    head = (f"{'function':10s} {'dtype':8s} {'numpy':>8s} {'np-numba':>9s} {'vecmath':>8s}"
            f" {'numpy/vm':>9s} {'npnb/vm':>8s}  vec")
    print(head)
    print("-" * len(head))
    for dtn in ns.dtypes.split(","):
        dt = np.dtype(dtn).type
        for name in ns.functions.split(","):
            t, vec = bench(name, dt, ns.n, ns.rounds, rng)
            print(f"{name:10s} {dtn:8s} {t['numpy']:8.3f} {t['np-numba']:9.3f} {t['vecmath']:8.3f}"
                  f" {t['numpy'] / t['vecmath']:9.2f} {t['np-numba'] / t['vecmath']:8.2f}  {vec}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
