"""Compiled-mode benchmark: loss and gradients of seven workloads, on both tiers, side by side.

    tracegrad bench [WORKLOAD ...] [--torch PYTHON] [--jax PYTHON] [--json FILE] [--png FILE]
                    [--slow-kernels] [--kernel-timeout SECONDS] [--executor-build] [--no-first-call]
    python benchmarks/compiled.py ...        (the same, from a checkout)

Each workload computes a loss and its gradients with respect to all
parameters, single-threaded:

* ``seed``        x = ones(5), w 5x3, b 3, binary_cross_entropy_with_logits(x @ w + b, zeros(3))
* ``elementwise`` (tanh(x) * sin(x) + 0.5 * exp(-x * x)).sum() on 1M float32
* ``mlp``         cross_entropy(tanh(x @ w1 + b1) @ w2 + b2, y), x 256x784, w1 784x512, w2 512x10
* ``rnn``         50 steps of h = tanh(xs[t] @ wx + h @ wh + b), batch 8, input 16, hidden 32, loss (h*h).sum()
* ``tiny1k``      about 1,000 scalar ops: 100 scalars indexed out of x, then rounds of softplus, a sum of
                  four, a product and a softmax of four (see :func:`tiny_ops_function`)
* ``tiny10k``     the same with about 10,000 scalar ops
* ``ode``         200 explicit Euler steps of the Lorenz system in scalars, gradient with respect to the
                  initial state and the three parameters (see :func:`lorenz_function`)

Columns: tracegrad per call on tier 0 (``executor``), on tier 1 (``kernel``)
and with ``tier="auto"`` once its kernel has swapped in (``auto``),
tracegrad eager, numpy by hand, and PyTorch eager / JAX ``jit(grad)`` when
an interpreter that has them is given (they run in a subprocess of the same
session, so the ratios are measured side by side on this shared machine;
PyTorch and JAX importable in this interpreter are used without the flags).
Figures are the best of several timing rounds, per call.

First calls run in fresh processes whose kernel cache holds nothing for the
workload (only the executor, built once beforehand and reported on its own
line): ``first0`` with ``tier="auto"`` (answered by the executor),
``first1`` with ``tier="kernel"`` (compiles the kernel), ``warm1`` with
``tier="kernel"`` again once the disk cache holds the kernel (time after
import).  Kernel compiles longer than ``--kernel-timeout`` are stopped and
reported as such; ``tiny10k``'s kernel (many minutes) is compiled only with
``--slow-kernels``.

Results go to the terminal as a table, to a JSON file, and, when matplotlib
is importable (``pip install 'tracegrad[plot]'``), to a PNG bar chart.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit

import numpy as np

import tracegrad as tg

_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "NUMBA_NUM_THREADS": "1"}
_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # makes `import tracegrad.bench` work anywhere

WORKLOADS = ("seed", "elementwise", "mlp", "rnn", "tiny1k", "tiny10k", "ode")
#: Scalar ops in each many-tiny-ops workload.
TINY_OPS = {"tiny1k": 1_000, "tiny10k": 10_000}
#: Workloads whose kernel takes numba many minutes to compile: tier 1 only with ``--slow-kernels``.
SLOW_KERNELS = ("tiny10k",)
ODE_STEPS, ODE_DT = 200, 0.01


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
    if name in TINY_OPS:
        return {"x": (rng.normal(size=100) * 0.5).astype(np.float32)}
    if name == "ode":
        # The classic chaotic parameters; over 2 time units the gradients grow but stay finite in float32.
        return {"u0": np.array([1.0, 1.0, 1.05], np.float32), "p": np.array([10.0, 28.0, 8.0 / 3.0], np.float32)}
    raise ValueError(name)


PARAMS = {"seed": ("w", "b"), "elementwise": ("x",), "mlp": ("w1", "b1", "w2", "b2"), "rnn": ("wx", "wh", "b"),
          "tiny1k": ("x",), "tiny10k": ("x",), "ode": ("u0", "p")}


def tiny_ops_function(n_ops: int, softplus, softmax, stack):
    """The many-tiny-ops loss of a 100-vector, for any library given its softplus, softmax (over axis 0) and stack.

    The 100 elements are taken out as scalars; each round of four ops reads
    four of them, computes softplus(a) * (a + b + c + d) and a softmax of four,
    and writes one back, so every op is on a scalar (or a 4-vector) and the
    graph has thousands of nodes that no fusion shortens much.
    """
    def loss(x):
        xs = [x[i] for i in range(100)]
        for k in range(0, n_ops, 4):
            a, b, c, d = xs[k % 100], xs[(k + 1) % 100], xs[(k + 2) % 100], xs[(k + 3) % 100]
            p = softplus(a) * (a + b + c + d)
            xs[k % 100] = softmax(stack([a, b, p, d]))[0] + p * 0.01
        return sum(xs[i] for i in range(0, 100, 7))
    return loss


def lorenz_step(x, y, z, sigma, rho, beta, dt: float = ODE_DT):
    """One explicit Euler step of the Lorenz system, on scalars of any library."""
    return x + dt * (sigma * (y - x)), y + dt * (x * (rho - z) - y), z + dt * (x * y - beta * z)


def lorenz_function(steps: int = ODE_STEPS, dt: float = ODE_DT):
    """Squared norm of the Lorenz state after `steps` explicit Euler steps, as a function of (u0, p).

    Only indexing and arithmetic, so the same function runs on tracegrad,
    PyTorch and JAX arrays.  ``u0`` is (x, y, z), ``p`` is (sigma, rho, beta).
    """
    def loss(u0, p):
        x, y, z = u0[0], u0[1], u0[2]
        for _ in range(steps):
            x, y, z = lorenz_step(x, y, z, p[0], p[1], p[2], dt)
        return x * x + y * y + z * z
    return loss


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
    """The loss function of the parameters, written with tracegrad."""
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
    elif name == "rnn":
        xs = tg.from_numpy(d["xs"])

        def loss(wx, wh, b):
            h = tg.zeros(8, 32)
            for t in range(50):
                h = tg.tanh(tg.matmul(xs[t], wx) + tg.matmul(h, wh) + b)
            return (h * h).sum()
    elif name in TINY_OPS:
        loss = tiny_ops_function(TINY_OPS[name], F.softplus, lambda v: tg.softmax(v, 0), tg.stack)
    else:
        loss = lorenz_function()
    return loss


def compiled_gradient(name: str, d: dict, tier: str):
    """The workload's ``tg.grad`` on `tier` and its parameter arrays."""
    params = [d[k] for k in PARAMS[name]]
    return tg.grad(tracegrad_functions(name, d), argnums=tuple(range(len(params))), tier=tier), params


