"""tracegrad's intermediate representation: the op table and typed SSA graphs over it.

>>> from tracegrad.ir import GraphBuilder, TensorType, parse, verify
"""

from tracegrad.ir.dot import to_dot
from tracegrad.ir.graph import GUARD, Graph, GraphBuilder, Node, Value, const_value
from tracegrad.ir.interpret import GuardFailure, interpret
from tracegrad.ir.ops import COMPOSITES, OPS, TABLE, Composite, Op
from tracegrad.ir.text import parse, print_graph
from tracegrad.ir.types import TensorType
from tracegrad.ir.verify import VerifyError, verify

__all__ = ["OPS", "COMPOSITES", "TABLE", "Op", "Composite", "TensorType", "Graph", "GraphBuilder", "Node",
           "Value", "const_value", "GUARD", "interpret", "GuardFailure", "parse", "print_graph", "verify",
           "VerifyError", "to_dot"]
