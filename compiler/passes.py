"""Graph-to-graph clean-ups: dead code, common subexpressions, constants, algebra.

Each pass takes a Graph and returns a new Graph computing the same outputs
(guards are kept: they are part of what a trace means).  Passes rewrite by
substituting values, so a node's outputs keep their identity when the node
survives.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tracegrad.ir.graph import GUARD, SMALL_CONST, Graph, GraphBuilder, Node, Value, const_value
from tracegrad.ir.ops import TABLE, attrs_key
from tracegrad.ir.walk import Transformer

__all__ = ["dce", "cse", "fold_constants", "simplify", "optimize"]

# Constants up to this many elements are folded and compared by value.
_SMALL = SMALL_CONST


def _copy_header(graph: Graph, nodes: list[Node], outputs: list[Value]) -> Graph:
    out = graph.header()
    out.nodes, out.outputs = nodes, outputs
    return out


def dce(graph: Graph) -> Graph:
    """Drop nodes whose outputs nothing reads (guards always stay)."""
    live = {v.id for v in graph.outputs}
    keep = []
    for node in reversed(graph.nodes):
        outs = node.outputs
        # (Almost every node has one output: testing it directly halves the walk's cost.)
        if (outs[0].id in live if len(outs) == 1 else node.op == GUARD or any(v.id in live for v in outs)):
            keep.append(node)
            for v in node.inputs:
                live.add(v.id)
    keep.reverse()
    return _copy_header(graph, keep, list(graph.outputs))


class _Rewriter(GraphBuilder):
    """A builder that also knows which node of the graph being built defines each value."""

    def __init__(self, graph: Graph):
        super().__init__(graph)
        self.producers: dict[int, Node] = {}
        #: nodes the rules emitted (a clean-up walk that emitted none reached the rules' fixed point)
        self.emitted = 0

    def emit(self, op, inputs, attrs, out_types):
        self.emitted += 1
        outs = super().emit(op, inputs, attrs, out_types)
        self.producers[outs[0].id if outs else -1] = self.graph.nodes[-1]
        return outs

    def producer(self, v: Value, op: str) -> Node | None:
        """The node of the new graph that defines `v`, if it is an `op` node."""
        node = self.producers.get(v.id)
        return node if node is not None and node.op == op else None


def _rewrite(graph: Graph, rule) -> Graph:
    """Apply `rule(node, inputs, builder) -> Value | None` to each node; None keeps the node.

    Rules look at producers through ``builder.producer`` (the rewritten graph),
    never through ``Value.node``, which still names the node of the old graph.
    """
    return _rewrite_emitting(graph, rule)[0]


class _RuleTransformer(Transformer):
    """Each node offered to `rule`; the ones it returns None for are kept."""

    def __init__(self, graph: Graph, rule):
        super().__init__(graph, builder=_Rewriter(graph.header()))
        self.rule = rule

    def run_node(self, node: Node, ins: list[Value]) -> Value:
        replacement = self.rule(node, ins, self.builder)
        return self.copy(node, ins) if replacement is None else replacement

    def kept(self, node: Node) -> None:
        self.builder.producers[node.outputs[0].id] = node


def _rewrite_emitting(graph: Graph, rule) -> tuple[Graph, int]:
    """:func:`_rewrite`, and how many nodes its rules emitted."""
    walk = _RuleTransformer(graph, rule)
    return walk.transform(), walk.builder.emitted


def _const_key(v: Value):
    if v.const is not None and v.const.size <= _SMALL:
        return ("c", v.dtype.str, v.shape, v.const.tobytes())
    return ("v", v.id)


#: Binary ops whose result does not depend on the order of the operands, bit for bit.  Not
#: maximum and minimum: numpy's maximum(0.0, -0.0) is 0.0, maximum(-0.0, 0.0) is -0.0.
_COMMUTATIVE = frozenset({"add", "mul", "eq", "ne", "logical_and", "logical_or"})


def _cse_rule():
    """The rule of :func:`cse`: the first node with the same op, attrs and inputs answers for the others."""
    seen: dict = {}

    def rule(node, ins, b):
        operands = [_const_key(v) for v in ins]
        if node.op in _COMMUTATIVE and operands[1] < operands[0]:
            operands.reverse()  # a * b and b * a are one value (bit for bit, in IEEE and in integers)
        key = (node.op, attrs_key(node.attrs), tuple(operands))
        prev = seen.get(key)
        if prev is not None:
            return prev
        seen[key] = node.outputs[0]
        return None
    return rule


def cse(graph: Graph) -> Graph:
    """Reuse the first of two nodes with the same op, attrs and inputs."""
    return _rewrite(graph, _cse_rule())


def _fold_rule(node, ins, b):
    """The rule of :func:`fold_constants`."""
    if not ins:
        return None
    for v in ins:
        if v.const is None:
            return None
    out_type = node.outputs[0].type
    if math.prod(out_type.shape) > _SMALL:
        return None
    if node.op == "broadcast":
        # A broadcast constant stays one: it fuses as a literal, and the program's text does not
        # depend on the shape it is broadcast to.
        return None
    with np.errstate(all="ignore"):
        value = np.asarray(TABLE[node.op].impl(*[v.const for v in ins], **node.attrs))
    return const_value(value.astype(out_type.dtype, copy=False))


def fold_constants(graph: Graph) -> Graph:
    """Evaluate nodes whose inputs are all small constants."""
    return _rewrite(graph, _fold_rule)


def _scalar(v: Value, b=None):
    """The value of a constant (or broadcast constant) whose elements are all equal, else None."""
    if v.const is None and b is not None:
        bc = b.producer(v, "broadcast")
        if bc is not None:
            return _scalar(bc.inputs[0])
    if v.const is None or v.const.size == 0:
        return None
    flat = v.const.reshape(-1)
    first = flat[0]
    if flat.size > 1 and not np.all(flat == first):
        return None
    return first.item()


def _neutral_zero(v: Value, b, op: str) -> bool:
    """True when `v` is a zero that `op` (add or sub) leaves every value unchanged with.

    In IEEE arithmetic -0.0 + 0.0 is +0.0, so x + 0.0 is not x at x = -0.0;
    x + (-0.0) and x - 0.0 are.
    """
    zero = _scalar(v, b)
    if zero != 0:
        return False
    if not isinstance(zero, float):
        return True
    return math.copysign(1.0, zero) < 0 if op == "add" else math.copysign(1.0, zero) > 0


def simplify(graph: Graph) -> Graph:
    """Algebraic identities: x*1, x+(-0.0), x-0, x/1, --x, no-op reshape/cast/broadcast/transpose,
    a transpose of a transpose, and the sum of a broadcast scalar."""
    return _rewrite(graph, _simplify_rule)


def _simplify_rule(node, ins, b):
    """The rule of :func:`simplify`."""
    op, out = node.op, node.outputs[0]
    if op in ("mul", "div") and _scalar(ins[1], b) == 1 and ins[0].type == out.type:
        return ins[0]
    if op == "mul" and _scalar(ins[0], b) == 1 and ins[1].type == out.type:
        return ins[1]
    if op in ("add", "sub") and _neutral_zero(ins[1], b, op) and ins[0].type == out.type:
        return ins[0]
    if op == "add" and _neutral_zero(ins[0], b, op) and ins[1].type == out.type:
        return ins[1]
    if op == "neg":
        inner = b.producer(ins[0], "neg")
        if inner is not None:
            return inner.inputs[0]
    if op in ("reshape", "broadcast", "cast") and ins[0].type == out.type:
        return ins[0]
    if op == "transpose" and tuple(node.attrs["perm"]) == tuple(range(len(out.shape))):
        return ins[0]
    if op == "transpose":
        inner = b.producer(ins[0], "transpose")
        if inner is not None:  # one permutation, or none: batched matmul rules transpose transposes
            perm = tuple(inner.attrs["perm"][p] for p in node.attrs["perm"])
            return inner.inputs[0] if perm == tuple(range(len(perm))) else b.transpose(inner.inputs[0], perm=perm)
    if op == "reshape":
        inner = b.producer(ins[0], "reshape")
        if inner is not None:
            return b.reshape(inner.inputs[0], shape=node.attrs["shape"])
    if op == "sum":
        bc = b.producer(ins[0], "broadcast")
        if bc is not None and bc.inputs[0].shape == () and node.attrs["axes"] is None \
                and out.dtype.kind == "f" and math.prod(ins[0].shape) > 0:  # inf * 0 would be NaN
            return b.mul(bc.inputs[0], float(math.prod(ins[0].shape)))
    return None


def optimize(graph: Graph, verify=None) -> Graph:
    """The standard pipeline: simplify, fold, cse, dce until nothing changes (bounded).

    `verify` (a checker such as :func:`tracegrad.ir.verify`) checks the result; with
    ``TRACEGRAD_VERIFY=passes`` it checks the graph after every pass, to find the pass that
    broke an invariant (slower: the checks then cost more than the passes).
    """
    each_pass = verify is not None and os.environ.get("TRACEGRAD_VERIFY") == "passes"
    if each_pass:  # one pass at a time, each checked
        for _ in range(4):
            before = len(graph.nodes)
            for p in (simplify, fold_constants, cse, dce):
                graph = p(graph)
                verify(graph)
            if len(graph.nodes) == before:
                break
        return graph
    # The three local rules in one walk: each walk copies the node list, and a large graph's
    # first call spent a third of its time in separate walks (measured on a 9,000-node adjoint).
    # A walk sees each node's inputs already rewritten and its producers in the new graph, so one
    # walk reaches the rules' fixed point unless a rule emitted new nodes, which no rule has seen.
    for _ in range(4):
        graph, emitted = _rewrite_emitting(graph, _clean_up_rule())
        graph = dce(graph)
        if not emitted:
            break
    if verify is not None and not each_pass:
        verify(graph)
    return graph


def _clean_up_rule():
    """Simplify, fold and reuse, tried in that order on each node."""
    reuse = _cse_rule()

    def rule(node, ins, b):
        replacement = _simplify_rule(node, ins, b)
        if replacement is None:
            replacement = _fold_rule(node, ins, b)
        return reuse(node, ins, b) if replacement is None else replacement
    return rule


def _is_value_guard(node: Node) -> bool:
    """A guard on a floating-point value Python read as a number (not a truth value or an integer)."""
    return node.op == GUARD and node.inputs[0].dtype.kind == "f"


def guard_cone(graph: Graph) -> Graph | None:
    """The guards on floating-point values and the nodes they read, as a graph without outputs (or None).

    Python used such a value as a number (``float(t)``, ``t.item()``), so the guard holds only
    for the exact bits eager mode computed.  Transforms check these guards by interpreting this
    cone on numpy, as eager mode computes, not in kernels, whose vector math and reduction order
    round differently.  Guards on truth values and integers stay in the kernels.
    """
    if not any(_is_value_guard(node) for node in graph.nodes):
        return None
    keep_guards = [node for node in graph.nodes if node.op != GUARD or _is_value_guard(node)]
    return dce(_copy_header(graph, keep_guards, []))


def without_value_guards(graph: Graph) -> Graph:
    """`graph` without its guards on floating-point values (and what only they read): what kernels run."""
    if not any(_is_value_guard(node) for node in graph.nodes):
        return graph
    live = {v.id for v in graph.outputs}
    keep = []
    for node in reversed(graph.nodes):
        if (node.op == GUARD and not _is_value_guard(node)) or any(v.id in live for v in node.outputs):
            keep.append(node)
            live.update(v.id for v in node.inputs)
    keep.reverse()
    return _copy_header(graph, keep, list(graph.outputs))
