"""``python -m tracegrad``: the command line (``demo`` for now)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit

import numpy as np

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad.bench import main as bench_main
from tracegrad.compiler import cache
from tracegrad.ir.types import SHORT_TO_DTYPE


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
    # The executor's own machine code is built (or loaded) once per process: timed apart from the first call.
    from tracegrad.compiler import executor  # numba: loaded by the commands that need it, not on import
    start = time.perf_counter()
    executor.machine()
    machine_ready = time.perf_counter() - start
    start = time.perf_counter()
    gw, gb = loss_grad(w_np, b_np)
    first = time.perf_counter() - start
    print(f"\nloss_grad(w, b)[1] = {np.array2string(gb, precision=4)}")
    print(f"same as eager: {np.allclose(gb, b.grad.numpy()) and np.allclose(gw, w.grad.numpy())}")

    # The stages of the call above, ahead of time: loss_grad.trace(...).lower(tier).
    traced = loss_grad.trace(w_np, b_np)
    _section("forward IR (traced from the Python above)")
    print(traced.graphs["forward"])
    _section("forward + adjoint IR (derived symbolically, optimised)")
    print(traced.graphs["compiled"])
    _section("executor program (tier 0: runs at once, nothing compiled for this graph)")
    print(traced.lower(tier="executor").as_text())
    kernel_lowering = traced.lower(tier="kernel")
    _section("primitive IR of the kernel (composites decomposed; its comments name these values)")
    print(kernel_lowering.as_text("ir"))
    _section("generated kernel (tier 1: numba, compiled when the function is hot)")
    print(kernel_lowering.as_text())
    # The same function on tier 1 only: its fused numba kernel, compiled now.
    kernel_grad = tg.grad(loss_grad.fun, argnums=(0, 1), tier="kernel")
    start = time.perf_counter()
    kernel_grad(w_np, b_np)
    kernel_first = time.perf_counter() - start

    _section("cost per call (loss and gradients)")

    def eager_step():
        w.grad = None
        b.grad = None
        F.binary_cross_entropy_with_logits(tg.matmul(x, w) + b, y).backward()

    rows = []
    executor_grad = tg.grad(loss_grad.fun, argnums=(0, 1), tier="executor")
    executor_grad(w_np, b_np)
    for name, fn, number in [("eager (tape)", eager_step, 2000),
                             ("compiled, executor", lambda: executor_grad(w_np, b_np), 20000),
                             ("compiled, kernel", lambda: kernel_grad(w_np, b_np), 20000)]:
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        rows.append((name, best))
    print(f"{'':24}{'per call':>12}")
    for name, best in rows:
        print(f"{name:24}{best * 1e6:>9.1f} us")
    print(f"{'executor machine':24}{_duration(machine_ready)}  (built once per machine, then loaded per process)")
    # A kernel left in the disk cache by an earlier run serves the first call at once.
    first_tier = loss_grad.cache_info().tiers[0]
    how = "trace + adjoint + executor program" if first_tier == "executor" else "kernel from the disk cache"
    print(f"{'first call, ' + first_tier:24}{_duration(first)}  ({how})")
    print(f"{'first call, kernel':24}{_duration(kernel_first)}  (the same + numba compile, or disk cache)")
    print(f"\nspeed-up of the compiled step over eager: executor {rows[0][1] / rows[1][1]:.1f}x, "
          f"kernel {rows[0][1] / rows[2][1]:.1f}x (one run on this machine; `tracegrad bench` compares with numpy, "
          f"PyTorch and JAX)")


def _duration(seconds: float) -> str:
    """`seconds` in the table's 12 columns: milliseconds under a second, seconds above."""
    return f"{seconds * 1e3:>9.1f} ms" if seconds < 1 else f"{seconds:>10.1f} s"


def warmup() -> None:
    """Compile (or load from the disk cache) the executor, so that no later first call waits for it."""
    from tracegrad.compiler import executor  # numba: loaded by the commands that need it, not on import
    start = time.perf_counter()
    executor.machine()
    print(f"tracegrad: executor ready ({time.perf_counter() - start:.1f} s)")


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


def parse_arg_types(text: str) -> dict[str, np.ndarray]:
    """``"x=f32[4,5],w=f32[5,3],n=i64[]"`` -> sample arrays of those types (normal floats, small ints)."""
    import re

    rng = np.random.default_rng(0)
    out = {}
    for item in filter(None, (p.strip() for p in re.split(r",(?![^\[]*\])", text))):
        m = re.fullmatch(r"(\w+)=(\w+)\[([\d,\s]*)\]", item)
        if not m or m.group(2) not in SHORT_TO_DTYPE:
            raise UsageError(f"bad argument type {item!r}; write name=f32[4,5] (types: "
                             f"{', '.join(SHORT_TO_DTYPE)})")
        dtype = SHORT_TO_DTYPE[m.group(2)]
        shape = tuple(int(n) for n in m.group(3).split(",") if n.strip())
        if dtype.kind == "f":
            out[m.group(1)] = rng.normal(size=shape).astype(dtype)
        elif dtype.kind == "b":
            out[m.group(1)] = rng.uniform(size=shape) < 0.5
        else:
            out[m.group(1)] = rng.integers(0, 3, size=shape).astype(dtype)
    return out


