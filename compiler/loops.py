"""Re-rolling: runs of structurally identical pieces of a graph become loops.

Tracing unrolls every Python loop: 200 integrator steps are 200 copies of
the same few nodes, and their adjoint is 200 copies again, in reverse.
Compiled one statement per node, such a kernel takes numba time in
proportion to the number of steps.  :func:`roll_loops` finds a run of
``count >= 2`` consecutive pieces of ``length`` nodes that are the same up
to renaming and replaces it with one ``loop`` node whose body is the first
piece; the code generator writes it as a ``for`` loop, so the kernel grows
with the number of distinct pieces, not of steps.

Two pieces match when their nodes have the same ops, attrs and types, and
each input of a node is, in every piece alike:

* produced earlier in the same piece, at the same position (internal);
* produced by the previous piece at some position ``q``, the first piece
  reading a value from before the run instead (carried: the body reads the
  carry, and its value at ``q`` is the next carry);
* the same value from outside the run (invariant);
* a constant of the same type in each piece (stacked into one constant
  that the body reads one slice of per iteration, like ``xs[t]``).

Integer attrs the code generator can compute from the loop counter (the
positions of an ``index``) may advance by a fixed stride from piece to piece.

Values of the run read after it are the loop's outputs: the final carries,
the last iteration's value, or, when an earlier iteration's value is read
(an adjoint reads the forward residuals), every iteration's value stacked
along a new leading axis, read back through ``index`` nodes placed before
each reader.  Those ``index`` nodes advance by a stride in the reverse
pieces of an adjoint, so rolling the forward first makes the adjoint's run
roll as well.

The pseudo-op ``loop`` exists only between this pass and the code
generator: no other backend sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir.graph import GUARD, SMALL_CONST, Graph, Node, Value, _attr_key, const_value
from tracegrad.ir.types import TensorType

__all__ = ["LOOP", "Affine", "Loop", "roll_loops", "MIN_ROLLED_NODES"]

#: The pseudo-op of a rolled run.
LOOP = "loop"

#: A run is rolled only when the loop saves at least this many nodes of code.
MIN_ROLLED_NODES = 24
#: Periods tried at one start: distances to this many next nodes of the same signature.
MAX_CANDIDATES = 24
#: Longest piece looked for, in nodes.
MAX_PERIOD = 4000
#: Varying constants are stacked only while the stack holds at most this many elements.
MAX_STACKED_CONST = 1 << 24


@dataclass(frozen=True)
class Affine:
    """An integer attr of a loop body's node: ``start + stride * it`` at iteration ``it``."""

    start: int
    stride: int

    def text(self, counter: str) -> str:
        """The Python expression of the value at iteration `counter`."""
        return f"({self.start} + {self.stride} * {counter})"


@dataclass(eq=False)
class Loop:
    """What a ``loop`` node runs.

    The node's inputs are the carries' initial values (`n_carried`), the
    values the body reads from outside (`n_invariant`; the body's nodes read
    them directly), then the stacked constants its per-iteration inputs are
    slices of.  ``body.inputs`` are the carries, then the per-iteration
    slices; ``body.outputs`` are each carry's next value, then the values
    stacked over iterations (`n_stacked`), then the values read after the
    loop from its last iteration.  The node's outputs are the final carries,
    the stacks (a leading axis of `count`), then those last values.
    """

    body: Graph
    count: int
    n_carried: int
    n_invariant: int
    n_stacked: int
    n_last: int = 0
    #: ids of the body's per-iteration inputs
    sliced: list[Value] = field(default_factory=list)


# ----------------------------------------------------------------- matching
def _attrs_key(node: Node, may_vary) -> str:
    parts = []
    for k in sorted(node.attrs):
        v = node.attrs[k]
        parts.append(f"{k}={_abstract(v) if may_vary(node.op, k) else _attr_key(v)}")
    return ",".join(parts)


