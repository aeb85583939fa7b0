"""One way to walk a graph: :class:`Interpreter` runs it, :class:`Transformer` rewrites it.

Every pass over a graph in execution order does the same bookkeeping: bind
the inputs, read each node's operands from what earlier nodes produced,
treat guards apart, record what the node gives, read the outputs.  That
bookkeeping lives here once; a walk says only what one node means::

    class CountingInterpreter(Interpreter):
        def run_node(self, node, ins):
            self.count += 1
            return TABLE[node.op].impl(*ins, **node.attrs)

    outputs = CountingInterpreter(graph).run(arrays)

A :class:`Transformer` walks with the graph's own Values as operands and
builds a new graph: its :meth:`~Transformer.run_node` returns the Value that
stands for the node's output (by default a copy of the node, shared with the
old graph when its operands did not change; or anything the
:class:`~tracegrad.ir.graph.GraphBuilder` in ``self.builder`` emits)::

    class NegToMul(Transformer):
        def run_node(self, node, ins):
            if node.op == "neg":
                return self.builder.mul(ins[0], -1.0)
            return super().run_node(node, ins)

    rewritten = NegToMul(graph).transform()
"""

from __future__ import annotations

import numpy as np

from .graph import GUARD, Graph, GraphBuilder, Node, Value

__all__ = ["Interpreter", "Transformer", "GuardFailure", "guard_holds", "replay", "inline"]


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


