"""Neural-network helpers; for now the functional API (``tracegrad.nn.functional``)."""

from tracegrad.nn import functional

__all__ = ["functional"]