def _abstract(v) -> str:
    """An attr with its integers blanked out (they may advance from piece to piece)."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, (int, np.integer)):
        return "#"
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(_abstract(x) for x in v) + ")"
    return _attr_key(v)


def _ints(v) -> list[int]:
    if isinstance(v, bool) or v is None:
        return []
    if isinstance(v, (int, np.integer)):
        return [int(v)]
    if isinstance(v, (tuple, list)):
        return [i for x in v for i in _ints(x)]
    return []


def _with_affine(v, values: iter):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return next(values)
    if isinstance(v, tuple):
        return tuple(_with_affine(x, values) for x in v)
    if isinstance(v, list):
        return [_with_affine(x, values) for x in v]
    return v


def _signature(node: Node, may_vary) -> tuple:
    if node.op in (GUARD, LOOP):
        return (node.op, id(node))  # never part of a piece
    ins = tuple((v.type, v.const is not None) for v in node.inputs)
    return (node.op, _attrs_key(node, may_vary), ins, tuple(v.type for v in node.outputs))


def _same_const(a: Value, b: Value) -> bool:
    if a is b:
        return True
    if a.type != b.type or a.const.size > SMALL_CONST:
        return False
    return np.array_equal(a.const, b.const, equal_nan=True)


@dataclass
class _Run:
    start: int
    length: int
    count: int
    slots: dict            # (position, input) -> ("internal", q) | ("carried", q) | ("invariant",) | ("sliced",)
    attrs: dict            # (position, attr name) -> [Affine or int, ...] for the blanked ints


class _Matcher:
    def __init__(self, nodes: list[Node], may_vary):
        self.nodes = nodes
        self.may_vary = may_vary
        self.sig = [_signature(n, may_vary) for n in nodes]
        self.position = {v.id: m for m, n in enumerate(nodes) for v in n.outputs}

    def classify(self, v: Value, start: int, length: int, j: int):
        m = self.position.get(v.id)
        if m is not None and m >= start:
            piece = (m - start) // length
            if piece == j:
                return ("internal", m - start - j * length)
            if piece == j - 1:
                return ("carried", m - start - piece * length)
            return None  # a value from two or more pieces back: not a plain carry
        return ("const", v) if v.const is not None else ("outer", v)

    def verify(self, start: int, length: int, count: int) -> _Run | None:
        """The longest prefix (of at least two pieces) of the candidate run whose pieces match."""
        nodes = self.nodes
        slots: dict = {}
        first: dict = {}
        attrs: dict = {}
        for j in range(count):
            base = start + j * length
            ok = True
            for i in range(length):
                node = nodes[base + i]
                for a, v in enumerate(node.inputs):
                    c = self.classify(v, start, length, j)
                    if c is None or not self._consistent(slots, first, (i, a), c, j):
                        ok = False
                        break
                if not ok or not self._attrs_consistent(attrs, node, i, j):
                    ok = False
                    break
            if not ok:
                count = j
                break
        if count < 2:
            return None
        for (i, a), kind in slots.items():
            if kind[0] == "sliced" and nodes[start + i].inputs[a].const.size * count > MAX_STACKED_CONST:
                return None
        for progression in attrs.values():
            if any(isinstance(p, Affine) and (p.start < 0) != (p.start + p.stride * (count - 1) < 0)
                   for p in progression):
                return None  # a negative index counts from the end: one sign for every iteration
        return _Run(start, length, count, slots, attrs)

    @staticmethod
    def _consistent(slots, first, slot, c, j) -> bool:
        if j == 0:
            first[slot] = c
            return True
        c0 = first[slot]
        kind = slots.get(slot)
        if kind is None:  # the second piece decides what the slot is
            if c[0] == "internal":
                if c0 != c:
                    return False
                slots[slot] = c
            elif c[0] == "carried":
                if c0[0] not in ("outer", "const"):
                    return False
                slots[slot] = c
            elif c[0] == "outer":
                if c0[0] != "outer" or c0[1] is not c[1]:
                    return False
                slots[slot] = ("invariant",)
            else:
                if c0[0] != "const":
                    return False
                slots[slot] = ("invariant",) if _same_const(c0[1], c[1]) else ("sliced",)
            return True
        if kind[0] in ("internal", "carried"):
            return c == kind
        if kind[0] == "invariant":
            return c[0] == c0[0] and (c[1] is c0[1] or (c[0] == "const" and _same_const(c0[1], c[1])))
        return c[0] == "const"  # sliced: any constant of the type the signature fixed

    def _attrs_consistent(self, attrs, node: Node, i: int, j: int) -> bool:
        for k, v in node.attrs.items():
            if not self.may_vary(node.op, k):
                continue
            values = _ints(v)
            key = (i, k)
            if j == 0:
                attrs[key] = values
            elif j == 1:
                attrs[key] = [a if a == b else Affine(a, b - a) for a, b in zip(attrs[key], values)]
            elif any((p.start + p.stride * j if isinstance(p, Affine) else p) != x
                     for p, x in zip(attrs[key], values)):
                return False
        return True

    def find(self, start_at: int) -> _Run | None:
        """The first run at or after `start_at` worth rolling (the longest one at its start)."""
        nodes, sig = self.nodes, self.sig
        n = len(nodes)
        next_same = [None] * n
        last_seen: dict = {}
        for m in range(n - 1, start_at - 1, -1):
            next_same[m] = last_seen.get(sig[m])
            last_seen[sig[m]] = m
        for s in range(start_at, n):
            best = None
            m = next_same[s]
            tried = 0
            while m is not None and tried < MAX_CANDIDATES and m - s <= MAX_PERIOD and s + 2 * (m - s) <= n:
                length = m - s
                tried += 1
                count = 1
                while s + (count + 1) * length <= n and \
                        sig[s + count * length:s + (count + 1) * length] == sig[s:s + length]:
                    count += 1
                if count >= 2 and (count - 1) * length >= MIN_ROLLED_NODES and \
                        (best is None or count * length > best.count * best.length):
                    run = self.verify(s, length, count)
                    if run is not None and (run.count - 1) * length >= MIN_ROLLED_NODES and \
                            (best is None or run.count * length > best.count * best.length):
                        best = run
                m = next_same[m]
            if best is not None:
                return best
        return None


# ----------------------------------------------------------------- rewriting
def _roll(nodes: list[Node], outputs: list[Value], run: _Run) -> tuple[list[Node], list[Value]]:
    """`nodes` with `run` replaced by one ``loop`` node (and ``index`` nodes reading its stacks)."""
    s, length, count = run.start, run.length, run.count
    pieces = [nodes[s + j * length:s + (j + 1) * length] for j in range(count)]
    first = pieces[0]
    piece_of: dict[int, tuple[int, int]] = {}
    for j, piece in enumerate(pieces):
        for i, node in enumerate(piece):
            for v in node.outputs:
                piece_of[v.id] = (j, i)

    carries: dict[tuple[int, int], Value] = {}     # (position, initial value id) -> carry placeholder
    carry_init: list[Value] = []
    carry_next: list[Value] = []
    carry_of_position: dict[int, int] = {}
    sliced_inputs: list[Value] = []
    sliced_stacks: list[Value] = []
    invariants: dict[int, Value] = {}
    body_nodes = []
    for i, node in enumerate(first):
        ins = []
        for a, v in enumerate(node.inputs):
            kind = run.slots[(i, a)]
            if kind[0] == "internal":
                ins.append(v)
            elif kind[0] == "carried":
                q = kind[1]
                placeholder = carries.get((q, v.id))
                if placeholder is None:
                    placeholder = carries[(q, v.id)] = Value(v.type)
                    carry_of_position.setdefault(q, len(carry_init))
                    carry_init.append(v)
                    carry_next.append(first[q].outputs[0])
                ins.append(placeholder)
            elif kind[0] == "invariant":
                if v.const is None:
                    invariants.setdefault(v.id, v)
                ins.append(v)
            else:
                stack = np.stack([np.asarray(p[i].inputs[a].const) for p in pieces])
                stacked = const_value(stack)
                placeholder = Value(v.type)
                sliced_inputs.append(placeholder)
                sliced_stacks.append(stacked)
                ins.append(placeholder)
        attrs = dict(node.attrs)
        for (pos, name), progression in run.attrs.items():
            if pos == i and any(isinstance(p, Affine) for p in progression):
                attrs[name] = _with_affine(node.attrs[name], iter(progression))
        body_nodes.append(Node(node.op, ins, attrs, list(node.outputs), node.loc, node.grad_of))

    # Which values of the run are read after it, and from which iteration.
    after = nodes[s + count * length:]
    read_from: dict[int, set[int]] = {}
    for node in after:
        for v in node.inputs:
            if v.id in piece_of:
                j, i = piece_of[v.id]
                read_from.setdefault(i, set()).add(j)
    for v in outputs:
        if v.id in piece_of:
            j, i = piece_of[v.id]
            read_from.setdefault(i, set()).add(j)
    stacked_positions = sorted(i for i, js in read_from.items() if js != {count - 1})
    last_positions = sorted(i for i, js in read_from.items() if js == {count - 1} and i not in carry_of_position)

    body = Graph(inputs=list(carries.values()) + sliced_inputs,
                 nodes=body_nodes,
                 outputs=carry_next + [first[i].outputs[0] for i in stacked_positions]
                 + [first[i].outputs[0] for i in last_positions],
                 name="loop_body")
    loop = Loop(body, count, len(carry_init), len(invariants), len(stacked_positions), len(last_positions),
                sliced_inputs)
    final = [Value(v.type) for v in carry_init]
    stacks = [Value(TensorType(first[i].outputs[0].dtype, (count,) + first[i].outputs[0].shape))
              for i in stacked_positions]
    lasts = [Value(first[i].outputs[0].type) for i in last_positions]
    loop_node = Node(LOOP, carry_init + list(invariants.values()) + sliced_stacks, {"loop": loop},
                     final + stacks, first[0].loc)
    loop_node.outputs = final + stacks + lasts
    for v in loop_node.outputs:
        v.node = loop_node
    stack_of = dict(zip(stacked_positions, stacks))
    last_of = dict(zip(last_positions, lasts))

    new_nodes = nodes[:s] + [loop_node]

    def reader_input(v: Value) -> Value:
        where = piece_of.get(v.id)
        if where is None:
            return v
        j, i = where
        if i in stack_of:
            read = Node("index", [stack_of[i]], {"spec": (("int", j),)}, loc=loop_node.loc)
            read.outputs = [Value(v.type, read)]
            new_nodes.append(read)
            return read.outputs[0]
        if i in last_of:
            return last_of[i]
        return final[carry_of_position[i]]
    for node in after:
        if any(v.id in piece_of for v in node.inputs):
            node = Node(node.op, [reader_input(v) for v in node.inputs], node.attrs, node.outputs, node.loc,
                        node.grad_of)
        new_nodes.append(node)
    new_outputs = [reader_input(v) for v in outputs]
    return new_nodes, new_outputs


def roll_loops(graph: Graph, may_vary=lambda op, attr: False) -> Graph:
    """`graph` with every run of repeated pieces worth it rolled into a ``loop`` node (see the module docstring).

    `may_vary(op, attr)` says which integer attrs the consumer can compute from the loop
    counter.  The graph itself is not changed; without such runs it is returned as it is.
    """
    nodes, outputs = list(graph.nodes), list(graph.outputs)
    position = 0
    rolled = False
    while True:
        run = _Matcher(nodes, may_vary).find(position)
        if run is None:
            break
        nodes, outputs = _roll(nodes, outputs, run)
        position = run.start + 1
        rolled = True
    if not rolled:
        return graph
    out = graph.header()
    out.nodes, out.outputs = nodes, outputs
    return out
