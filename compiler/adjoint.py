"""Reverse-mode differentiation of an IR graph, IR in and IR out.

:func:`adjoint` walks the forward graph backwards and calls each node's vjp
rule from the op table with a :class:`~tracegrad.ir.graph.GraphBuilder` as
its emitter, so the rule's ops become nodes of the result; contributions to
a value used several times are summed; integer and boolean values, and
values behind a ``detach``, get no cotangent.  Each adjoint node carries the
source line of the forward node it came from.

Zeros from ``where`` stay zeros: when the cotangent reaching an elementwise
node is ``where(c, g, 0)`` (what ``where``'s vjp gives the branch it did not
take), each gradient that node passes on is masked by the same condition.
So ``grad(where(x > 0, sqrt(x), 0))`` is 0, not NaN, at ``x <= 0``: the
sqrt branch's infinite or NaN local derivative is never multiplied into a
zero.  Ops between ``where`` and the elementwise node carry the zeros when
their op-table entry says how (``where_mask``: slices, reshapes,
broadcasts, concatenation, sums, matmul): their vjp, applied to the 0/1
mask, says which input entries receive only zeros, and those are masked
again.  A sum of masked contributions stays masked where all of them are.
(PyTorch and JAX give NaN there; JAX documents the double-where
workaround, and tracegrad's eager tape follows PyTorch.)

The result is one *joint* graph: the forward nodes, then the adjoint nodes,
with outputs ``forward outputs + gradients``.  :mod:`compiler.partition`
splits it into a forward graph (saving residuals) and an adjoint graph.
"""

from __future__ import annotations

import numpy as np

from tracegrad.ir.graph import GUARD, Graph, GraphBuilder, Value, const_value
from tracegrad.ir.ops import TABLE, Composite, VjpContext, broadcast_shapes
from tracegrad.ir.types import is_float
from tracegrad.ir.walk import Transformer

__all__ = ["adjoint", "decompose_composites", "differentiable_values", "where_mask", "where_masks"]


def _is_zero(v: Value) -> bool:
    node = getattr(v, "node", None)
    if v.const is None and node is not None and node.op == "broadcast":
        v = node.inputs[0]
    return v.const is not None and v.const.size > 0 and not np.any(v.const)


def where_mask(g: Value) -> tuple[Value, bool] | None:
    """``(c, True)`` when `g` is ``where(c, x, 0)``, ``(c, False)`` for ``where(c, 0, x)``, else None."""
    node = getattr(g, "node", None)
    if node is None or node.op != "where":
        return None
    c, x, y = node.inputs
    if _is_zero(y):
        return c, True
    if _is_zero(x):
        return c, False
    return None


def where_masks(g: Value) -> list[tuple[Value, bool]]:
    """Every :func:`where_mask` of `g`, outermost first: ``where(c1, where(c2, x, 0), 0)`` has two."""
    masks = []
    while (mask := where_mask(g)) is not None:
        masks.append(mask)
        c, x, y = g.node.inputs
        g = x if mask[1] else y
    return masks


def _masked(b: GraphBuilder, g: Value, masks: list[tuple[Value, bool]]) -> Value:
    """`g` with the zeros of each mask applied again (innermost first, so the outermost is on top)."""
    for c, taken in reversed(masks):
        g = b.where(c, g, 0.0) if taken else b.where(c, 0.0, g)
    return g


def _unmasked(b: GraphBuilder, masks: list[tuple[Value, bool]]) -> Value:
    """The boolean value that is true where none of `masks` zeroes."""
    keep = None
    for c, taken in masks:
        c = c if taken else b.logical_not(c)
        keep = c if keep is None else b.logical_and(keep, c)
    return keep


def _reached_by_unmasked(b: GraphBuilder, entry, ctx: VjpContext, masks) -> list[Value | None]:
    """Per input of a non-elementwise node, which entries receive some cotangent entry no mask zeroed.

    The node's own vjp (or its entry's ``where_mask`` rule) is applied to the
    0/1 indicator of the unmasked output entries: an input entry that gets
    exactly 0 receives only zeros.
    """
    out = ctx.out
    indicator = _masked(b, b.broadcast_to(const_value(np.ones((), dtype=out.dtype)), out.shape), masks)
    rule = entry.where_mask if callable(entry.where_mask) else entry.vjp
    return list(rule(b, ctx, indicator))


def differentiable_values(graph: Graph, wrt: list[Value]) -> set[int]:
    """Ids of float values that depend on `wrt` through differentiable ops."""
    live = {v.id for v in wrt if is_float(v.dtype)}
    for node in graph.nodes:
        if node.op in (GUARD, "detach") or not node.outputs:
            continue
        entry = TABLE[node.op]
        if not (entry.vjp is not None or isinstance(entry, Composite)):
            continue
        if any(v.id in live for v in node.inputs):
            for out in node.outputs:
                if is_float(out.dtype):
                    live.add(out.id)
    return live


def decompose_composites(graph: Graph, only_without_vjp: bool = True) -> Graph:
    """Replace composite nodes by their primitives (those without a closed-form vjp, or all)."""
    def decomposed(entry) -> bool:
        return isinstance(entry, Composite) and (entry.vjp is None or not only_without_vjp)
    if not any(decomposed(TABLE.get(node.op)) for node in graph.nodes):
        out = graph.header()
        out.nodes, out.outputs = list(graph.nodes), list(graph.outputs)
        return out

    class Decompose(Transformer):
        def run_node(self, node, ins):
            entry = TABLE[node.op]
            if not decomposed(entry):
                return self.copy(node, ins)
            return self.builder._value(entry.decompose(self.builder, *ins, **node.attrs))
    return Decompose(graph).transform()