def time_tiers(name: str, d: dict, tiers) -> tuple[dict, dict]:
    """Per-call times of the workload's ``tg.grad`` on each of `tiers`, and its gradients on each.

    ``auto`` is timed only once its kernel has swapped in (it finds the
    kernel that the ``kernel`` tier loaded): what a hot function runs at.
    """
    times, answers = {}, {}
    for tier in tiers:
        g, params = compiled_gradient(name, d, tier)
        answers[tier] = g(*params)
        if tier == "auto" and g.cache_info().tiers != ("kernel",):
            continue
        times[tier] = best_time(lambda: g(*params))  # noqa: B023 (timed before the next tier rebinds g)
    return times, answers


def run_tracegrad(name: str, d: dict, tiers=("executor", "kernel", "auto"), more_answers: dict | None = None) -> dict:
    """Per-call times on `tiers` and in eager mode; every tier's gradients (and `more_answers`') checked on eager."""
    out, answers = time_tiers(name, d, tiers)
    answers.update(more_answers or {})
    loss = tracegrad_functions(name, d)
    tensors = [tg.tensor(d[k], requires_grad=True) for k in PARAMS[name]]

    def eager():
        for t in tensors:
            t.grad = None
        loss(*tensors).backward()
    out["eager"] = best_time(eager, rounds=3)
    eager()
    for tier, grads in answers.items():
        for t, gr in zip(tensors, grads):
            np.testing.assert_allclose(gr, t.grad.numpy(), rtol=2e-3, atol=2e-5, err_msg=f"{name}, tier {tier}")
    return out


