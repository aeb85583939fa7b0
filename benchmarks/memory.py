"""Resident-memory growth of long training loops: eager, compiled (``tg.grad``) and ``tg.jit`` + backward.

Run from a checkout with tracegrad installed (``pip install -e .``):

    python benchmarks/memory.py                        # eager and compiled, 10,000 steps each
    python benchmarks/memory.py --steps 2000 --warmup 100
    python benchmarks/memory.py --modes compiled jit --limit-mb 10 --json memory.json

Each mode trains the ``mlp`` workload of :mod:`tracegrad.bench` (cross-entropy
of a 784-512-10 tanh MLP on a batch of 256, float32) with plain SGD: loss and
gradients of all four parameters, then an update, so every step allocates
fresh activations, gradients and parameters, like a real training loop.

* ``eager``    tensors with ``requires_grad``, ``loss.backward()``, update under ``no_grad``
* ``compiled`` ``tg.grad(loss, argnums=(0, 1, 2, 3))`` on numpy arrays
* ``jit``      ``tg.jit(loss)`` on tensors that require grad, then ``loss.backward()``
  (the compiled forward with the compiled adjoint as ``grad_fn``)

The resident set size (``/proc/self/statm``; elsewhere the peak from
``getrusage``, which can only grow) is read after ``--warmup`` steps, once
compiling, numba's start-up, numpy's and the allocator's pools have settled,
then at ten points during ``--steps`` further steps and at the end.  Growth is
end minus warm-up.  A leak shows as steady growth across the samples; noise
from the allocator as a few MB up and down.  A full ``gc.collect()`` precedes
each reading, so garbage waiting for the cyclic collector (which the default
thresholds would reclaim anyway) is not counted; the number of objects the
collector tracks is shown too, since a leak of small objects moves it long
before it moves the RSS.

Exit status: 0 when every mode grew by at most ``--limit-mb`` (20 MB), 1
otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time

import numpy as np

MODES = ("eager", "compiled", "jit")
LEARNING_RATE = 0.01
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size; the peak where /proc is not available."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Kilobytes on Linux and the BSDs, bytes on macOS.
        return peak if sys.platform == "darwin" else peak * 1024


def make_step(mode: str):
    """A zero-argument function running one training step of the mlp workload in `mode`."""
    import tracegrad as tg
    from tracegrad import bench

    data = bench.make_data("mlp")
    names = bench.PARAMS["mlp"]
    loss = bench.tracegrad_functions("mlp", data)
    lr = np.float32(LEARNING_RATE)

    if mode == "compiled":
        grad = tg.grad(loss, argnums=tuple(range(len(names))))
        params = [data[k].copy() for k in names]

        def step():
            grads = grad(*params)
            # Rebinding (not updating in place) so each step allocates new
            # parameter arrays, as a functional training loop would.
            params[:] = [p - lr * g for p, g in zip(params, grads)]
        step.transform = grad
        return step

    params = [tg.tensor(data[k], requires_grad=True) for k in names]
    forward = tg.jit(loss) if mode == "jit" else loss

    def step():
        for p in params:
            p.grad = None
        forward(*params).backward()
        with tg.no_grad():
            for p in params:
                p -= lr * p.grad
    step.transform = forward if mode == "jit" else None
    return step


def _reading() -> tuple[int, int]:
    gc.collect()
    return rss_bytes(), len(gc.get_objects())


def measure(mode: str, steps: int, warmup: int, samples: int = 10) -> dict:
    """Run `warmup` then `steps` steps of `mode`; RSS and tracked-object counts along the way."""
    step = make_step(mode)
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    warm_time = time.perf_counter() - start
    rss0, objs0 = _reading()
    trail = []
    every = max(1, steps // samples)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step()
        if i % every == 0 or i == steps:
            trail.append((i, *_reading()))
    elapsed = time.perf_counter() - start
    rss1, objs1 = trail[-1][1], trail[-1][2]
    result = {
        "mode": mode, "warmup": warmup, "steps": steps,
        "rss_after_warmup": rss0, "rss_end": rss1, "growth": rss1 - rss0,
        "rss_max": max(r for _, r, _ in trail), "objects_after_warmup": objs0, "objects_end": objs1,
        "seconds_per_step": elapsed / max(steps, 1), "warmup_seconds": warm_time,
        "trail": trail,
    }
    transform = getattr(step, "transform", None)
    if transform is not None:
        result["traces"] = transform.cache_info().traces
    return result


def _mb(n: int) -> str:
    return f"{n / 2**20:+.1f}"


def print_table(results: list[dict], limit_mb: float) -> None:
    print(f"{'mode':<10}{'steps':>8}{'RSS warm':>11}{'RSS end':>10}{'growth':>9}{'max':>9}"
          f"{'objects':>10}{'ms/step':>9}  verdict")
    for r in results:
        verdict = "ok" if r["growth"] <= limit_mb * 2**20 else f"GREW > {limit_mb:g} MB"
        print(f"{r['mode']:<10}{r['steps']:>8}{r['rss_after_warmup'] / 2**20:>9.1f}MB"
              f"{r['rss_end'] / 2**20:>8.1f}MB{_mb(r['growth']):>7}MB{r['rss_max'] / 2**20:>7.1f}MB"
              f"{r['objects_end'] - r['objects_after_warmup']:>+10d}{r['seconds_per_step'] * 1e3:>9.2f}  {verdict}")
    print("RSS samples (MB after each tenth of the steps):")
    for r in results:
        print(f"  {r['mode']:<9}" + " ".join(f"{rss / 2**20:.1f}" for _, rss, _ in r["trail"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="measured steps per mode (default 10000)")
    parser.add_argument("--warmup", type=int, default=200, help="steps before the first reading (default 200)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["eager", "compiled"],
                        help="which loops to run (default: eager compiled)")
    parser.add_argument("--limit-mb", type=float, default=20.0, help="allowed growth per mode (default 20)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1")

    results = []
    for mode in args.modes:
        print(f"{mode}: {args.warmup} warm-up + {args.steps} steps ...", file=sys.stderr, flush=True)
        results.append(measure(mode, args.steps, args.warmup))
    print_table(results, args.limit_mb)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    grown = [r["mode"] for r in results if r["growth"] > args.limit_mb * 2**20]
    if grown:
        print(f"memory grew by more than {args.limit_mb:g} MB in: {', '.join(grown)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
