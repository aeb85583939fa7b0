"""tracegrad's intermediate representation: the op table and, around it, typed SSA graphs."""

from tracegrad.ir.ops import COMPOSITES, OPS, TABLE, Composite, Op
from tracegrad.ir.types import TensorType

__all__ = ["OPS", "COMPOSITES", "TABLE", "Op", "Composite", "TensorType"]
