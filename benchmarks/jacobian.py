"""Jacobian and Hessian timing: first call (trace, derive, compile) and steady-state calls.

Run:  python benchmarks/jacobian.py [--n 50] [--backend numba] [--repeat 200]

The workloads are the Jacobian of ``tanh(W @ x)`` with respect to x (an n x n
Jacobian) and the Hessian of ``sum(tanh(W @ x) ** 2)`` (n x n).  The first
call includes tracing and kernel compilation; a cold kernel cache
(``TRACEGRAD_CACHE_DIR`` pointing at an empty directory) shows the full
cost, a warm one the cost of a new process.  Steady-state figures are the
median per-call time of `--repeat` calls on fresh inputs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def _workloads(tg, n, rng):
    W = tg.tensor(rng.normal(size=(n, n)) / np.sqrt(n))
    return {
        "jacobian tanh(W @ x)": tg.jacobian(lambda x: tg.tanh(W @ x)),
        "hessian sum(tanh(W @ x)**2)": tg.hessian(lambda x: (tg.tanh(W @ x) ** 2).sum()),
    }


def main(argv=None) -> int:
    """Time each workload and print one line per figure (or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args(argv)
    import os
    os.environ["TRACEGRAD_BACKEND"] = opts.backend
    import tracegrad as tg
    rng = np.random.default_rng(0)
    results = {}
    for name, fn in _workloads(tg, opts.n, rng).items():
        x = rng.normal(size=opts.n)
        start = time.perf_counter()
        first = np.asarray(fn(x))
        first_ms = (time.perf_counter() - start) * 1e3
        inputs = [rng.normal(size=opts.n) for _ in range(opts.repeat)]
        for z in inputs[:5]:
            fn(z)
        times = []
        for z in inputs:
            start = time.perf_counter()
            fn(z)
            times.append(time.perf_counter() - start)
        results[name] = {"shape": list(first.shape), "first_call_ms": round(first_ms, 1),
                         "steady_ms": round(statistics.median(times) * 1e3, 4)}
    if opts.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(f"{name:32s} {str(r['shape']):10s} first call {r['first_call_ms']:9.1f} ms   "
                  f"steady {r['steady_ms']:8.4f} ms/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
