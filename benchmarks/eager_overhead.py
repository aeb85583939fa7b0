"""Eager-mode overhead: the seed one-layer step and per-op forward+backward on tiny tensors.

Run:  python benchmarks/eager_overhead.py [--torch PYTHON]

Figures are per call (median of repeated timing loops).  When PyTorch is
importable in this interpreter, or another interpreter that has it is given
with --torch, the same workloads run there in the same session and the ratio
tracegrad / PyTorch is printed: ratios measured side by side are what this
shared machine can report honestly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")

WORKLOADS = {
    "seed_step": """
w.grad = None; b.grad = None
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
loss.backward()
""",
    "add_fwd_bwd": "(a + c).sum().backward()",
    "mul_fwd_bwd": "(a * c).sum().backward()",
    "exp_fwd_bwd": "a.exp().sum().backward()",
    "tanh_fwd_bwd": "a.tanh().sum().backward()",
    "matmul_fwd_bwd": "torch.matmul(m, n).sum().backward()",
    "index_fwd_bwd": "a[1:3].sum().backward()",
    "forward_only_add": "a + c",
}

SETUP = """
import {module} as torch
try:
    torch.set_num_threads(1)
except AttributeError:
    pass
torch.manual_seed(0)
x = torch.ones(5)
y = torch.zeros(3)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
a = torch.randn(4, requires_grad=True)
c = torch.randn(4, requires_grad=True)
m = torch.randn(3, 4, requires_grad=True)
n = torch.randn(4, 2, requires_grad=True)
"""


def measure(module: str, repeat: int = 7) -> dict[str, float]:
    """Microseconds per call of each workload, with `module` imported as torch."""
    results = {}
    for name, stmt in WORKLOADS.items():
        timer = timeit.Timer(stmt, setup=SETUP.format(module=module))
        number, _ = timer.autorange()
        number = max(number, 200)
        times = sorted(timer.repeat(repeat=repeat, number=number))
        results[name] = times[len(times) // 2] / number * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", metavar="PYTHON", help="an interpreter with PyTorch installed, for the ratio")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--module", default="tracegrad", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.module != "tracegrad":
        print(json.dumps(measure(args.module)))
        return

    ours = measure("tracegrad")
    theirs = None
    if args.torch:
        out = subprocess.run([args.torch, __file__, "--module", "torch"], capture_output=True, text=True, check=True)
        theirs = json.loads(out.stdout)
    else:
        try:
            import torch  # noqa: F401
            theirs = measure("torch")
        except ImportError:
            pass
    if args.json:
        print(json.dumps({"tracegrad": ours, "torch": theirs}))
        return
    print(f"{'workload':<18} {'tracegrad us':>13} {'torch us':>10} {'ratio':>7}")
    for name, t in ours.items():
        if theirs:
            print(f"{name:<18} {t:13.1f} {theirs[name]:10.1f} {t / theirs[name]:7.2f}")
        else:
            print(f"{name:<18} {t:13.1f} {'-':>10} {'-':>7}")


if __name__ == "__main__":
    main()