class Interpreter:
    """Evaluates `graph` node by node with values of any kind (arrays, Tensors, Values ...).

    Subclasses define :meth:`run_node` (and :meth:`run_guard` when guards matter). The
    environment ``self.env`` maps each value's id to what it evaluated to.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.env: dict[int, object] = {}

    def run(self, inputs) -> list:
        """Evaluate the graph on `inputs` (one per graph input); the values of its outputs."""
        graph = self.graph
        if len(inputs) != len(graph.inputs):
            raise ValueError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
        env = self.env
        # A value that stands for itself (a Transformer keeping a node) is not bound: reading
        # falls back to the value, and a walk that has changed nothing yet reads no operand.
        for v, x in zip(graph.inputs, inputs):
            if x is not v:
                env[v.id] = x
        operands = self.operand_reader()
        for node in graph.nodes:
            ins = operands(node.inputs)
            if node.op == GUARD:
                self.run_guard(node, ins[0])
                continue
            self.enter(node)
            out = self.run_node(node, ins)
            if out is not node.outputs[0]:
                env[node.outputs[0].id] = out
        return operands(graph.outputs)

    def operand_reader(self):
        """A function from a list of Values to what they evaluated to (one call per node)."""
        read = self.read
        return lambda values: [read(v) for v in values]

    def read(self, v: Value):
        """What `v` evaluated to: its binding, else the constant it holds."""
        x = self.env.get(v.id)
        if x is not None:
            return x
        if v.const is None:
            raise ValueError(f"{self.graph.name}: {v!r} is read before anything defines it")
        return self.constant(v)

    def constant(self, v: Value):
        """The operand a constant Value gives (its array; a Transformer keeps the Value)."""
        return v.const

    def run_guard(self, node: Node, value) -> None:
        """Meet a guard reading `value`; by default nothing happens."""

    def enter(self, node: Node) -> None:
        """Called before :meth:`run_node` for each node (a Transformer hands its builder the node's line)."""

    def run_node(self, node: Node, ins: list):
        """The value of `node`'s output, given its operands."""
        raise NotImplementedError


class Transformer(Interpreter):
    """Rebuilds `graph` node by node into ``self.builder``'s graph (same inputs, name and input names).

    Each node's operands are the new graph's Values standing for the old ones. Nodes, and
    guards, are copied unless :meth:`run_node` returns another Value for them. Each node's
    source line and backward provenance are the builder's while it runs, so what a rule
    emits carries them.
    """

    def __init__(self, graph: Graph, name: str | None = None, builder: GraphBuilder | None = None):
        super().__init__(graph)
        self.builder = builder if builder is not None else GraphBuilder(graph.header(name))

    def transform(self) -> Graph:
        """The rewritten graph."""
        out = self.builder.graph
        out.outputs = self.emit_into(list(out.inputs) if out.inputs else None)
        return out

    def emit_into(self, inputs: list[Value] | None = None) -> list[Value]:
        """Walk with `inputs` (default: the old graph's own inputs) standing for the graph's inputs;
        the Values standing for its outputs. Used to copy a graph into a larger one."""
        b = self.builder
        saved = b.loc, b.grad_of
        try:
            return self.run(list(self.graph.inputs) if inputs is None else inputs)
        finally:
            b.loc, b.grad_of = saved

    def read(self, v: Value):
        return self.env.get(v.id, v)

    def operand_reader(self):
        env = self.env
        get = env.get
        # Until some node is replaced, every operand stands for itself: the node's own list is
        # passed on, and `copy` keeps the node without comparing.
        return lambda values: [get(v.id, v) for v in values] if env else values

    def constant(self, v: Value):
        return v

    def run_guard(self, node: Node, value) -> None:
        kept = node if value is node.inputs[0] else Node(GUARD, [value], node.attrs, [], node.loc, node.grad_of)
        self.builder.graph.nodes.append(kept)
        self.builder.n_guards += 1

    def enter(self, node: Node) -> None:
        self.builder.loc, self.builder.grad_of = node.loc, node.grad_of

    def run_node(self, node: Node, ins: list) -> Value:
        return self.copy(node, ins)

    def copy(self, node: Node, ins: list[Value]) -> Value:
        """Keep `node` with operands `ins`: the same node object when they did not change
        (nodes are never edited once built), else a new node with the same outputs."""
        # (Values compare by identity: == on the lists runs in C, a generator of `is` did not.)
        kept = node if ins is node.inputs or ins == node.inputs else \
            Node(node.op, ins, node.attrs, list(node.outputs), node.loc, node.grad_of)
        self.builder.graph.nodes.append(kept)
        self.kept(kept)
        return kept.outputs[0]

    def kept(self, node: Node) -> None:
        """Called for every node the walk copies (for builders that index what they hold)."""

    def rebuild(self, node: Node, ins: list[Value]) -> Value:
        """Emit `node` anew through the builder, with the types it had."""
        return self.builder.emit(node.op, ins, node.attrs, [v.type for v in node.outputs])[0]


class _Replay(Interpreter):
    """:func:`replay`: each node applied through an Emitter."""

    def __init__(self, graph: Graph, emitter):
        super().__init__(graph)
        self.emitter = emitter
        self.building = isinstance(emitter, GraphBuilder)

    def read(self, v: Value):
        # A constant given as an input (a parsed graph's placeholder) is read from its binding.
        return self.env[v.id] if v.id in self.env or v.const is None else v.const

    def run_guard(self, node: Node, value) -> None:
        if self.building:
            self.emitter.guard(self.emitter._value(value), node.attrs["expected"])
            return
        data = getattr(value, "_data", value)
        if not guard_holds(node, data):
            raise GuardFailure(node, np.asarray(data).tolist())

    def enter(self, node: Node) -> None:
        if self.building:
            self.emitter.loc, self.emitter.grad_of = node.loc, node.grad_of

    def run_node(self, node: Node, ins: list):
        return self.emitter.apply(node.op, *ins, **node.attrs)


def replay(graph: Graph, emitter, inputs: list) -> list:
    """Evaluate `graph` node by node with any Emitter: numpy arrays, Tensors, or another builder.

    Guards are checked on concrete values (arrays, or Tensors' data); with a
    :class:`GraphBuilder` they are re-emitted as guards of the new graph.
    """
    walk = _Replay(graph, emitter)
    if not walk.building:
        return walk.run(inputs)
    saved = emitter.loc, emitter.grad_of
    try:
        return walk.run(inputs)
    finally:
        emitter.loc, emitter.grad_of = saved


class _Inline(Transformer):
    """:func:`inline`: every node emitted anew into another graph's builder."""

    def run_guard(self, node: Node, value) -> None:
        self.enter(node)
        self.builder.guard(value, node.attrs["expected"])

    def run_node(self, node: Node, ins: list) -> Value:
        return self.rebuild(node, ins)


def inline(graph: Graph, builder: GraphBuilder, inputs: list[Value]) -> dict[int, Value]:
    """Copy `graph`'s nodes (guards included) into `builder`, reading `inputs`.

    Returns the map from `graph`'s value ids to the new values; the copy of
    output ``v`` is ``mapping.get(v.id, v)`` (constants map to themselves).
    """
    walk = _Inline(graph, builder=builder)
    walk.emit_into(inputs)
    return walk.env
