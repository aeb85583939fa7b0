"""Which values a kernel stores in arrays, and which it recomputes inside its consumers' loops.

Elementwise ops (and the broadcasts feeding them) fuse: a value used once by
an elementwise op or a reduction is not stored but written as a scalar
expression inside its consumer's loop nest, so a chain like
``tanh(x) * sin(x) + 0.5 * exp(-x * x)`` summed becomes one loop with one
accumulator.  A value is *materialized* (stored in an array) when it is an
input, a constant array, a graph output, the result of a non-elementwise op
(matmul, reduction, indexing, ...), read by a non-elementwise op that needs
an array, used more than once (recomputing it would repeat its work), or
read by a max/min reduction and by anything else: the gradient's mask
``x == max(x)`` must compare the very numbers the maximum was taken of, and
two recomputations of one expression may round differently under fast-math
reassociation (the gradient of the maximum was lost that way).
Broadcasts are index transforms, never worth storing on their own.

Before planning, :func:`prepare` turns a graph into the primitive-only form
the code generator reads: composites decomposed, custom-vjp regions inlined
(their backward is already part of any adjoint graph), and the usual clean-up
passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracegrad.compiler.adjoint import decompose_composites
from tracegrad.compiler.passes import dce, optimize
from tracegrad.ir.graph import GUARD, Graph, Node, Value
from tracegrad.ir.ops import CHEAP, ORDINARY, TABLE
from tracegrad.ir.walk import Transformer, inline

__all__ = ["prepare", "FusionPlan", "plan_fusion", "ELEMENTWISE_INLINE"]

#: Ops whose result can be written as a scalar expression of their inputs' elements
#: (a broadcast only changes which element is read).
ELEMENTWISE_INLINE = {name for name, e in TABLE.items() if getattr(e, "kind", "") == "elementwise"} | {"broadcast"}
#: Consumers that read their input element by element and so can take an inlined expression.
_EXPRESSION_CONSUMERS = ELEMENTWISE_INLINE | {"sum", "max", "min"}
#: Reductions that select an element (their vjp compares it with the input again).
_SELECTING = {"max", "min"}
#: Ops cheaper to recompute in each consumer than to store and load (a few instructions).
CHEAP_OPS = frozenset(name for name, e in TABLE.items() if getattr(e, "cost", ORDINARY) == CHEAP)

#: A value read more than once is recomputed by each reader only while its expression holds at
#: most this many ops; a larger one is stored (a scalar local when its readers share its loop).
MAX_RECOMPUTED_OPS = 8


#: Ops :func:`prepare` replaces by the nodes of a graph they hold, so code generation never sees them.
INLINED_BEFORE_CODEGEN = frozenset({"custom_vjp"})


class _InlineCustomVjp(Transformer):
    """Each custom_vjp node replaced by the nodes of its forward graph."""

    def run_node(self, node: Node, ins: list[Value]) -> Value:
        if node.op != "custom_vjp":
            return self.copy(node, ins)
        forward = node.attrs["fwd"]
        mapping = inline(forward, self.builder, ins)
        return mapping.get(forward.outputs[0].id, forward.outputs[0])


def prepare(graph: Graph, clean_up: bool = True) -> Graph:
    """The primitive-only form of `graph` that code generation reads.

    `clean_up` runs the optimiser over the decomposed graph: worth it before a kernel is
    compiled, not before the executor runs a graph (it costs more than it saves there).
    """
    graph = decompose_composites(graph, only_without_vjp=False)
    if any(n.op == "custom_vjp" for n in graph.nodes):
        graph = _InlineCustomVjp(graph).transform()
    return optimize(graph) if clean_up else dce(graph)


@dataclass
class FusionPlan:
    """`materialized`: ids of values stored in arrays; `uses`: how many times each value is read."""

    materialized: set[int]
    uses: dict[int, int]
    producer: dict[int, Node]

    def inlined(self, v: Value) -> bool:
        """True when `v` is recomputed inside its consumer's loop instead of being stored."""
        return v.id not in self.materialized and v.const is None and v.id in self.producer


def plan_fusion(graph: Graph) -> FusionPlan:
    """Decide which values the kernel stores (see the module docstring for the rule)."""
    uses: dict[int, int] = {}
    consumers: dict[int, list[Node]] = {}
    producer: dict[int, Node] = {}
    for node in graph.nodes:
        for v in node.inputs:
            uses[v.id] = uses.get(v.id, 0) + 1
            consumers.setdefault(v.id, []).append(node)
        for v in node.outputs:
            producer[v.id] = node
    materialized = {v.id for v in graph.inputs}
    outputs = {v.id for v in graph.outputs}
    # A value whose inlined expression holds an expensive op must not be recomputed per use.
    costly: set[int] = set()
    # Ops each value's expression holds once its inlined inputs are written out in full: a cheap
    # value used twice is recomputed, and in a chain of such values (Horner's rule and its
    # adjoint) the recomputation, and the kernel text, grew quadratically.
    expanded: dict[int, int] = {}
    for node in graph.nodes:
        if node.op == GUARD:
            continue
        v = node.outputs[0]
        if node.op not in ELEMENTWISE_INLINE or v.id in outputs:
            materialized.update(x.id for x in node.outputs)
            continue
        readers = consumers.get(v.id, [])
        subtree_costly = node.op not in CHEAP_OPS or any(x.id in costly for x in node.inputs)
        expanded[v.id] = 1 + sum(expanded.get(x.id, 0) for x in node.inputs if x.id not in materialized)
        subtree_costly = subtree_costly or expanded[v.id] > MAX_RECOMPUTED_OPS
        if any(r.op not in _EXPRESSION_CONSUMERS for r in readers):
            materialized.add(v.id)
        elif len(readers) > 1 and any(r.op in _SELECTING for r in readers):
            materialized.add(v.id)
        elif uses.get(v.id, 0) > 1 and subtree_costly:
            materialized.add(v.id)
        elif subtree_costly:
            costly.add(v.id)
    return FusionPlan(materialized, uses, producer)
