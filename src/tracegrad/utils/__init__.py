"""``tracegrad.utils``: data loading (``tracegrad.utils.data``)."""

from tracegrad.utils import data

__all__ = ["data"]
