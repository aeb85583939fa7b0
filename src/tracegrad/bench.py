"""Compiled-mode benchmark: loss and gradients of four workloads, side by side.

    tracegrad bench [WORKLOAD ...] [--torch PYTHON] [--jax PYTHON] [--json FILE] [--png FILE]
    python benchmarks/compiled.py ...        (the same, from a checkout)

Each workload computes a loss and its gradients with respect to all
parameters, single-threaded:

* ``seed``        x = ones(5), w 5x3, b 3, binary_cross_entropy_with_logits(x @ w + b, zeros(3))
* ``elementwise`` (tanh(x) * sin(x) + 0.5 * exp(-x * x)).sum() on 1M float32
* ``mlp``         cross_entropy(tanh(x @ w1 + b1) @ w2 + b2, y), x 256x784, w1 784x512, w2 512x10
* ``rnn``         50 steps of h = tanh(xs[t] @ wx + h @ wh + b), batch 8, input 16, hidden 32, loss (h*h).sum()

Columns: tracegrad compiled (numba), tracegrad eager, numpy by hand, and
PyTorch eager / JAX ``jit(grad)`` when an interpreter that has them is given
(they run in a subprocess of the same session, so the ratios are measured
side by side on this shared machine; PyTorch and JAX importable in this
interpreter are used without the flags).  Figures are the best of several
timing rounds, per call.  ``first`` is the first call in a fresh process
with an empty kernel cache; ``warm`` the first call in a fresh process
whose disk cache is warm (time after import).

Results go to the terminal as a table, to a JSON file, and, when matplotlib
is importable (``pip install 'tracegrad[plot]'``), to a PNG bar chart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import timeit

import numpy as np

_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "NUMBA_NUM_THREADS": "1"}
_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # makes `import tracegrad.bench` work anywhere

WORKLOADS = ("seed", "elementwise", "mlp", "rnn")


def make_data(name: str):
    """The workload's parameters and data (float32), the same for every system."""
    rng = np.random.default_rng(0)
    if name == "seed":
        return {"w": rng.normal(size=(5, 3)).astype(np.float32), "b": rng.normal(size=3).astype(np.float32)}
    if name == "elementwise":
        return {"x": rng.normal(size=1_000_000).astype(np.float32)}
    if name == "mlp":
        return {"x": rng.normal(size=(256, 784)).astype(np.float32),
                "w1": (rng.normal(size=(784, 512)) * 0.03).astype(np.float32),
                "b1": np.zeros(512, np.float32),
                "w2": (rng.normal(size=(512, 10)) * 0.05).astype(np.float32),
                "b2": np.zeros(10, np.float32),
                "y": rng.integers(0, 10, size=256)}
    if name == "rnn":
        return {"xs": rng.normal(size=(50, 8, 16)).astype(np.float32),
                "wx": (rng.normal(size=(16, 32)) * 0.2).astype(np.float32),
                "wh": (rng.normal(size=(32, 32)) * 0.2).astype(np.float32),
                "b": np.zeros(32, np.float32)}
    raise ValueError(name)


PARAMS = {"seed": ("w", "b"), "elementwise": ("x",), "mlp": ("w1", "b1", "w2", "b2"), "rnn": ("wx", "wh", "b")}


