"""Dispatch among traced paths: tg.grad of a function with seven branches, called round robin.

    python benchmarks/guard_paths.py [N] [ROUNDS]

Each input takes another branch (guards on ``x.mean()``), so most calls try
kernels whose guard fails before one accepts.  Prints the per-call time of
calling one path repeatedly and of cycling through all seven (float64,
``N`` elements, best of ``ROUNDS``); the results are checked against eager
mode first.
"""

from __future__ import annotations

import sys
import timeit

import numpy as np

import tracegrad as tg

PATHS = 7


def branches(x):
    """Seven different sums of sin(x) * x terms, chosen by the mean of `x`."""
    m = x.mean()
    y = tg.sin(x) * x
    if m > 5.5:
        return (y * 3).sum()
    if m > 4.5:
        return (y * y).sum()
    if m > 3.5:
        return (tg.cos(x) * y).sum()
    if m > 2.5:
        return (y + x).sum()
    if m > 1.5:
        return (tg.exp(-x * x) * y).sum()
    if m > 0.5:
        return (y * y * y).sum()
    return (tg.tanh(x) * y).sum()


def main(argv: list[str]) -> int:
    """Run the benchmark and print one line of results."""
    n = int(argv[0]) if argv else 1000
    rounds = int(argv[1]) if len(argv) > 1 else 9
    g = tg.grad(branches)
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-0.4, 0.4, n) + (PATHS - k) for k in range(PATHS)]  # xs[k] takes branch k
    for x in xs + xs:
        t = tg.tensor(x, requires_grad=True)
        branches(t).backward()
        np.testing.assert_allclose(g(x), t.grad.numpy(), rtol=1e-12, atol=1e-12)

    def round_robin():
        for x in xs:
            g(x)

    def one_path():
        for _ in range(PATHS):
            g(xs[0])
    per_call = [min(timeit.repeat(fn, number=200, repeat=rounds)) / (200 * PATHS) for fn in (one_path, round_robin)]
    print(f"N={n}: one path {per_call[0] * 1e6:.1f} us per call, "
          f"round robin over {PATHS} paths {per_call[1] * 1e6:.1f} us per call")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
