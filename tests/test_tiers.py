"""Tiered execution: a function starts on the executor and moves to its kernel once hot.

Both tiers must give eager mode's answers on every call, including the calls
made while a kernel compiles in the background and while the function
switches; a compile that fails or is killed leaves the executor serving.
``TRACEGRAD_TIER_AFTER=0`` makes every function hot after its first call.
Each test uses its own cache directory and a graph no other test compiles,
so that no kernel is found ready in a cache.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.compiler import tiers

#: Seconds a background compile may take on a loaded machine before a test gives up.
PATIENCE = 240


@pytest.fixture
def hot(monkeypatch, tmp_path):
    """Every function is hot after one call; kernels go to a fresh cache directory."""
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEGRAD_TIER_AFTER", "0")
    monkeypatch.delenv("TRACEGRAD_TIER", raising=False)
    monkeypatch.delenv("TRACEGRAD_BACKEND", raising=False)
    return tmp_path


def _runners(f):
    return [c._runners["graph"] for paths in f._cache.values() for c in paths]


def _call_until(f, make_input, check, tier: str, timeout: float = PATIENCE) -> int:
    """Call f on fresh inputs, checking each answer, until every trace runs on `tier`; the number of calls."""
    deadline = time.monotonic() + timeout
    calls = 0
    while True:
        x = make_input(calls)
        check(x, f(x))
        calls += 1
        tiers_now = f.cache_info().tiers
        if tiers_now and all(t == tier for t in tiers_now):
            return calls
        if any(getattr(r, "state", "") == "failed" for r in _runners(f)) and tier != "executor":
            raise AssertionError(f"background compile failed: {[r.reason for r in _runners(f)]}")
        assert time.monotonic() < deadline, f"still {tiers_now} after {calls} calls"
        time.sleep(0.02)


def _tanh_grad(scale):
    return lambda x: scale * (np.tanh(x) + x * (1 - np.tanh(x) ** 2))


def test_a_hot_function_moves_to_its_kernel_and_keeps_its_answers(hot, caplog):
    scale = 1.2345
    f = tg.grad(lambda x: (tg.tanh(x) * x * scale).sum())
    expected = _tanh_grad(scale)
    rng = np.random.default_rng(0)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        calls = _call_until(f, lambda k: rng.normal(size=7),
                            lambda x, g: np.testing.assert_allclose(g, expected(x), rtol=1e-12), "kernel")
    assert calls >= 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("is hot" in m for m in messages)
    assert any("moved to its kernel" in m for m in messages)
    for _ in range(5):  # and on the kernel from now on
        x = rng.normal(size=7)
        np.testing.assert_allclose(f(x), expected(x), rtol=1e-12)
    assert f.cache_info().tiers == ("kernel",)


def test_guarded_paths_agree_on_both_tiers(hot):
    def branchy(x):
        if x.sum() > 0:
            return (tg.sin(x) * 2.5).sum()
        return (tg.exp(x) * 0.75).sum()

    def expected(x):
        return 2.5 * np.cos(x) if x.sum() > 0 else 0.75 * np.exp(x)
    f = tg.grad(branchy)
    rng = np.random.default_rng(1)

    def make(k):
        x = rng.normal(size=5)
        return np.abs(x) if k % 2 else -np.abs(x)
    _call_until(f, make, lambda x, g: np.testing.assert_allclose(g, expected(x), rtol=1e-12), "kernel")
    assert f.cache_info().traces == 2


def test_a_failed_compile_leaves_the_executor_serving(hot, monkeypatch, caplog):
    monkeypatch.setattr(tiers, "WORKER_COMMAND", [sys.executable, "-c", "import sys; sys.exit('compiler exploded')"])
    f = tg.jit(lambda x: tg.exp(x) * 0.3719 + x)
    rng = np.random.default_rng(2)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for _ in range(PATIENCE * 10):
            x = rng.normal(size=4)
            np.testing.assert_allclose(f(x), np.exp(x) * 0.3719 + x, rtol=1e-13)
            if all(r.state == "failed" for r in _runners(f)):
                break
            time.sleep(0.05)
    (runner,) = _runners(f)
    assert runner.state == "failed" and "compiler exploded" in runner.reason
    assert f.cache_info().tiers == ("executor",)
    assert any("background compile failed" in r.getMessage() and "compiler exploded" in r.getMessage()
               for r in caplog.records)
    x = rng.normal(size=4)
    np.testing.assert_allclose(f(x), np.exp(x) * 0.3719 + x, rtol=1e-13)
    assert not tiers.kernel_on_disk(runner.key)  # nothing was recorded as compiled


def test_a_killed_worker_leaves_the_executor_serving(hot, monkeypatch):
    monkeypatch.setattr(tiers, "WORKER_COMMAND",
                        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    f = tg.grad(lambda x: (x * x * 0.4391).sum())
    x = np.arange(3.0)
    deadline = time.monotonic() + PATIENCE
    while not all(r.state == "failed" for r in _runners(f)) or not _runners(f):
        np.testing.assert_allclose(f(x), 2 * 0.4391 * x, rtol=1e-14)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (runner,) = _runners(f)
    assert "exit status -9" in runner.reason
    np.testing.assert_allclose(f(x), 2 * 0.4391 * x, rtol=1e-14)


def test_threads_calling_during_the_switch_get_right_answers(hot):
    scale = 0.8125
    f = tg.grad(lambda x: (tg.tanh(x) * x * scale).sum())
    expected = _tanh_grad(scale)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(seed):
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                x = rng.normal(size=9)
                np.testing.assert_allclose(f(x), expected(x), rtol=1e-12)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + PATIENCE
        while f.cache_info().tiers != ("kernel",) and not errors:
            assert time.monotonic() < deadline, f.cache_info()
            time.sleep(0.05)
        time.sleep(0.2)  # some calls on the kernel too
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]


_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import tracegrad as tg

    f = tg.grad(lambda x: (tg.sin(x) * x * 0.6180339).sum())
    x = np.linspace(-1.0, 1.0, 6)
    expected = 0.6180339 * (np.sin(x) + x * np.cos(x))
    wait = sys.argv[1] == "wait"
    deadline = time.monotonic() + float(sys.argv[2])
    while True:
        g = f(x)
        assert np.allclose(g, expected, rtol=1e-12), g
        if not wait or f.cache_info().tiers == ("kernel",) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(f.cache_info().tiers[0])
""")