def executor_machine() -> dict:
    """Load (or build, the first time on this machine) the executor here; its time and files.

    The files are what a fresh cache needs so that a first-call measurement
    does not build the machine again.
    """
    from tracegrad.compiler import executor  # numba: loaded by the runs that need it, not on import
    start = time.perf_counter()
    vm = executor.machine()
    seconds = time.perf_counter() - start
    stats = vm.stats
    module_file = sys.modules[vm.py_func.__module__].__file__
    stem = os.path.splitext(os.path.basename(module_file))[0]
    files = [module_file] + sorted(glob.glob(os.path.join(glob.escape(stats.cache_path), stem + ".*")))
    return {"seconds": seconds, "built": bool(stats.cache_misses), "files": files}


def executor_build_time() -> float:
    """Seconds a fresh process takes to build the executor into an empty cache (once per machine and version)."""
    code = textwrap.dedent(f"""
        import time, sys, json
        sys.path.insert(0, {_SRC!r})
        from tracegrad.compiler import executor  # numba: loaded by the runs that need it, not on import
        t = time.perf_counter(); executor.machine(); print(json.dumps(time.perf_counter() - t))
    """)
    with tempfile.TemporaryDirectory() as cache:
        return _run_timed(code, cache)


def _cache_with_machine(root: str, machine_files: list[str]) -> str:
    """Make `root` a kernel cache holding the executor and nothing else; returns it."""
    os.makedirs(root)
    if machine_files:
        # Same layout as the configured cache: <root>/<numba-version>/module.py and its __pycache__.
        base = os.path.dirname(os.path.dirname(machine_files[0]))
        for f in machine_files:
            dest = os.path.join(root, os.path.relpath(f, base))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(f, dest)  # numba checks the source's modification time
    return root


def _run_timed(code: str, cache: str, timeout: float | None = None):
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=cache, **_SINGLE_THREAD)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"first-call measurement failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def fresh_process_run(name: str, tier: str, steady: bool = False) -> dict:
    """What one fresh process measures: its first call on `tier`; with `steady`, then the kernel's per-call times.

    With `steady` the process times the kernel and auto tiers and returns
    their gradients: kernels are measured where they were loaded from the
    disk cache, as a user's later process would, not compiled a second time.
    """
    from tracegrad.compiler import executor  # numba: loaded by the runs that need it, not on import
    executor.machine()
    d = make_data(name)
    g, params = compiled_gradient(name, d, tier)
    start = time.perf_counter()
    g(*params)
    out = {"first": time.perf_counter() - start}
    if steady:
        times, answers = time_tiers(name, d, ("kernel", "auto"))
        out.update(times, answers={k: [a.tolist() for a in v] for k, v in answers.items()})
    return out