def best_time(fn, min_time: float = 0.4, rounds: int = 5) -> float:
    """Seconds per call: the best of `rounds` timing loops of at least `min_time` / rounds each."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(1, number)
    return min(timer.repeat(repeat=rounds, number=number)) / number


# --------------------------------------------------------------------------
# tracegrad
# --------------------------------------------------------------------------

def tracegrad_functions(name: str, d: dict):
    """(loss function of the parameters, extra fixed arguments) written with tracegrad."""
    import tracegrad as tg
    F = tg.nn.functional
    if name == "seed":
        x, y = tg.ones(5), tg.zeros(3)

        def loss(w, b):
            return F.binary_cross_entropy_with_logits(tg.matmul(x, w) + b, y)
    elif name == "elementwise":
        def loss(x):
            return (tg.tanh(x) * tg.sin(x) + 0.5 * tg.exp(-x * x)).sum()
    elif name == "mlp":
        x, y = tg.from_numpy(d["x"]), tg.from_numpy(d["y"])

        def loss(w1, b1, w2, b2):
            return F.cross_entropy(tg.matmul(tg.tanh(tg.matmul(x, w1) + b1), w2) + b2, y)
    else:
        xs = tg.from_numpy(d["xs"])

        def loss(wx, wh, b):
            h = tg.zeros(8, 32)
            for t in range(50):
                h = tg.tanh(tg.matmul(xs[t], wx) + tg.matmul(h, wh) + b)
            return (h * h).sum()
    return loss


def run_tracegrad(name: str, d: dict) -> dict:
    import tracegrad as tg
    loss = tracegrad_functions(name, d)
    params = [d[k] for k in PARAMS[name]]
    g = tg.grad(loss, argnums=tuple(range(len(params))), backend="numba")
    g(*params)
    compiled = best_time(lambda: g(*params))
    tensors = [tg.tensor(p, requires_grad=True) for p in params]

    def eager():
        for t in tensors:
            t.grad = None
        loss(*tensors).backward()
    eager_t = best_time(eager, rounds=3)
    # Same answers: compiled against eager.
    eager()
    for t, gr in zip(tensors, g(*params)):
        np.testing.assert_allclose(gr, t.grad.numpy(), rtol=2e-3, atol=2e-5)
    return {"compiled": compiled, "eager": eager_t}


def first_call_times(name: str) -> dict:
    """First-call time in a fresh process: with an empty kernel cache, then with the disk cache warm."""
    code = textwrap.dedent(f"""
        import time, sys, json
        sys.path.insert(0, {_SRC!r})
        import tracegrad.bench as bench
        d = bench.make_data({name!r})
        import tracegrad as tg
        loss = bench.tracegrad_functions({name!r}, d)
        params = [d[k] for k in bench.PARAMS[{name!r}]]
        g = tg.grad(loss, argnums=tuple(range(len(params))), backend="numba")
        t = time.perf_counter(); g(*params); print(json.dumps(time.perf_counter() - t))
    """)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TRACEGRAD_CACHE_DIR=cache, **_SINGLE_THREAD)
        out = []
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {"first": out[0], "warm": out[1]}


# --------------------------------------------------------------------------
# numpy by hand
# --------------------------------------------------------------------------

def numpy_function(name: str, d: dict):
    """Loss and gradients written by hand in numpy (the baseline a careful user would write)."""
    if name == "seed":
        x, y = np.ones(5, np.float32), np.zeros(3, np.float32)

        def run(w, b):
            z = x @ w + b
            loss = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean()
            dz = (1 / (1 + np.exp(-z)) - y) / 3
            return loss, np.outer(x, dz), dz
    elif name == "elementwise":
        def run(x):
            t, s, e = np.tanh(x), np.sin(x), np.exp(-x * x)
            loss = (t * s + 0.5 * e).sum()
            return loss, (1 - t * t) * s + t * np.cos(x) - x * e
    elif name == "mlp":
        x, y = d["x"], d["y"]

        def run(w1, b1, w2, b2):
            h = np.tanh(x @ w1 + b1)
            z = h @ w2 + b2
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            n = x.shape[0]
            loss = -np.log(p[np.arange(n), y]).mean()
            dz = p
            dz[np.arange(n), y] -= 1
            dz /= n
            dh = (dz @ w2.T) * (1 - h * h)
            return loss, x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)
    else:
        xs = d["xs"]

        def run(wx, wh, b):
            hs = [np.zeros((8, 32), np.float32)]
            for t in range(50):
                hs.append(np.tanh(xs[t] @ wx + hs[-1] @ wh + b))
            loss = (hs[-1] ** 2).sum()
            dh = 2 * hs[-1]
            gwx, gwh, gb = np.zeros_like(wx), np.zeros_like(wh), np.zeros_like(b)
            for t in range(49, -1, -1):
                da = dh * (1 - hs[t + 1] ** 2)
                gwx += xs[t].T @ da
                gwh += hs[t].T @ da
                gb += da.sum(0)
                dh = da @ wh.T
            return loss, gwx, gwh, gb
    return run


def run_numpy(name: str, d: dict) -> float:
    run = numpy_function(name, d)
    params = [d[k] for k in PARAMS[name]]
    return best_time(lambda: run(*params), rounds=3)


# --------------------------------------------------------------------------
# PyTorch and JAX, in their own interpreters
# --------------------------------------------------------------------------

_TORCH = """
import json, sys, timeit, numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, {here!r})
import tracegrad.bench as bench
F = torch.nn.functional
out = {{}}
for name in {names!r}:
    d = bench.make_data(name)
    ps = [torch.tensor(d[k], requires_grad=True) for k in bench.PARAMS[name]]
    if name == "seed":
        x, y = torch.ones(5), torch.zeros(3)
        f = lambda w, b: F.binary_cross_entropy_with_logits(torch.matmul(x, w) + b, y)
    elif name == "elementwise":
        f = lambda x: (torch.tanh(x) * torch.sin(x) + 0.5 * torch.exp(-x * x)).sum()
    elif name == "mlp":
        x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
        f = lambda w1, b1, w2, b2: F.cross_entropy(torch.tanh(x @ w1 + b1) @ w2 + b2, y)
    else:
        xs = torch.from_numpy(d["xs"])
        def f(wx, wh, b):
            h = torch.zeros(8, 32)
            for t in range(50):
                h = torch.tanh(xs[t] @ wx + h @ wh + b)
            return (h * h).sum()
    def step():
        for p in ps:
            p.grad = None
        f(*ps).backward()
    out[name] = bench.best_time(step, rounds=3)
