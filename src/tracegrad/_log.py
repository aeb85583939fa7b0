"""Diagnostics through the standard ``logging`` module, switched on with ``TRACEGRAD_LOG``.

``TRACEGRAD_LOG=compile,cache,guards`` (any subset, or ``all``) prints, on
stderr, each trace and compile with its duration (``compile``), why a call
could not reuse a cached trace (``cache``: new shape, new dtype, new
constant argument, or a guard that failed, with its source line), and every
failed guard (``guards``).  The loggers are ``tracegrad.compile``,
``tracegrad.cache`` and ``tracegrad.guards``; configure them like any other
logger instead of using the variable if you prefer.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["compile_log", "cache_log", "guard_log", "configure_from_env"]

TOPICS = ("compile", "cache", "guards")
compile_log = logging.getLogger("tracegrad.compile")
cache_log = logging.getLogger("tracegrad.cache")
guard_log = logging.getLogger("tracegrad.guards")


def configure_from_env(value: str | None = None) -> None:
    """Attach a stderr handler to the loggers named in `value` (default: ``$TRACEGRAD_LOG``)."""
    value = os.environ.get("TRACEGRAD_LOG", "") if value is None else value
    wanted = set(TOPICS) if value.strip() == "all" else {t.strip() for t in value.split(",") if t.strip()}
    for topic in TOPICS:
        logger = logging.getLogger(f"tracegrad.{topic}")
        if topic in wanted and not any(getattr(h, "_tracegrad", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(f"tracegrad[{topic}]: %(message)s"))
            handler._tracegrad = True
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
