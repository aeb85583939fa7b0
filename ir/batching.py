"""Batching: a function of single values run on a batch along a new leading axis (vmap).

:class:`BatchEmitter` applies ops to a mix of shared values and
:class:`Batched` ones (which carry a leading batch axis) through any target
:class:`~tracegrad.ir.ops.Emitter`: an op none of whose inputs is batched is
applied as it is; otherwise the op's batching rule from the op table
(``Op.batch``) emits what computes every row at once, and a composite is
decomposed into primitives, which are batched in turn.  To code written
against an Emitter (vjp rules, decompositions) a batched value looks like one
row: :meth:`BatchEmitter.shape` leaves out the batch axis.

:func:`vmap_graph` replays a graph through a BatchEmitter over a
:class:`~tracegrad.ir.graph.GraphBuilder`, so the batched graph is ordinary
IR, optimised and compiled like any other.
"""

from __future__ import annotations

from .graph import Graph, GraphBuilder, Node, Value
from .ops import TABLE, Composite, Emitter
from .types import TensorType, is_float
from .walk import Transformer

__all__ = ["Batched", "BatchEmitter", "vmap_graph", "batch_graph"]


class Batched:
    """A value (array or IR value) whose axis 0 is the batch axis."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return f"Batched({self.value!r})"


class BatchEmitter(Emitter):
    """Applies ops row by row in effect, in one go in fact, emitting through `target`."""

    def __init__(self, target: Emitter):
        self.target = target

    def apply(self, name, *args, **attrs):
        flags = tuple(isinstance(a, Batched) for a in args)
        if not any(flags):
            return self.target.apply(name, *args, **attrs)
        entry = TABLE[name]
        if isinstance(entry, Composite):
            return entry.decompose(self, *args, **attrs)
        if entry.batch is None:
            raise NotImplementedError(f"op {name!r} has no batching rule")
        raw = [a.value if f else a for a, f in zip(args, flags)]
        return Batched(entry.batch(self.target, name, raw, flags, attrs))

    def shape(self, x):
        if isinstance(x, Batched):
            return tuple(self.target.shape(x.value))[1:]
        return self.target.shape(x)

    def dtype(self, x):
        return self.target.dtype(x.value if isinstance(x, Batched) else x)

    def stacked(self, x, size: int):
        """`x` as a batch of `size` rows: batched values as they are, shared ones repeated along a new axis 0."""
        if isinstance(x, Batched):
            return x.value
        shape = tuple(self.target.shape(x))
        return self.target.broadcast_to(x, (size,) + shape)


def vmap_graph(graph: Graph, builder: GraphBuilder, inputs: list, size: int) -> list[Value]:
    """Emit `graph` into `builder` mapped over a batch of `size` rows; one output per graph output, each batched.

    `inputs` holds, per graph input, a Value shared by every row or a :class:`Batched` Value
    whose axis 0 has length `size`.  Guards may only read shared values: a branch cannot
    differ from row to row in one graph.
    """
    E = BatchEmitter(builder)
    return [E.stacked(v, size) for v in _Vmap(graph, E, builder).emit_into(inputs)]


class _Vmap(Transformer):
    """:func:`vmap_graph`: each node applied by its batching rule."""

    def __init__(self, graph: Graph, emitter: BatchEmitter, builder: GraphBuilder):
        super().__init__(graph, builder=builder)
        self.emitter = emitter

    def run_guard(self, node: Node, value) -> None:
        if isinstance(value, Batched):
            raise NotImplementedError("a guard on a batched value: Python branched on a value that differs "
                                      "from row to row")
        self.builder.loc, self.builder.grad_of = node.loc, node.grad_of
        self.builder.guard(value, node.attrs["expected"])

    def run_node(self, node: Node, ins: list):
        return self.emitter.apply(node.op, *ins, **node.attrs)


def batch_graph(graph: Graph, batched, size: int, sum_rows=()) -> Graph:
    """`graph` mapped over a batch of `size` rows, as a graph of its own.

    Inputs flagged in `batched` gain a leading axis of length `size`, and so do the outputs,
    except those whose positions are in `sum_rows`: floating-point ones are summed over the
    rows, others keep the first row (what a backward graph gives a shared input: the sum of
    the rows' gradients).
    """
    b = GraphBuilder(Graph(name=f"{graph.name}_batched"))
    ins = []
    for v, flag in zip(graph.inputs, batched):
        x = b.input(TensorType(v.dtype, (size,) + v.shape) if flag else v.type)
        ins.append(Batched(x) if flag else x)
    outs = vmap_graph(graph, b, ins, size)
    for k in sum_rows:
        outs[k] = (b.sum(outs[k], axes=(0,), keepdims=False) if is_float(outs[k].dtype)
                   else b.index(outs[k], spec=(("int", 0),)))
    b.graph.outputs = outs
    return b.graph