print(json.dumps(out))
"""

_JAX = """
import json, sys, time, numpy as np
import jax, jax.numpy as jnp
sys.path.insert(0, {here!r})
import tracegrad.bench as bench
out = {{}}
for name in {names!r}:
    d = bench.make_data(name)
    ps = [jnp.asarray(d[k]) for k in bench.PARAMS[name]]
    if name == "seed":
        x, y = jnp.ones(5), jnp.zeros(3)
        def f(w, b):
            z = x @ w + b
            return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
    elif name == "elementwise":
        f = lambda x: (jnp.tanh(x) * jnp.sin(x) + 0.5 * jnp.exp(-x * x)).sum()
    elif name == "mlp":
        x, y = jnp.asarray(d["x"]), jnp.asarray(d["y"])
        def f(w1, b1, w2, b2):
            z = jnp.tanh(x @ w1 + b1) @ w2 + b2
            return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(256), y])
    else:
        xs = jnp.asarray(d["xs"])
        def f(wx, wh, b):
            h = jnp.zeros((8, 32))
            for t in range(50):
                h = jnp.tanh(xs[t] @ wx + h @ wh + b)
            return (h * h).sum()
    g = jax.jit(jax.grad(f, argnums=tuple(range(len(ps)))))
    t = time.perf_counter(); jax.block_until_ready(g(*ps)); first = time.perf_counter() - t
    out[name] = {{"steady": bench.best_time(lambda: jax.block_until_ready(g(*ps)), rounds=3), "first": first}}