def _fresh_process_code(name: str, tier: str, steady: bool = False) -> str:
    # One call line for every measurement: kernels record the first line outside tracegrad that traced them,
    # and the disk cache would miss a kernel traced from another line.
    return textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {_SRC!r})
        import tracegrad.bench as bench
        print(json.dumps(bench.fresh_process_run({name!r}, {tier!r}, {steady!r})))
    """)


def first_call_times(name: str, machine_files: list[str], workdir: str, kernel: bool = True,
                     kernel_timeout: float | None = None) -> dict:
    """First-call times in fresh processes whose cache holds only the executor, and the kernel's per-call times.

    ``first_executor``: ``tier="auto"`` (the executor answers); ``first_kernel``:
    ``tier="kernel"`` (compiles the kernel); ``warm_kernel``: the same again
    with the kernel in the disk cache, a process that then times ``kernel``
    and ``auto`` per call and returns their gradients (``answers``).
    ``kernel_note`` says why there is no kernel.
    """
    out = {"first_executor": _run_timed(_fresh_process_code(name, "auto"),
                                        _cache_with_machine(os.path.join(workdir, "t0"), machine_files))["first"]}
    if not kernel:
        out["kernel_note"] = "skipped"
        return out
    root = _cache_with_machine(os.path.join(workdir, "t1"), machine_files)
    try:
        out["first_kernel"] = _run_timed(_fresh_process_code(name, "kernel"), root, timeout=kernel_timeout)["first"]
    except subprocess.TimeoutExpired:
        out["kernel_note"] = f"> {kernel_timeout:.0f} s"
        return out
    warm = _run_timed(_fresh_process_code(name, "kernel", steady=True), root)
    out["warm_kernel"] = warm.pop("first")
    out["answers"] = {k: [np.asarray(a, np.float32) for a in v] for k, v in warm.pop("answers").items()}
    out.update(warm)
    return out


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
    elif name == "rnn":
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
    elif name == "ode":
        run = _lorenz_by_hand
    else:
        return None  # nobody would write the adjoint of thousands of scalar ops by hand
    return run


def _lorenz_by_hand(u0, p, steps: int = ODE_STEPS, dt: float = ODE_DT):
    # On Python floats: numpy's per-call overhead on scalars would only slow it down.
    sigma, rho, beta = (float(v) for v in p)
    x, y, z = (float(v) for v in u0)
    path = []
    for _ in range(steps):
        path.append((x, y, z))
        x, y, z = lorenz_step(x, y, z, sigma, rho, beta, dt)
    loss = x * x + y * y + z * z
    gx, gy, gz = 2 * x, 2 * y, 2 * z
    gs = gr = gb = 0.0
    for x, y, z in reversed(path):
        gs += gx * dt * (y - x)
        gr += gy * dt * x
        gb -= gz * dt * z
        gx, gy, gz = (gx * (1 - dt * sigma) + gy * dt * (rho - z) + gz * dt * y,
                      gx * dt * sigma + gy * (1 - dt) + gz * dt * x,
                      gz * (1 - dt * beta) - gy * dt * x)
    return loss, np.array([gx, gy, gz]), np.array([gs, gr, gb])


def run_numpy(name: str, d: dict) -> float | None:
    """Seconds per call of the hand-written version, or None when the workload has none."""
    run = numpy_function(name, d)
    if run is None:
        return None
    params = [d[k] for k in PARAMS[name]]
    return best_time(lambda: run(*params), rounds=3)


# --------------------------------------------------------------------------
# PyTorch and JAX, in their own interpreters
# --------------------------------------------------------------------------

_TORCH = """
import json, sys, timeit, numpy as np, torch
torch.set_num_threads(1)
{load_bench}
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
    elif name == "rnn":
        xs = torch.from_numpy(d["xs"])
        def f(wx, wh, b):
            h = torch.zeros(8, 32)
            for t in range(50):
                h = torch.tanh(xs[t] @ wx + h @ wh + b)
            return (h * h).sum()
    elif name in bench.TINY_OPS:
        f = bench.tiny_ops_function(bench.TINY_OPS[name], F.softplus, lambda v: torch.softmax(v, 0), torch.stack)
    else:
        f = bench.lorenz_function()
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
{load_bench}
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
    elif name == "rnn":
        xs = jnp.asarray(d["xs"])
        def f(wx, wh, b):
            h = jnp.zeros((8, 32))
            for t in range(50):
                h = jnp.tanh(xs[t] @ wx + h @ wh + b)
            return (h * h).sum()
    elif name in bench.TINY_OPS:
        f = bench.tiny_ops_function(bench.TINY_OPS[name], jax.nn.softplus, lambda v: jax.nn.softmax(v, axis=0),
                                    jnp.stack)
    else:
        # A loop, not the unrolled scalar steps: XLA's CPU fusion re-computes shared scalar subexpressions
        # and the first call of the unrolled version ran for 53 s at 20 steps (it never finished at 200).
        def f(u0, p):
            x, y, z = jax.lax.fori_loop(0, bench.ODE_STEPS, lambda _, s: bench.lorenz_step(*s, p[0], p[1], p[2]),
                                        (u0[0], u0[1], u0[2]))
            return x * x + y * y + z * z
    g = jax.jit(jax.grad(f, argnums=tuple(range(len(ps)))))
    t = time.perf_counter(); jax.block_until_ready(g(*ps)); first = time.perf_counter() - t
    out[name] = {{"steady": bench.best_time(lambda: jax.block_until_ready(g(*ps)), rounds=3), "first": first}}
