"""Typed SSA graphs over the op table, and the builder that emits them.

A :class:`Value` has a :class:`TensorType` and is defined exactly once: by a
graph input, by a :class:`Node`, or as a constant (``Value.const`` holds
the array).  Values have no names; the printer assigns them.  A
:class:`Graph` holds inputs, nodes in execution order and outputs.

:class:`GraphBuilder` is an :class:`~tracegrad.ir.ops.Emitter` over Values:
``B.mul(x, 2.0)`` appends the nodes that compute it.  It makes everything
the eager front end does implicitly explicit: Python scalars become typed
constants, mixed dtypes get ``cast`` nodes, and operands of elementwise ops
are broadcast with ``broadcast`` nodes, so every node's inputs have the
types its type rule expects and every vjp rule sees equal shapes.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import weakref
from dataclasses import dataclass, field

import numpy as np

from .ops import TABLE, Composite, Emitter, attrs_key, broadcast_shapes, holds_graph
from .types import BOOL, CATEGORY_FLOAT, DTYPE_TO_SHORT, F32, TensorType, category, promote_types

__all__ = ["Value", "Node", "Graph", "GraphBuilder", "GUARD", "const_value"]

#: Name of the pseudo-op that checks a value read by Python during tracing.
GUARD = "guard"

#: Constants with at most this many elements count as program structure (fingerprints, folding).
SMALL_CONST = 64

_ids = itertools.count()


class Value:
    """One SSA value: its type, and where it comes from (a node output, an input, or a constant)."""

    # The producing node is held weakly: the node holds its outputs, and a strong link back
    # would make every graph a web of cycles that only the cyclic collector frees (with
    # the constants it holds).  The graph's node list is what keeps nodes alive.
    __slots__ = ("type", "_node", "const", "id", "note", "__weakref__")

    def __init__(self, type: TensorType, node: Node | None = None, const: np.ndarray | None = None):
        self.type = type
        self._node = None if node is None else weakref.ref(node)
        self.const = const
        self.id = next(_ids)
        self.note = None

    @property
    def node(self) -> Node | None:
        """The node that produced this value (None for inputs, constants, or once that node is gone)."""
        ref = self._node
        return None if ref is None else ref()

    @node.setter
    def node(self, node: Node | None) -> None:
        self._node = None if node is None else weakref.ref(node)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    @property
    def is_const(self) -> bool:
        return self.const is not None

    def __repr__(self) -> str:
        kind = "const" if self.const is not None else "value"
        return f"<{kind} {self.type!r} #{self.id}>"


def const_value(array) -> Value:
    """A constant Value holding `array` (copied into a read-only numpy array)."""
    arr = np.array(array)
    arr.setflags(write=False)
    return Value(TensorType(arr.dtype, arr.shape), const=arr)


@dataclass(eq=False)
class Node:
    """One operation: an op-table entry (or ``guard``) applied to input Values.

    `loc` is the user's ``(file, line)`` that produced it, or None.
    `grad_of` is, for nodes of a derived adjoint, the eager ``grad_fn`` name
    of the forward op whose vjp rule emitted it (``"SqrtBackward0"``), so
    diagnostics can speak of the backward function the user knows.
    """

    op: str
    inputs: list[Value]
    attrs: dict
    outputs: list[Value] = field(default_factory=list)
    loc: tuple[str, int] | None = None
    grad_of: str | None = None

    @property
    def entry(self):
        return TABLE[self.op]

    @property
    def output(self) -> Value:
        return self.outputs[0]


@dataclass(eq=False)
class Graph:
    """A function as SSA: inputs, nodes in order, outputs."""

    inputs: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    name: str = "f"
    #: What the printer calls the inputs (``%x``), when the tracer knew their names; else None.
    input_names: list[str] | None = None

    def header(self, name: str | None = None) -> Graph:
        """A graph with this one's inputs and input names and no body: what a rewrite starts from."""
        names = None if self.input_names is None else list(self.input_names)
        return Graph(inputs=list(self.inputs), name=self.name if name is None else name, input_names=names)

    def fingerprint(self) -> str:
        """A structural hash: ops, attrs, types and edges; not names, ids or constant contents.

        Remembered while the graph keeps its size (graphs are not edited once built; a builder
        that is still appending changes the size).
        """
        size = (len(self.inputs), len(self.nodes), len(self.outputs))
        known = self.__dict__.get("_fingerprint")
        if known is not None and known[0] == size:
            return known[1]
        digest = self._fingerprint_of()
        self.__dict__["_fingerprint"] = (size, digest)
        return digest

    def _fingerprint_of(self) -> str:
        index: dict[int, str] = {}
        type_text: dict[TensorType, str] = {}  # repr of each type and attrs, made once per graph
        attrs_text: dict[tuple, str] = {}
        parts = []
        for i, v in enumerate(self.inputs):
            index[v.id] = f"i{i}"
            parts.append(f"in {v.type!r};")

        def ref(v: Value) -> str:
            name = index.get(v.id)
            if name is not None:
                return name
            if v.const is not None:
                # Small constants (scalars, index lists) are part of the program's meaning;
                # large ones are data, seen by type only.
                if v.const.size <= SMALL_CONST:
                    return "c" + format_const(v)  # values in full, or a digest of the bytes past 8 elements
                return f"c{v.type!r}"
            raise ValueError(f"value {v!r} used before definition")
        counter = 0
        for node in self.nodes:
            args = ",".join([ref(v) for v in node.inputs])
            attrs = ""
            if node.attrs:
                key = attrs_key(node.attrs)
                attrs = attrs_text.get(key)
                if attrs is None:
                    attrs = attrs_text[key] = ",".join(f"{k}={_attr_key(node.attrs[k])}" for k in sorted(node.attrs))
            outs = []
            for v in node.outputs:
                name = f"v{counter}"
                counter += 1
                index[v.id] = name
                t = type_text.get(v.type)
                if t is None:
                    t = type_text[v.type] = repr(v.type)
                outs.append(f"{name}:{t}")
            parts.append(f"{node.op}[{attrs}]({args})->{','.join(outs)};")
        parts.append("out " + ",".join(ref(v) for v in self.outputs))
        return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return print_graph(self)

    def used_values(self) -> set[int]:
        """Ids of values read by some node or returned."""
        used = {v.id for v in self.outputs}
        for n in self.nodes:
            used.update(v.id for v in n.inputs)
        return used


