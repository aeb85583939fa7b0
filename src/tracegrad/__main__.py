"""``python -m tracegrad``: the command line (``demo`` for now)."""

from __future__ import annotations

import argparse
import sys
import timeit

import numpy as np


def demo() -> None:
    """The seeds' one-layer network in eager mode, its gradients checked, and its cost per step."""
    import tracegrad as tg
    import tracegrad.nn.functional as F

    tg.manual_seed(0)
    x = tg.ones(5)
    y = tg.zeros(3)
    w = tg.randn(5, 3, requires_grad=True)
    b = tg.randn(3, requires_grad=True)
    print(">>> z = tg.matmul(x, w) + b")
    z = tg.matmul(x, w) + b
    print(">>> loss = F.binary_cross_entropy_with_logits(z, y)")
    loss = F.binary_cross_entropy_with_logits(z, y)
    print(f"loss   = {loss!r}")
    print(f"z.grad_fn    = {z.grad_fn}")
    print(f"loss.grad_fn = {loss.grad_fn}")
    loss.backward()
    print(f"w.grad =\n{w.grad}")
    print(f"b.grad = {b.grad}")
    closed = (1 / (1 + np.exp(-z.detach().numpy())) - 0) / 3
    print(f"closed form (sigmoid(z) - y) / 3 = {np.array2string(closed, precision=4)}; "
          f"max error {np.abs(b.grad.numpy() - closed).max():.1e}")

    def step():
        w.grad = None
        b.grad = None
        F.binary_cross_entropy_with_logits(tg.matmul(x, w) + b, y).backward()

    timer = timeit.Timer(step)
    number = 2000
    best = min(timer.repeat(repeat=5, number=number)) / number
    print(f"\neager forward + backward of this step: {best * 1e6:.1f} us per call "
          f"(best of 5 x {number}; see benchmarks/ for comparisons)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracegrad", description="tracegrad command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the one-layer network demo")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