print(json.dumps(out))
"""


def run_other(python: str, template: str, names) -> dict:
    code = template.format(here=_SRC, names=list(names))
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               **_SINGLE_THREAD)
    res = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        print(f"{python} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


SYSTEMS = {"compiled": "tracegrad compiled", "eager": "tracegrad eager", "numpy": "numpy by hand",
           "torch": "PyTorch eager", "jax": "JAX jit(grad)"}


def plot(results: dict, path: str) -> bool:
    """Write a bar chart of `results` (as returned by the benchmark) to `path`.

    One group of bars per workload: time per call of every system measured,
    normalised to tracegrad compiled (log scale, lower is faster), with the
    absolute time on each bar, and next to it the first-call times.  Returns
    False, writing nothing, when matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    names = list(results)
    systems = [s for s in SYSTEMS if any(results[n].get(s) for n in names)]
    first_kinds = [("first", "tracegrad, empty cache"), ("warm", "tracegrad, warm disk cache"),
                   ("jax_first", "JAX")]
    first_kinds = [k for k in first_kinds if any(results[n].get(k[0]) for n in names)]
    fig, axes = plt.subplots(1, 2 if first_kinds else 1, figsize=(13 if first_kinds else 8, 4.5), squeeze=False)
    ax = axes[0][0]
    width = 0.8 / max(1, len(systems))
    for i, s in enumerate(systems):
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(names))]
        ratios = [results[n][s] / results[n]["compiled"] if results[n].get(s) else 0 for n in names]
        bars = ax.bar(xs, ratios, width, label=SYSTEMS[s])
        for bar, n in zip(bars, names):
            if results[n].get(s):
                ax.annotate(_fmt(results[n][s]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("time per call / tracegrad compiled")
    ax.set_title("Loss and gradients, per call (lower is faster)")
    ax.legend(fontsize=7)
    if first_kinds:
        ax = axes[0][1]
        width = 0.8 / len(first_kinds)
        for i, (key, label) in enumerate(first_kinds):
            xs = [j + (i - (len(first_kinds) - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, [results[n].get(key) or 0 for n in names], width, label=label)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("seconds")
        ax.set_title("First call in a fresh process")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (``tracegrad bench``)."""
    parser = argparse.ArgumentParser(prog="tracegrad bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"any of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--torch", metavar="PYTHON", help="an interpreter with PyTorch")
    parser.add_argument("--jax", metavar="PYTHON", help="an interpreter with JAX")
    parser.add_argument("--json", metavar="FILE", default="tracegrad-bench.json",
                        help="write the results as JSON (default: %(default)s)")
    parser.add_argument("--png", metavar="FILE", default="tracegrad-bench.png",
                        help="write a bar chart when matplotlib is installed (default: %(default)s)")
    parser.add_argument("--no-first-call", action="store_true", help="skip the fresh-process timings")
    args = parser.parse_args(argv)
    names = args.workloads or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            print(f"tracegrad bench: unknown workload {n!r}; choose from {', '.join(WORKLOADS)}", file=sys.stderr)
            return 2
    for k, v in _SINGLE_THREAD.items():
        os.environ.setdefault(k, v)
    import importlib.util
    torch_python = args.torch or (sys.executable if importlib.util.find_spec("torch") else None)
    jax_python = args.jax or (sys.executable if importlib.util.find_spec("jax") else None)
    results = {n: {} for n in names}
    for n in names:
        d = make_data(n)
        results[n].update(run_tracegrad(n, d))
        results[n]["numpy"] = run_numpy(n, d)
        if not args.no_first_call:
            results[n].update(first_call_times(n))
    if torch_python:
        for n, t in run_other(torch_python, _TORCH, names).items():
            results[n]["torch"] = t
    if jax_python:
        for n, t in run_other(jax_python, _JAX, names).items():
            results[n]["jax"] = t["steady"]
            results[n]["jax_first"] = t["first"]
    cols = ["compiled", "eager", "numpy", "torch", "jax", "first", "warm"]
    print(f"{'workload':<12}" + "".join(f"{c:>12}" for c in cols) + f"{'vs best other':>15}")
    for n in names:
        r = results[n]
        others = [r[k] for k in ("numpy", "torch", "jax") if r.get(k)]
        ratio = f"{r['compiled'] / min(others):.2f}x" if others else "-"
        print(f"{n:<12}" + "".join(f"{_fmt(r.get(c)):>12}" for c in cols) + f"{ratio:>15}")
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"results: {args.json}")
    if plot(results, args.png):
        print(f"chart: {args.png}")
    else:
        print("chart: skipped (matplotlib is not installed; pip install 'tracegrad[plot]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