def _load_function(target: str):
    import importlib.util
    import os
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise UsageError(f"expected FILE.py:FUNC, got {target!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if fn is None:
        raise UsageError(f"{path} defines no {name!r}")
    return getattr(fn, "fun", fn)  # a function already decorated with a transform: its Python function


def dump(target: str, arg_types: str, argnums: str | None, dot: bool, out_dir: str | None) -> None:
    """Forward IR, derived IR and kernel source of FILE.py:FUNC for the given argument types."""
    fn = _load_function(target)
    values = parse_arg_types(arg_types)
    args = list(values.values())
    if argnums is not None:
        nums = tuple(int(n) for n in argnums.split(",") if n.strip())
    else:
        nums = tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
    # The stages ahead of time: the graphs, the executor program and the kernel's source, nothing compiled.
    transform = tg.grad(fn, argnums=nums) if nums else tg.jit(fn)
    try:
        traced = transform.trace(*args)
    except TypeError as e:
        if "scalar" not in str(e):
            raise
        print(f"# {target} does not return a scalar: showing the compiled forward only ({e})")
        transform = tg.jit(fn)
        traced = transform.trace(*args)
    graphs = traced.graphs
    sections = [("forward IR", str(graphs["forward"])), ("compiled IR", str(graphs["compiled"]))]
    for tier, title in (("executor", "executor program (tier 0)"), ("kernel", "kernel (graph)")):
        try:
            lowering = traced.lower(tier)
        except Exception as e:  # a graph a tier cannot run: say why, show the rest
            sections.append((title, f"# not lowered for the {tier}: {type(e).__name__}: {e}"))
            continue
        if tier == "kernel":
            sections.append(("primitive IR of the kernel (its comments name these values)", lowering.as_text("ir")))
        sections.append((title, lowering.as_text()))
    for title, text in sections:
        print(f"=== {title} " + "=" * max(0, 70 - len(title)))
        print(text.rstrip())
    if dot:
        directory = out_dir or "."
        os.makedirs(directory, exist_ok=True)
        for kind, graph in graphs.items():
            path = os.path.join(directory, f"{graph.name}.{kind}.dot")
            with open(path, "w") as fh:
                fh.write(tg.to_dot(graph))
            print(f"wrote {path}")


def cache_command(action: str) -> int:
    """``tracegrad cache info`` / ``tracegrad cache clear``: the kernel cache on disk and in memory."""
    if action == "clear":
        directory = cache.cache_dir()
        try:
            deleted = cache.clear_cache(disk=True)
        except OSError as exc:
            print(f"tracegrad cache clear: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"cleared {directory} ({deleted} files deleted)" if directory else "disk cache off: nothing to clear")
        return 0
    usage = cache.disk_usage()
    if usage.directory is None:
        print("disk cache: off (TRACEGRAD_CACHE=0)")
        return 0
    limit = "unlimited" if usage.limit is None else cache.format_bytes(usage.limit)
    print(f"disk cache: {usage.directory}")
    print(f"kernels: {usage.kernels} ({usage.files} files, {cache.format_bytes(usage.bytes)} on disk, "
          f"numba's index and machine code included)")
    print(f"size limit: {limit} (TRACEGRAD_CACHE_SIZE); least recently used kernels are deleted beyond it")
    if usage.other_versions:
        print(f"other numba versions: {usage.other_versions} directories beside it, "
              f"{cache.format_bytes(usage.other_versions_bytes)} (within the same limit)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracegrad", description="tracegrad command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="the one-layer network: eager, compiled, its IR, its kernel, timings")
    p_dump = sub.add_parser("dump", help="forward IR, derived IR and kernel source of FILE.py:FUNC")
    p_dump.add_argument("target", metavar="FILE.py:FUNC")
    p_dump.add_argument("--args", required=True, help='argument types, e.g. "x=f32[4,5],w=f32[5,3]"')
    p_dump.add_argument("--argnums", help="arguments to differentiate, e.g. 0,1 (default: every float one)")
    p_dump.add_argument("--dot", action="store_true", help="also write Graphviz .dot files")
    p_dump.add_argument("--out", help="directory for the .dot files (default: .)")
    sub.add_parser("bench", help="compiled vs eager vs numpy (and PyTorch/JAX) on four workloads",
                   add_help=False)
    sub.add_parser("warmup", help="build the executor's machine code now (once per machine and version)")
    p_cache = sub.add_parser("cache", help="the kernel cache")
    p_cache.add_argument("action", choices=["info", "clear"])
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return bench_main(argv[1:])
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            demo()
        elif args.command == "dump":
            dump(args.target, args.args, args.argnums, args.dot, args.out)
        elif args.command == "warmup":
            warmup()
        else:
            return cache_command(args.action)
    except UsageError as e:
        print(f"tracegrad {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


def main_entry() -> None:
    """The ``tracegrad`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
