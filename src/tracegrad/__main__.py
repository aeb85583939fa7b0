"""``python -m tracegrad``: the command line (``demo`` for now)."""

from __future__ import annotations

import argparse
import sys
import time
import timeit

import numpy as np


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


_MODEL_SOURCE = """
import tracegrad as tg
import tracegrad.nn.functional as F

x = tg.ones(5)
y = tg.zeros(3)


@tg.grad(argnums=(0, 1))
def loss_grad(w, b):
    z = tg.matmul(x, w) + b
    return F.binary_cross_entropy_with_logits(z, y)
"""


def _user_module(source: str):
    """Import `source` from a real file, as user code is: IR and kernels then point at its lines."""
    import importlib.util
    import os
    import tempfile
    path = os.path.join(tempfile.mkdtemp(prefix="tracegrad-demo-"), "demo_model.py")
    with open(path, "w") as fh:
        fh.write(source.lstrip())
    spec = importlib.util.spec_from_file_location("demo_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo() -> None:
    """The seeds' one-layer network eagerly and under ``@tg.grad``: results, IR, kernel, timings."""
    import tracegrad as tg
    import tracegrad.nn.functional as F

    tg.manual_seed(0)
    x = tg.ones(5)
    y = tg.zeros(3)
    w = tg.randn(5, 3, requires_grad=True)
    b = tg.randn(3, requires_grad=True)

    _section("eager mode (PyTorch semantics)")
    z = tg.matmul(x, w) + b
    loss = F.binary_cross_entropy_with_logits(z, y)
    print(f"loss = {loss!r}")
    print(f"z.grad_fn = {z.grad_fn}")
    loss.backward()
    print(f"b.grad = {b.grad!r}")

    _section("compiled mode: @tg.grad")
    model = _user_module(_MODEL_SOURCE)
    print(f"# {model.__file__.rsplit('/', 1)[-1]}\n{_MODEL_SOURCE.strip()}")
    loss_grad = model.loss_grad

    w_np, b_np = w.detach().numpy(), b.detach().numpy()
    start = time.perf_counter()
    gw, gb = loss_grad(w_np, b_np)
    first = time.perf_counter() - start
    print(f"\nloss_grad(w, b)[1] = {np.array2string(gb, precision=4)}")
    print(f"same as eager: {np.allclose(gb, b.grad.numpy()) and np.allclose(gw, w.grad.numpy())}")

    graphs = loss_grad.graphs(w_np, b_np)
    _section("forward IR (traced from the Python above)")
    print(graphs["forward"])
    _section("forward + adjoint IR (derived symbolically, optimised)")
    print(graphs["compiled"])
    compiled = loss_grad._cache[next(iter(loss_grad._cache))][0]
    kernels = compiled.kernel_source()
    if kernels:
        _section("generated kernel (numba)")
        print(kernels["graph"])

    _section("cost per call (loss and gradients)")

    def eager_step():
        w.grad = None
        b.grad = None
        F.binary_cross_entropy_with_logits(tg.matmul(x, w) + b, y).backward()

    rows = []
    for name, fn, number in [("eager (tape)", eager_step, 2000), ("compiled (@tg.grad)", lambda: loss_grad(w_np, b_np),
                                                                  20000)]:
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        rows.append((name, best))
    print(f"{'':24}{'per call':>12}")
    for name, best in rows:
        print(f"{name:24}{best * 1e6:>9.1f} us")
    print(f"{'compiled, first call':24}{first * 1e3:>9.1f} ms  (trace + adjoint + compile, or disk cache)")
    print(f"\nspeed-up of the compiled step over eager: {rows[0][1] / rows[1][1]:.1f}x "
          f"(one run on this machine; benchmarks/compiled.py compares with numpy, PyTorch and JAX)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracegrad", description="tracegrad command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="the one-layer network: eager, compiled, its IR, its kernel, timings")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