def _child(tmp_path, *args, env_extra=None):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_processes_racing_then_a_warm_start_takes_the_kernel_at_once(hot):
    racers = [_child(hot, "wait", str(PATIENCE)) for _ in range(2)]
    for p in racers:
        out, err = p.communicate(timeout=PATIENCE + 60)
        assert p.returncode == 0, err
        assert out.strip() == "kernel", (out, err)
    # A new process finds the kernel on disk: tier 1 from its first call, nothing compiled.
    warm = _child(hot, "once", "0", env_extra={"TRACEGRAD_TIER_AFTER": "-1"})
    out, err = warm.communicate(timeout=120)
    assert warm.returncode == 0, err
    assert out.strip() == "kernel"


def test_a_process_may_exit_while_its_kernel_compiles(hot):
    start = time.monotonic()
    child = _child(hot, "once", "0")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip() in ("executor", "kernel (compiling)")
    assert time.monotonic() - start < 60  # it did not wait for the compile


def test_tier_argument_and_environment(monkeypatch):
    monkeypatch.delenv("TRACEGRAD_BACKEND", raising=False)
    assert tg.jit(lambda x: x + 1.0, tier="executor").backend == "executor"
    assert tg.jit(lambda x: x + 1.0, tier="kernel").backend == "numba"
    monkeypatch.setenv("TRACEGRAD_TIER", "executor")
    assert tg.grad(lambda x: (x * x).sum()).backend == "executor"
    with pytest.raises(ValueError, match="unknown tier 'fast'"):
        tg.jit(lambda x: x, tier="fast")