print(json.dumps(out))
"""


# This module by its file: the other interpreter has no tracegrad installed, and the module needs only numpy.
_LOAD_BENCH = """import importlib.util
_spec = importlib.util.spec_from_file_location("tracegrad_bench", {path!r})
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)"""


#: Longest a PyTorch or JAX run of one workload may take (XLA compiled tiny10k for over 13 minutes).
OTHER_TIMEOUT = 600.0


def run_other(python: str, template: str, names, timeout: float = OTHER_TIMEOUT) -> dict:
    """Run a PyTorch or JAX `template` on workloads `names` in interpreter `python`, one process per
    workload so that one that fails or runs past `timeout` seconds costs only its own results."""
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               **_SINGLE_THREAD)
    results: dict = {}
    for name in names:
        code = template.format(load_bench=_LOAD_BENCH.format(path=os.path.abspath(__file__)), names=[name])
        try:
            res = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"{python} on {name}: stopped after {timeout:.0f} s", file=sys.stderr)
            continue
        if res.returncode != 0:
            print(f"{python} on {name} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        results.update(json.loads(res.stdout.strip().splitlines()[-1]))
    return results


def _fmt(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


SYSTEMS = {"executor": "tracegrad tier 0 (executor)", "kernel": "tracegrad tier 1 (kernel)",
           "eager": "tracegrad eager", "numpy": "numpy by hand", "torch": "PyTorch eager", "jax": "JAX jit(grad)"}
FIRST_CALLS = {"first_executor": "tracegrad tier 0, empty cache", "first_kernel": "tracegrad tier 1, empty cache",
               "warm_kernel": "tracegrad tier 1, warm disk cache", "jax_first": "JAX"}
#: The table's columns: result key and heading.
COLUMNS = [("executor", "executor"), ("kernel", "kernel"), ("auto", "auto"), ("eager", "eager"),
           ("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"), ("first_executor", "first0"),
           ("first_kernel", "first1"), ("warm_kernel", "warm1"), ("jax_first", "jax first")]


def best_compiled(r: dict) -> float | None:
    """The faster tier's time per call in result row `r` (what a hot function runs at)."""
    times = [r[k] for k in ("executor", "kernel", "auto") if r.get(k)]
    return min(times) if times else None