def _accumulated(b: GraphBuilder, prev: Value, g: Value) -> Value:
    """``prev + g``, as ``prev - x`` when `g` is ``-x`` (or ``g - x`` when `prev` is).

    A subtraction's vjp gives its second operand ``-g``: accumulated as a subtraction, that
    negation is dead and the clean-up drops it (a node fewer per use; a + (-x) is a - x
    exactly, signed zeros and integer wrap-around included).
    """
    for total, negated in ((prev, g), (g, prev)):
        node = negated.node
        if node is not None and node.op == "neg" and node.inputs[0].type == negated.type:
            return b.sub(total, node.inputs[0])
    return b.add(prev, g)


def adjoint(graph: Graph, wrt: list[int], seed: str = "ones",
            seed_outputs: list[int] | None = None) -> tuple[Graph, list[int]]:
    """The joint forward+adjoint graph of `graph` with respect to inputs `wrt` (indices).

    The outputs listed in `seed_outputs` (default: all) are differentiated.
    `seed` is ``"ones"`` (they must be scalars: ``grad``) or ``"inputs"``
    (one cotangent input per differentiated float output is appended to the
    graph inputs: ``vjp``).  Returns the joint graph, whose outputs are the
    forward outputs followed by one gradient per `wrt` input, and the
    indices of the cotangent inputs (empty for ``"ones"``).
    """
    graph = decompose_composites(graph)
    joint = graph.header(f"{graph.name}_joint")
    joint.nodes = list(graph.nodes)
    b = GraphBuilder(joint)
    wrt_values = [graph.inputs[i] for i in wrt]
    live = differentiable_values(graph, wrt_values)

    cotangent: dict[int, Value] = {}
    ct_inputs: list[int] = []

    def add_ct(v: Value, g: Value) -> None:
        if g.shape != v.shape:
            g = b.sum_to_shape(b.broadcast_to(g, broadcast_shapes(g.shape, v.shape)), v.shape)
        if g.dtype != v.dtype:
            g = b.cast_to(g, v.dtype)
        prev = cotangent.get(v.id)
        if prev is None:
            cotangent[v.id] = g
            return
        prev_masks, g_masks = where_masks(prev), where_masks(g)
        total = _accumulated(b, prev, g)
        if prev_masks and g_masks:
            # Zero where both are: a sum of masked contributions (a value used twice) stays masked.
            total = b.where(b.logical_or(_unmasked(b, prev_masks), _unmasked(b, g_masks)), total, 0.0)
        cotangent[v.id] = total

    seeded = range(len(graph.outputs)) if seed_outputs is None else seed_outputs
    for k in seeded:
        out = graph.outputs[k]
        if seed == "inputs" and is_float(out.dtype):
            ct = b.input(out.type)
            ct_inputs.append(len(joint.inputs) - 1)
            if out.id in live:
                add_ct(out, ct)
            continue
        if out.id not in live:
            continue
        if out.shape != ():
            raise ValueError(f"grad requires a scalar output, got shape {list(out.shape)}; use vjp or "
                             f"jacobian for non-scalar outputs")
        add_ct(out, const_value(np.ones((), dtype=out.dtype)))

    for node in reversed(graph.nodes):
        if not node.outputs or node.op in (GUARD, "detach"):
            continue
        out = node.outputs[0]
        g = cotangent.pop(out.id, None)
        if g is None or out.id not in live:
            continue
        entry = TABLE[node.op]
        inputs = node.inputs
        # (Lists turned into tuples: generators cost a large scalar graph's adjoint a tenth.)
        needs = tuple([v.id in live for v in inputs])
        if True not in needs:
            continue
        ctx = VjpContext(tuple(inputs), out, tuple([v.type.shape for v in inputs]),
                         tuple([v.type.dtype for v in inputs]), needs, node.attrs)
        b.loc = node.loc
        b.grad_of = entry.eager_name(ctx.shapes, node.attrs)
        masks = where_masks(g) if entry.kind == "elementwise" or getattr(entry, "where_mask", None) else []
        grads = entry.vjp(b, ctx, g)
        reached = _reached_by_unmasked(b, entry, ctx, masks) if masks and entry.kind != "elementwise" else None
        for k, (v, need, gi) in enumerate(zip(node.inputs, needs, grads)):
            if need and gi is not None:
                gi = b._value(gi)
                if reached is not None and reached[k] is not None and is_float(gi.dtype):
                    # The zeros the masks made, carried to this input: its elementwise producer masks again.
                    reach = b._value(reached[k])
                    if reach.shape != v.shape:
                        reach = b.sum_to_shape(b.broadcast_to(reach, broadcast_shapes(reach.shape, v.shape)), v.shape)
                    if gi.shape != v.shape:
                        gi = b.sum_to_shape(b.broadcast_to(gi, broadcast_shapes(gi.shape, v.shape)), v.shape)
                    gi = b.where(b.ne(reach, 0.0), gi, 0.0)
                elif masks and reached is None and gi.shape == out.shape == v.shape and is_float(gi.dtype):
                    gi = _masked(b, gi, masks)
                add_ct(v, gi)

    b.loc = b.grad_of = None
    grads = []
    for v in wrt_values:
        g = cotangent.get(v.id)
        if g is None:
            g = b.broadcast_to(const_value(np.zeros((), dtype=v.dtype)), v.shape)
        grads.append(g)
    joint.outputs = list(graph.outputs) + grads
    return joint, ct_inputs

