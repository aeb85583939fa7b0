"""The reference interpreter: runs a Graph with the op table's numpy implementations.

It is the oracle the compiled kernels are tested against, so it does
nothing clever: one numpy call per node, in order.
"""

from __future__ import annotations

import os

import numpy as np

from .graph import Graph, Node
from .ops import TABLE, IndexingError, ShapeError
from .walk import GuardFailure, Interpreter, guard_holds

__all__ = ["interpret", "GuardFailure", "guard_holds", "node_error", "ReferenceInterpreter"]


def node_error(node: Node, ins: list, err: Exception) -> Exception:
    """`err` (PyTorch's text) with the line eager mode adds: the op, the input shapes and the user's line."""
    shapes = ", ".join("[" + ", ".join(map(str, np.shape(a))) + "]" for a in ins)
    where = f"{os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else "<unknown>"
    return type(err)(f"{err}\n  in op '{node.op}' with input shapes {shapes} at {where}")


class ReferenceInterpreter(Interpreter):
    """Each node by its numpy implementation; a guard that does not hold raises :class:`GuardFailure`.

    With ``enforce_guards=False`` guards are evaluated and ignored (the caller ran the trace on
    these inputs already and wants every value, as the self-check does).
    """

    def __init__(self, graph: Graph, enforce_guards: bool = True):
        super().__init__(graph)
        self.enforce_guards = enforce_guards
        self.guards_passed = 0

    def run(self, inputs) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return super().run(inputs)

    def run_guard(self, node: Node, value) -> None:
        if self.enforce_guards and not guard_holds(node, value):
            raise GuardFailure(node, np.asarray(value).tolist(), self.guards_passed)
        self.guards_passed += 1

    def run_node(self, node: Node, ins: list) -> np.ndarray:
        try:
            out = TABLE[node.op].impl(*ins, **node.attrs)
        except (ShapeError, IndexingError) as e:
            raise node_error(node, ins, e) from None
        return out if type(out) is np.ndarray else np.asarray(out)


def interpret(graph: Graph, args) -> list[np.ndarray]:
    """Evaluate `graph` on input arrays `args`; raises GuardFailure when a guard does not hold."""
    return ReferenceInterpreter(graph).run(args)
