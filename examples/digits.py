"""Handwritten digits (scikit-learn's 1,797 8x8 images) learned by an MLP and a small CNN, three ways:
tracegrad eager (``loss.backward(); opt.step()``), tracegrad compiled (``tracegrad.train_step``: loss,
gradients and the optimizer's update in one compiled program) and, when it is importable, PyTorch.

    pip install -e '.[examples]'
    python examples/digits.py [--epochs 15] [--batch 64] [--plot digits.png]

Prints, per model and way, the test accuracy and the time per epoch (one run on this machine: compare
within the run).  scikit-learn is needed for the data; matplotlib, if present, draws the loss curves.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import numpy as np

import tracegrad as tg


def load_digits(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Images scaled to [0, 1] as (N, 1, 8, 8) float32, labels int64; 80 % train, 20 % test."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        sys.exit("examples/digits.py needs scikit-learn: pip install -e '.[examples]'")
    data = sklearn_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(0.8 * len(labels))
    return images[order[:cut]], labels[order[:cut]], images[order[cut:]], labels[order[cut:]]


def build(torch, kind: str):
    """The same architecture from `torch` (tracegrad or PyTorch)."""
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, 10))
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))


def batches(n: int, size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, size):
        yield order[start:start + size]


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r{label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def train(torch, kind: str, way: str, data, epochs: int, batch: int,
          tier: str = "kernel") -> tuple[float, float, list[float], float]:
    """(test accuracy, seconds per epoch after the first, loss per epoch, seconds of the first epoch)."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(0)
    model = build(torch, kind)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    step = None
    if way == "compiled":
        @tg.train_step(opt, tier=tier)
        def step(xb, yb):
            return loss_fn(model(xb), yb)
    rng = np.random.default_rng(1)
    times, losses = [], []
    for epoch in range(epochs):
        start, total, count = time.perf_counter(), 0.0, 0
        for k, idx in enumerate(batches(len(y_train), batch, rng)):
            xb, yb = torch.tensor(x_train[idx]), torch.tensor(y_train[idx])
            if step is None:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
            else:
                loss = step(xb, yb)
            total += loss.item() * len(idx)
            count += len(idx)
            progress(f"{kind} {way} epoch {epoch + 1}", k + 1, -(-len(y_train) // batch))
        times.append(time.perf_counter() - start)
        losses.append(total / count)
    with torch.no_grad():
        predicted = model(torch.tensor(x_test)).argmax(1).numpy()
    steady = float(np.mean(times[1:] if len(times) > 1 else times))
    return float((predicted == y_test).mean()), steady, losses, times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--plot", default="digits.png", help="loss curves (needs matplotlib)")
    parser.add_argument("--tier", default="kernel", choices=["auto", "executor", "kernel"],
                        help="what runs the compiled step (kernel: compiled in the first epoch, cached on disk)")
    args = parser.parse_args()
    data = load_digits()
    ways = [("tracegrad", tg, "eager"), ("tracegrad", tg, "compiled")]
    try:
        ways.append(("PyTorch", importlib.import_module("torch"), "eager"))
    except ImportError:
        pass
    results = {}
    for kind in ("mlp", "cnn"):
        for name, module, way in ways:
            results[kind, name, way] = train(module, kind, way, data, args.epochs, args.batch, args.tier)
    print(f"\n{'model':<6}{'way':<22}{'test accuracy':>14}{'s / epoch':>12}{'first epoch s':>15}")
    for (kind, name, way), (accuracy, seconds, _, first) in results.items():
        print(f"{kind:<6}{name + ' ' + way:<22}{accuracy:>14.3f}{seconds:>12.4f}{first:>15.2f}")
    for kind in ("mlp", "cnn"):
        compiled = results[kind, "tracegrad", "compiled"][1]
        line = f"{kind}: compiled step {results[kind, 'tracegrad', 'eager'][1] / compiled:.1f}x faster than eager"
        if (kind, "PyTorch", "eager") in results:
            line += f", {results[kind, 'PyTorch', 'eager'][1] / compiled:.2f}x PyTorch's speed"
        print(line)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, kind in zip(axes, ("mlp", "cnn")):
        for (k, name, way), (_, _, losses, _) in results.items():
            if k == kind:
                ax.plot(range(1, len(losses) + 1), losses, label=f"{name} {way}")
        ax.set(title=kind.upper(), xlabel="epoch", ylabel="training loss", yscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"loss curves: {args.plot}")


if __name__ == "__main__":
    main()
