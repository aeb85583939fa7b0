"""tracegrad's intermediate representation: the op table and typed SSA graphs over it.

>>> from tracegrad.ir import GraphBuilder, TensorType, parse, verify
"""

# The custom_vjp entry runs the graphs it holds: it joins the op table once the graph machinery exists.
from tracegrad.ir import custom_vjp as _custom_vjp  # noqa: F401
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