def _attr_key(v) -> str:
    if isinstance(v, Graph):
        return f"graph:{v.fingerprint()}"
    return format_attr(v)


class GraphBuilder(Emitter):
    """Emits nodes into `graph`; implicit broadcasting and promotion become explicit nodes.

    `loc` (``(file, line)``) and `grad_of` are stamped on every node emitted
    while they are set.
    """

    def __init__(self, graph: Graph | None = None):
        self.graph = graph if graph is not None else Graph()
        self.loc: tuple[str, int] | None = None
        self.grad_of: str | None = None
        #: ids of the values this builder defined (inputs and node outputs); others are foreign
        self.owned: set[int] = {v.id for v in self.graph.inputs}
        for node in self.graph.nodes:
            self.owned.update(v.id for v in node.outputs)
        #: ids of the values that depend on an input being differentiated (None: nothing is)
        self.differentiated: set[int] | None = None
        #: guards recorded so far, and truth values to answer at given guard numbers instead of the
        #: traced ones (a re-trace that follows the branch compiled code took, see _transforms)
        self.n_guards = 0
        self.overrides: dict[int, bool] = {}

    # Emitter interface ------------------------------------------------------
    def shape(self, x):
        return self._value(x).shape if not isinstance(x, Value) else x.shape

    def dtype(self, x):
        return x.dtype if isinstance(x, Value) else np.asarray(x).dtype

    def input(self, type: TensorType) -> Value:
        """Add a graph input of `type`."""
        v = Value(type)
        self.graph.inputs.append(v)
        self.owned.add(v.id)
        return v

    def emit(self, op: str, inputs: list[Value], attrs: dict, out_types: list[TensorType]) -> list[Value]:
        """Append one node with outputs of `out_types` (no checking; :meth:`apply` checks)."""
        node = Node(op, list(inputs), dict(attrs), [], self.loc, self.grad_of)
        outputs = node.outputs
        owned = self.owned
        for t in out_types:
            v = Value(t, node)
            outputs.append(v)
            owned.add(v.id)
        self.graph.nodes.append(node)
        differentiated = self.differentiated
        if differentiated is not None and op != "detach":
            for v in node.inputs:
                if v.id in differentiated:
                    differentiated.update([out.id for out in outputs])
                    break
        return outputs

    def guard(self, value: Value, expected) -> None:
        """Record that Python read `value` and saw `expected`; the compiled code re-checks it."""
        self.emit(GUARD, [value], {"expected": _plain(expected)}, [])
        self.n_guards += 1

    def apply(self, name, *args, **attrs):
        entry = TABLE[name]
        if entry.kind == "elementwise" and _same_types(entry, args):
            # Operands of one type need no promotion or broadcast (most nodes of scalar code).
            return self.emit(name, list(args), attrs, [entry.infer([args[0].type] * len(args), attrs)])[0]
        values = self._operands(entry, args)
        if entry.kind == "elementwise" and len(values) > 1:
            shape = broadcast_shapes(*[v.shape for v in values])
            values = [self.broadcast_to(v, shape) for v in values]
        if isinstance(entry, Composite):
            out_type = composite_type(entry, [v.type for v in values], attrs)
        else:
            out_type = entry.infer([v.type for v in values], attrs)
        return self.emit(name, values, attrs, [out_type])[0]

    def broadcast_to(self, x, shape):
        x = self._value(x)
        if x.shape == tuple(shape):
            return x
        return self.emit("broadcast", [x], {"shape": tuple(shape)}, [TensorType(x.dtype, tuple(shape))])[0]

    def cast_to(self, x: Value, dtype: np.dtype) -> Value:
        if x.dtype == dtype:
            return x
        if x.const is not None:
            return const_value(x.const.astype(dtype))
        return self.emit("cast", [x], {"dtype": DTYPE_TO_SHORT[dtype]}, [TensorType(dtype, x.shape)])[0]

    # Operand handling ---------------------------------------------------------
    def _value(self, x) -> Value:
        if isinstance(x, Value):
            return x
        return const_value(x)

    def _operands(self, entry, args) -> list[Value]:
        if entry.promote in ("keep", "sum", "match"):
            return [self._value(a) for a in args]
        idxs = entry.promote_args if entry.promote_args is not None else range(len(args))
        dtype = _promoted_dtype(entry, [args[i] for i in idxs])
        out = []
        for i, a in enumerate(args):
            if i in idxs:
                out.append(self.cast_to(a, dtype) if isinstance(a, Value) else
                           const_value(np.asarray(a, dtype=dtype)))
            else:
                out.append(self._value(a))
        return out


