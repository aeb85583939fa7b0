"""The reference interpreter: runs a Graph with the op table's numpy implementations.

It is the oracle the compiled kernels are tested against, so it does
nothing clever: one numpy call per node, in order.
"""

from __future__ import annotations

import os

import numpy as np

from .graph import GUARD, Graph, Node
from .ops import TABLE, IndexingError, ShapeError

__all__ = ["interpret", "GuardFailure", "guard_holds", "node_error"]


class GuardFailure(Exception):
    """A value Python read while tracing differs now: this trace does not apply to these inputs."""

    def __init__(self, node: Node, actual, ordinal: int | None = None):
        self.node = node
        self.actual = actual
        #: which guard of its graph failed, counting from 0 in graph order (None when unknown)
        self.ordinal = ordinal
        super().__init__(node, actual, ordinal)

    def __str__(self) -> str:
        # Written when asked for: dispatch among a function's traces raises and catches one
        # of these per rejected trace, and formatting the message was a third of that cost.
        node = self.node
        where = f" at {node.loc[0]}:{node.loc[1]}" if node.loc else ""
        return f"guard failed{where}: expected {node.attrs['expected']!r}, got {self.actual!r}"


def guard_holds(node: Node, value) -> bool:
    """Whether `value` is what the guard `node` recorded."""
    actual = np.asarray(value).tolist()
    return actual == node.attrs["expected"]


def node_error(node: Node, ins: list, err: Exception) -> Exception:
    """`err` (PyTorch's text) with the line eager mode adds: the op, the input shapes and the user's line."""
    shapes = ", ".join("[" + ", ".join(map(str, np.shape(a))) + "]" for a in ins)
    where = f"{os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else "<unknown>"
    return type(err)(f"{err}\n  in op '{node.op}' with input shapes {shapes} at {where}")


def interpret(graph: Graph, args) -> list[np.ndarray]:
    """Evaluate `graph` on input arrays `args`; raises GuardFailure when a guard does not hold."""
    if len(args) != len(graph.inputs):
        raise ValueError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[int, np.ndarray] = {}
    for v, a in zip(graph.inputs, args):
        env[v.id] = a

    def read(v):
        return v.const if v.const is not None else env[v.id]
    guards = 0
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            ins = [read(v) for v in node.inputs]
            if node.op == GUARD:
                if not guard_holds(node, ins[0]):
                    raise GuardFailure(node, np.asarray(ins[0]).tolist(), guards)
                guards += 1
                continue
            try:
                out = TABLE[node.op].impl(*ins, **node.attrs)
            except (ShapeError, IndexingError) as e:
                raise node_error(node, ins, e) from None
            env[node.outputs[0].id] = out if type(out) is np.ndarray else np.asarray(out)
    return [read(v) for v in graph.outputs]
