"""Split a joint forward+adjoint graph into a forward graph and an adjoint graph.

The adjoint part is everything that depends on a cotangent input.  The
forward graph computes the primal outputs plus the *residuals*: the values
the adjoint part reads that it cannot compute itself.  The adjoint graph
takes ``residuals + cotangents`` and returns the gradients.  Forward values
that are cheap elementwise functions of other residuals could be recomputed
instead of saved; for now every residual is saved (the simple default of the
design).
"""

from __future__ import annotations

from dataclasses import dataclass

from tracegrad.ir.graph import GUARD, Graph, Value

__all__ = ["Partition", "partition"]


@dataclass
class Partition:
    """The two halves: ``forward(primals) -> outputs + residuals``, ``adjoint(residuals + cts) -> grads``."""

    forward: Graph
    adjoint: Graph
    n_outputs: int
    n_residuals: int


def partition(joint: Graph, n_outputs: int, ct_inputs: list[int]) -> Partition:
    """Split `joint` (outputs: `n_outputs` primal outputs, then gradients) at its cotangent inputs."""
    ct_ids = {joint.inputs[i].id for i in ct_inputs}
    adjoint_ids = set(ct_ids)
    fwd_nodes, adj_nodes = [], []
    for node in joint.nodes:
        if node.op != GUARD and any(v.id in adjoint_ids for v in node.inputs):
            adj_nodes.append(node)
            adjoint_ids.update(v.id for v in node.outputs)
        else:
            fwd_nodes.append(node)

    grads = joint.outputs[n_outputs:]
    residuals: list[Value] = []
    seen: set[int] = set()

    def need(v: Value) -> None:
        if v.id in adjoint_ids or v.const is not None or v.id in seen:
            return
        seen.add(v.id)
        residuals.append(v)
    for node in adj_nodes:
        for v in node.inputs:
            need(v)
    for v in grads:
        need(v)

    cts_set = set(ct_inputs)
    primals = [v for i, v in enumerate(joint.inputs) if i not in cts_set]
    names = None if joint.input_names is None else [n for i, n in enumerate(joint.input_names) if i not in cts_set]
    forward = Graph(inputs=primals, nodes=fwd_nodes, outputs=list(joint.outputs[:n_outputs]) + residuals,
                    name=joint.name.replace("_joint", "") + "_fwd", input_names=names)
    cts = [joint.inputs[i] for i in ct_inputs]
    adjoint = Graph(inputs=residuals + cts, nodes=adj_nodes, outputs=list(grads),
                    name=joint.name.replace("_joint", "") + "_bwd",
                    input_names=[f"res{i}" for i in range(len(residuals))] + [f"ct{j}" for j in range(len(cts))])
    return Partition(forward, adjoint, n_outputs, len(residuals))