def _same_types(entry, args) -> bool:
    """True when `args` are Values of one type that `entry` takes without promotion or broadcast."""
    if not args or isinstance(entry, Composite):
        return False
    first = args[0]
    if type(first) is not Value:
        return False
    t = first.type
    for a in args:
        if type(a) is not Value or a.type != t:
            return False
    return entry.promote != "float" or t.dtype.kind == "f"


class _TypeOnly(Emitter):
    """Runs type rules on TensorTypes: the output type of a composite, or why it is rejected.

    Operands are promoted as :class:`GraphBuilder` promotes them: Python
    scalars are weak (they take the dtype of the array operands).
    """

    def apply(self, name, *args, **attrs):
        entry = TABLE[name]
        types = [a if isinstance(a, TensorType) else
                 TensorType(a.dtype, a.shape) if isinstance(a, (np.ndarray, np.generic)) else a for a in args]
        if isinstance(entry, Composite):
            return entry.decompose(self, *types, **attrs)
        idxs = entry.promote_args if entry.promote_args is not None else range(len(types))
        if entry.promote in ("same", "float", "compare"):
            dtype = _promoted_dtype(entry, [types[i] for i in idxs])
            types = [TensorType(dtype, np.shape(t) if not isinstance(t, TensorType) else t.shape)
                     if i in idxs else t for i, t in enumerate(types)]
        types = [t if isinstance(t, TensorType) else TensorType(np.asarray(t).dtype, np.shape(t)) for t in types]
        if entry.kind == "elementwise" and len(types) > 1:
            shape = broadcast_shapes(*[t.shape for t in types])
            types = [TensorType(t.dtype, shape) for t in types]
        return entry.infer(types, attrs)

    def shape(self, x):
        return x.shape if isinstance(x, TensorType) else np.shape(x)

    def dtype(self, x):
        return x.dtype if isinstance(x, TensorType) else np.asarray(x).dtype