def plot(results: dict, path: str) -> bool:
    """Write a bar chart of `results` (as returned by the benchmark) to `path`.

    One group of bars per workload: time per call of every system measured,
    normalised to the faster tracegrad tier (log scale, lower is faster), with
    the absolute time on each bar, and next to it the first-call times (log
    scale).  Returns False, writing nothing, when matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    names = [n for n in results if best_compiled(results[n])]
    systems = [s for s in SYSTEMS if any(results[n].get(s) for n in names)]
    first_kinds = [k for k in FIRST_CALLS if any(results[n].get(k) for n in names)]
    fig, axes = plt.subplots(1, 2 if first_kinds else 1, figsize=(15 if first_kinds else 9, 4.8), squeeze=False)
    ax = axes[0][0]
    width = 0.8 / max(1, len(systems))
    for i, s in enumerate(systems):
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(names))]
        ratios = [results[n][s] / best_compiled(results[n]) if results[n].get(s) else 0 for n in names]
        bars = ax.bar(xs, ratios, width, label=SYSTEMS[s])
        for bar, n in zip(bars, names):
            if results[n].get(s):
                ax.annotate(_fmt(results[n][s]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=5, rotation=90)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("time per call / faster tracegrad tier")
    ax.set_title("Loss and gradients, per call (lower is faster)")
    ax.legend(fontsize=6)
    if first_kinds:
        ax = axes[0][1]
        width = 0.8 / len(first_kinds)
        for i, key in enumerate(first_kinds):
            xs = [j + (i - (len(first_kinds) - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, [results[n].get(key) or 0 for n in names], width, label=FIRST_CALLS[key])
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("seconds")
        ax.set_title("First call in a fresh process")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def print_table(results: dict) -> None:
    """The results as a table: a row per workload, then the ratios that the targets are stated in."""
    print(f"{'workload':<12}" + "".join(f"{h:>11}" for _, h in COLUMNS) + f"{'t0/t1':>8}{'vs best other':>15}")
    for n, r in results.items():
        cells = []
        for key, _ in COLUMNS:
            note = r.get("kernel_note") if key in ("kernel", "first_kernel") and not r.get(key) else None
            cells.append(note or _fmt(r.get(key)))
        t0_t1 = f"{r['executor'] / r['kernel']:.2f}" if r.get("executor") and r.get("kernel") else "-"
        others = [r[k] for k in ("numpy", "torch", "jax") if r.get(k)]
        ratio = f"{best_compiled(r) / min(others):.3g}x" if others and best_compiled(r) else "-"
        print(f"{n:<12}" + "".join(f"{c:>11}" for c in cells) + f"{t0_t1:>8}{ratio:>15}")


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
    parser.add_argument("--slow-kernels", action="store_true",
                        help=f"also compile the kernels of {', '.join(SLOW_KERNELS)} (many minutes)")
    parser.add_argument("--kernel-timeout", metavar="SECONDS", type=float, default=600.0,
                        help="stop a first-call kernel compile after this long (default: %(default)s)")
    parser.add_argument("--executor-build", action="store_true",
                        help="also time building the executor in a fresh process with an empty cache")
    args = parser.parse_args(argv)
    names = args.workloads or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            print(f"tracegrad bench: unknown workload {n!r}; choose from {', '.join(WORKLOADS)}", file=sys.stderr)
            return 2
    if any(k not in os.environ for k in _SINGLE_THREAD):
        # numpy's BLAS read its thread count when numpy was imported, before this line: setting
        # the variables now would leave eager mode and numpy by hand on every core and the
        # kernels' BLAS (loaded later) on one.  The run starts again with them set from the start.
        env = dict(os.environ)
        for k, v in _SINGLE_THREAD.items():
            env.setdefault(k, v)
        code = "import sys; from tracegrad.bench import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run([sys.executable, "-c", code, *(sys.argv[1:] if argv is None else argv)],
                              env=env).returncode
    import importlib.util
    torch_python = args.torch or (sys.executable if importlib.util.find_spec("torch") else None)
    jax_python = args.jax or (sys.executable if importlib.util.find_spec("jax") else None)
    results = {n: {} for n in names}
    machine = executor_machine()
    how = "built" if machine["built"] else "loaded from the disk cache"
    print(f"executor: {how} in {_fmt(machine['seconds'])} (once per machine and version; not in first0/first1)")
    info = {"executor_ready": machine["seconds"], "executor_built": machine["built"]}
    if args.executor_build:
        info["executor_build"] = executor_build_time()
        print(f"executor: a fresh build into an empty cache took {_fmt(info['executor_build'])}")
    with tempfile.TemporaryDirectory(prefix="tracegrad-bench-") as work:
        for n in names:
            d = make_data(n)
            kernel = n not in SLOW_KERNELS or args.slow_kernels
            tiers, answers = ("executor", "kernel", "auto") if kernel else ("executor",), {}
            if not args.no_first_call:
                first = first_call_times(n, machine["files"], os.path.join(work, n), kernel, args.kernel_timeout)
                answers = first.pop("answers", {})
                results[n].update(first)
                tiers = ("executor",)
            elif not kernel:
                results[n]["kernel_note"] = "skipped"
            results[n].update(run_tracegrad(n, d, tiers, answers))
            results[n]["numpy"] = run_numpy(n, d)
    if torch_python:
        for n, t in run_other(torch_python, _TORCH, names).items():
            results[n]["torch"] = t
    if jax_python:
        for n, t in run_other(jax_python, _JAX, names).items():
            results[n]["jax"] = t["steady"]
            results[n]["jax_first"] = t["first"]
    print_table(results)
    with open(args.json, "w") as fh:
        json.dump({**results, "_machine": info}, fh, indent=2)
    print(f"results: {args.json}")
    if plot(results, args.png):
        print(f"chart: {args.png}")
    else:
        print("chart: skipped (matplotlib is not installed; pip install 'tracegrad[plot]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
