"""TRACEGRAD_LOG: traces and compiles with durations, and why the cache missed."""

import logging

import numpy as np

import tracegrad as tg
from tracegrad._log import configure_from_env


def branchy(x):
    if x.sum() > 0:
        return (x * x).sum()
    return x.sum()


def test_cache_misses_say_why(caplog):
    caplog.set_level(logging.INFO, logger="tracegrad")
    g = tg.grad(branchy, backend="interpreter")
    g(np.ones(3))
    g(np.ones(3))
    g(-np.ones(3))
    g(np.ones(4))
    g(np.ones(4, np.float32))
    cache = [r.getMessage() for r in caplog.records if r.name == "tracegrad.cache"]
    assert cache[0] == "branchy: first call: tracing"
    assert cache[1].startswith("branchy: new path: guard failed at test_logging.py:12 (traced with True)")
    assert "new shape for argument leaf 0: float64[4] (cached: float64[3])" in cache[2]
    assert "new shape and new dtype for argument leaf 0: float32[4]" in cache[3]
    assert len(cache) == 4  # the second call hit the cache
    guards = [r.getMessage() for r in caplog.records if r.name == "tracegrad.guards"]
    assert guards and guards[0].startswith("guard at test_logging.py:12 does not hold (traced with True)")
    traced = [r.getMessage() for r in caplog.records if r.name == "tracegrad.compile"]
    assert traced and all(m.startswith("traced branchy in ") for m in traced)


def test_static_argument_change_is_named(caplog):
    caplog.set_level(logging.INFO, logger="tracegrad.cache")
    g = tg.grad(lambda x, k: (x * k).sum(), backend="interpreter")
    g(np.ones(2), 2)
    g(np.ones(2), 3)
    assert any("new constant argument leaf 1: 3 (cached: 2)" in r.getMessage() for r in caplog.records)


def test_float_argument_that_changes_is_named(caplog):
    caplog.set_level(logging.INFO, logger="tracegrad.cache")
    g = tg.grad(lambda x, k: (x * k).sum(), backend="interpreter")
    g(np.ones(2), 2.0)
    g(np.ones(2), 3.0)
    assert any("float argument leaf 1 changed value (3.0, cached: 2.0): traced as an input" in r.getMessage()
               for r in caplog.records)


def test_environment_variable_attaches_stderr_handlers():
    configure_from_env("compile,guards")
    names = {h.formatter._fmt for h in logging.getLogger("tracegrad.compile").handlers if getattr(h, "_tracegrad", 0)}
    assert names == {"tracegrad[compile]: %(message)s"}
    assert not any(getattr(h, "_tracegrad", 0) for h in logging.getLogger("tracegrad.cache").handlers)
    for topic in ("compile", "guards"):
        logger = logging.getLogger(f"tracegrad.{topic}")
        logger.handlers = [h for h in logger.handlers if not getattr(h, "_tracegrad", 0)]
        logger.setLevel(logging.NOTSET)