def _promoted_dtype(entry, operands) -> np.dtype:
    """The dtype elementwise operands are computed in: arrays decide, Python scalars are weak."""
    dtype = None
    for a in operands:
        if isinstance(a, (Value, TensorType, np.ndarray, np.generic)):
            dtype = a.dtype if dtype is None else promote_types(dtype, a.dtype)
    if dtype is None:
        kind = np.asarray(list(operands)).dtype.kind
        dtype = F32 if kind == "f" else np.dtype(np.int64) if kind in "iu" else BOOL
    if entry.promote == "float" and category(dtype) != CATEGORY_FLOAT:
        dtype = F32
    return dtype


TYPES_ONLY = _TypeOnly()


_COMPOSITE_TYPES: dict = {}


def composite_type(entry: Composite, types: list[TensorType], attrs: dict) -> TensorType:
    """Output type of a composite: its decomposition run on types (remembered per types and attrs).

    Running a decomposition on types costs as much as emitting it, and the tracer and the
    verifier ask for the same few combinations again and again.
    """
    if holds_graph(attrs):
        return entry.decompose(TYPES_ONLY, *types, **attrs)
    key = (entry.name, tuple(types), attrs_key(attrs))
    found = _COMPOSITE_TYPES.get(key)
    if found is None:
        found = entry.decompose(TYPES_ONLY, *types, **attrs)
        if len(_COMPOSITE_TYPES) < 4096:
            _COMPOSITE_TYPES[key] = found
    return found


def _plain(x):
    """A guard's expected value as plain Python data (bool, int, float or nested lists)."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


# --------------------------------------------------------------------------
# The text form (ir/text.py parses it back)
# --------------------------------------------------------------------------

#: Constants with at most this many elements are printed in full (larger ones as a digest).
PRINTED_IN_FULL = 8
#: Location comments start at this column (or two spaces after a longer line).
COMMENT_COLUMN = 60
_INDENT = "  "


def _scalar(x) -> str:
    """One array element, in the shortest text that reads back to the same value in its dtype."""
    if isinstance(x, np.bool_):
        return "True" if x else "False"
    if isinstance(x, np.floating):
        # str() of a numpy float scalar is the shortest round-tripping repr in
        # *its own* precision: float32(0.1) prints 0.1, not 0.10000000149011612.
        return str(x)
    return str(int(x))


def format_const(v: Value) -> str:
    """The inline literal of a constant Value (``2.0:f32``, ``f32[2]{1.0, 2.0}``, or a summary)."""
    note = getattr(v, "note", None)  # the slot is unset unless parse() made a placeholder
    if note is not None:
        return note
    arr = v.const
    if arr.ndim == 0:
        return f"{_scalar(arr[()])}:{DTYPE_TO_SHORT[arr.dtype]}"
    if arr.size <= PRINTED_IN_FULL:
        return f"{v.type!r}{{{', '.join(_scalar(x) for x in arr.flat)}}}"
    digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:12]
    return f"{v.type!r}{{sha256:{digest}}}"


def format_attr(x) -> str:
    """An attr (or guard) value as a Python literal that :func:`parse` reads back.

    Plain ``repr`` except that numpy scalars, arrays and dtypes become plain
    Python data (``'f32'`` for a dtype); floats keep ``repr``, so infinities
    print as ``inf``/``-inf`` and NaN as ``nan``.
    """
    if isinstance(x, np.dtype):
        return repr(DTYPE_TO_SHORT[x])
    if isinstance(x, (np.generic, np.ndarray)):
        return format_attr(x.tolist())
    if isinstance(x, tuple):
        inner = ", ".join(map(format_attr, x))
        return f"({inner},)" if len(x) == 1 else f"({inner})"
    if isinstance(x, list):
        return "[" + ", ".join(map(format_attr, x)) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{format_attr(k)}: {format_attr(v)}" for k, v in x.items()) + "}"
    if isinstance(x, Graph):
        return f"@{x.name}"  # a sub-graph: printed after the graph that refers to it
    return repr(x)


def format_attrs(op: str, attrs: dict, skip: tuple = ()) -> str:
    """``[key=value, ...]`` for a node's attrs (minus `skip`), or '' when there are none."""
    # Declared order first (what users read in the op reference), then any extras.
    entry = TABLE.get(op)
    declared = [k for k in (entry.attrs if entry is not None else ()) if k in attrs]
    keys = declared + [k for k in attrs if k not in declared]
    items = [f"{k}={format_attr(attrs[k])}" for k in keys if k not in skip]
    return f"[{', '.join(items)}]" if items else ""


