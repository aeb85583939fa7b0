"""Tiered execution: a graph starts on the executor and moves to a fused kernel once that pays.

A :class:`TieredRunner` answers its first call through the executor
(:mod:`compiler.executor`: nothing to compile per graph).  It measures the
time its calls spend there; once that time exceeds the estimated time to
compile the graph's numba kernel, the kernel is compiled by a *worker
process* (numba holds the GIL while it types a function, so a thread would
stall the caller) that leaves the machine code in the disk cache.  A thread
of this process waits for the worker, loads the kernel from the disk cache
and swaps it in; calls made meanwhile keep running on the executor.

A kernel already in memory (another function traced the same graph) or on
disk (a previous process compiled it) is used at once.  A compile that fails,
is killed, or races another process leaves the function on the executor, with
the reason logged on the ``tracegrad.compile`` logger.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time

from tracegrad.compiler import cache, pipeline
from tracegrad.compiler.runners import argument_specs

log = logging.getLogger("tracegrad.compile")

__all__ = ["TieredRunner", "estimated_compile_seconds", "background_compiles"]

#: Seconds a kernel compile is assumed to take: a fixed part plus a part per lowered node (numba typing
#: and LLVM grow with the kernel; measured about 3 s for 15 nodes, 80-200 s for 6,000, 330-550 s for 8,000).
_FIXED_SECONDS, _SECONDS_PER_NODE = 1.0, 0.04

#: How a compile worker is started (a fresh interpreter running compiler/worker.py).
WORKER_COMMAND = [sys.executable, "-m", "tracegrad.compiler.worker"]

_workers: set[subprocess.Popen] = set()
_workers_lock = threading.Lock()


#: Longest compile assumed: repeated pieces (integrator and rnn steps) are rolled into loops, so a
#: large graph's kernel holds its distinct pieces only (8.5 s for 200 ODE steps, 8,600 nodes); a
#: graph without repetition that takes longer compiles in the background all the same.
_MAX_SECONDS = 10.0


def estimated_compile_seconds(n_nodes: int) -> float:
    """How long compiling a kernel of `n_nodes` lowered nodes is assumed to take."""
    return min(_FIXED_SECONDS + _SECONDS_PER_NODE * n_nodes, _MAX_SECONDS)


def _promotion_factor() -> float | None:
    """``TRACEGRAD_TIER_AFTER``: executor time that makes a graph hot, in estimated compile times (None: never)."""
    text = os.environ.get("TRACEGRAD_TIER_AFTER", "1")
    try:
        factor = float(text)
    except ValueError:
        return 1.0
    return None if factor < 0 else factor


def background_compiles() -> int:
    """How many kernel compiles run in worker processes right now."""
    with _workers_lock:
        return sum(1 for w in _workers if w.poll() is None)


@atexit.register
def _stop_workers() -> None:
    # A worker left running would finish a kernel nobody waits for; its partial
    # files are never renamed into place (numba writes its cache atomically).
    with _workers_lock:
        for w in list(_workers):
            if w.poll() is None:
                w.kill()


def _marker_path(key) -> str | None:
    directory = cache.cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    return os.path.join(directory, "graphs", digest)


def kernel_on_disk(key) -> bool:
    """Whether a kernel for the graph of `key` (see compiler.backend) was compiled into the disk cache."""
    path = _marker_path(key)
    return path is not None and os.path.exists(path)


def mark_on_disk(key) -> None:
    """Note that the kernel for the graph of `key` is in the disk cache."""
    path = _marker_path(key)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("compiled\n")
    except OSError:  # an unwritable cache only costs the warm start
        pass


class TieredRunner:
    """A graph behind the backend interface, on the executor until its kernel is ready.

    `tier` is ``"executor"`` or ``"kernel"`` (what answers the next call);
    `reason` says why a kernel was not used, when it was not.
    """

    __slots__ = ("graph", "key", "current", "tier", "spent", "budget", "n_nodes", "state", "reason", "_lock",
                 "__weakref__")

    def __init__(self, graph, key, executor_runner, n_nodes: int):
        self.graph = graph
        self.key = key
        self.current = executor_runner
        self.tier = "executor"
        self.spent = 0.0
        factor = _promotion_factor()
        self.budget = None if factor is None else factor * estimated_compile_seconds(n_nodes)
        self.n_nodes = n_nodes
        self.state = "waiting"   # waiting -> compiling -> done | failed
        self.reason = ""
        self._lock = threading.Lock()

    @property
    def source(self):
        return getattr(self.current, "source", None)

    def __call__(self, arrays):
        if self.tier == "kernel":
            return self.current(arrays)
        start = time.perf_counter()
        try:
            return self.current(arrays)
        finally:
            self.spent += time.perf_counter() - start
            if self.budget is not None and self.spent > self.budget and self.state == "waiting":
                self.promote()

    def promote(self) -> None:
        """Start compiling the kernel in the background (once)."""
        with self._lock:
            if self.state != "waiting":
                return
            self.state = "compiling"
        log.info("graph %s is hot (%.3f s on the executor): compiling its kernel in the background",
                 self.graph.name, self.spent)
        threading.Thread(target=self._compile, name=f"tracegrad-compile-{self.graph.name}", daemon=True).start()

    def use_kernel(self, kernel) -> None:
        self.current = kernel
        self.tier = "kernel"
        self.state = "done"

    def _compile(self) -> None:
        start = time.perf_counter()
        try:
            lowering = pipeline.lower(self.graph, "kernel")
            _compile_in_worker(lowering.kernel, lowering.lowered)
            kernel = pipeline.load(lowering)
        except Exception as e:  # any failure leaves the executor serving, with the reason logged
            self.state = "failed"
            self.reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"
            log.info("graph %s stays on the executor: background compile failed (%s)", self.graph.name, self.reason)
            return
        cache.default_cache.get_or_create(self.key, lambda: kernel)
        mark_on_disk(self.key)
        self.use_kernel(kernel)
        log.info("graph %s moved to its kernel after a %.1f s background compile", self.graph.name,
                 time.perf_counter() - start)


def _compile_in_worker(ks, lowered) -> None:
    """Compile kernel `ks` into the disk cache in a fresh Python process; raise if it fails."""
    if cache.cache_dir() is None:
        raise RuntimeError("the disk cache is off (TRACEGRAD_CACHE=0): a worker's kernel could not be shared")
    job = json.dumps({"source": ks.canonical, "entry": ks.entry, "args": argument_specs(lowered, ks)})
    worker = subprocess.Popen(list(WORKER_COMMAND), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    with _workers_lock:
        _workers.add(worker)
    try:
        _, err = worker.communicate(job.encode())
    finally:
        with _workers_lock:
            _workers.discard(worker)
    if worker.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {worker.returncode}"]
        raise RuntimeError(f"compile worker failed: {last[0][:300]}")