def _input_names(graph: Graph) -> list[str]:
    names = graph.input_names
    if (isinstance(names, list) and len(names) == len(graph.inputs) and len(set(names)) == len(names)
            and all(isinstance(n, str) and n.isidentifier() for n in names)):
        return names
    return [f"a{i}" for i in range(len(graph.inputs))]


@dataclass
class Rendered:
    """A printed graph, line by line, with what :mod:`~tracegrad.ir.verify` needs to point into it.

    `names` maps ``Value.id`` to the printed name (``%x``, ``%3``) of every
    input and node output; `node_lines[i]` is the index in `lines` of
    ``graph.nodes[i]``; line 0 is the header and the last line the return.
    """

    lines: list[str]
    names: dict[int, str]
    node_lines: list[int]

    def ref(self, v: Value) -> str:
        """How `v` appears as an operand: its name, its literal, or ``%?ID`` if nothing defines it."""
        name = self.names.get(v.id)
        if name is not None:
            return name
        if v.const is not None:
            return format_const(v)
        return f"%?{v.id}"

    @property
    def text(self) -> str:
        """The whole printed graph (no trailing newline)."""
        return "\n".join(self.lines)


def render(graph: Graph) -> Rendered:
    """Print `graph` into a :class:`Rendered`.  Never fails on a malformed graph
    (the verifier prints the graphs it rejects): undefined values print as
    ``%?ID``, a value defined twice keeps its first name, unknown ops print
    their attrs in insertion order."""
    names: dict[int, str] = {}
    in_names = _input_names(graph)
    for v, n in zip(graph.inputs, in_names):
        names.setdefault(v.id, f"%{n}")
    # Names are fixed before any line is printed so that a use before the
    # definition (which verify reports) still shows the right name.
    counter = 0
    for node in graph.nodes:
        for v in node.outputs:
            if v.id not in names:
                names[v.id] = f"%{counter}"
                counter += 1
    r = Rendered([], names, [])

    args = ", ".join(f"{names[v.id]}: {v.type!r}" for v in graph.inputs)
    outs = ", ".join(repr(v.type) for v in graph.outputs)
    r.lines.append(f"def {graph.name}({args}) -> ({outs}):")
    for node in graph.nodes:
        r.node_lines.append(len(r.lines))
        r.lines.append(_node_line(node, r))
    ret = ", ".join(r.ref(v) for v in graph.outputs)
    r.lines.append(f"{_INDENT}return {ret}".rstrip())
    return r


def _node_line(node: Node, r: Rendered) -> str:
    lhs = ", ".join(f"{r.names[v.id]}: {v.type!r}" for v in node.outputs)
    operands = ", ".join(r.ref(v) for v in node.inputs)
    if node.op == GUARD:
        code = f"guard{format_attrs(node.op, node.attrs, skip=('expected',))} {operands}"
        if "expected" in node.attrs:
            code += f" == {format_attr(node.attrs['expected'])}"
    else:
        code = f"{node.op}{format_attrs(node.op, node.attrs)} {operands}"
    code = _INDENT + (f"{lhs} = " if lhs else "") + code.rstrip()
    if node.loc is not None:
        code += " " * max(COMMENT_COLUMN - len(code), 2) + f"# {os.path.basename(node.loc[0])}:{node.loc[1]}"
    return code


def subgraphs(graph: Graph) -> list[Graph]:
    """Graphs held in node attrs (custom-vjp regions), depth first, each once."""
    found: list[Graph] = []
    stack = [_graph_attrs(graph)]  # an explicit stack: a recursive closure would be a reference cycle
    while stack:
        sub = next(stack[-1], None)
        if sub is None:
            stack.pop()
        elif all(sub is not f for f in found):
            found.append(sub)
            stack.append(_graph_attrs(sub))
    return found


def _graph_attrs(graph: Graph):
    for node in graph.nodes:
        for value in node.attrs.values():
            if isinstance(value, Graph):
                yield value


def print_graph(graph: Graph) -> str:
    """The text form of `graph` (also ``str(graph)``), followed by the sub-graphs its attrs name.

    :func:`parse` reads it back.
    """
    return "\n\n".join([render(graph).text] + [render(g).text for g in subgraphs(graph)])
