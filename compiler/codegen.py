"""Lowering a graph to readable Python source for numba: one entry function, explicit loops.

The entry function ``kernel_<hash>(in0, ..., c0, ..., out0, ..., D, status)``
takes every input, constant array and caller-allocated output as a separate
flat (1-D, contiguous) array, the extents of all values in ``D`` (int64),
and a one-element ``status`` array; it returns nothing.  Extents are read
from ``D`` and never written into the source, so one numba compile serves
every shape with the same dtypes, ranks and broadcast pattern (which
dimensions are 1 is part of the source).

Lowerings do not write text: each appends statements, temporaries, loops
and branches to a :class:`~compiler.kernel_ir.Writer`, one piece per node
or fused loop, and the tree is printed once at the end (and split into
several numba functions when long).

Each stored value gets one loop nest (see :mod:`compiler.fusion` for which
values are stored); the values it does not store are written inline as
scalar expressions built from the op table's kernel templates.  Reductions
accumulate in a scalar where the reduced axes allow it.  ``matmul`` calls
BLAS through ``np.dot``.  Every statement carries a comment with its SSA
value and the user's source line.

``status[0]`` reports what the kernel could not: ``k + 1`` when guard ``k``
fails, ``-(k + 1)`` when index ``k`` is out of bounds.  Guards are
scheduled as early as what they read allows and a failed one returns at
once: a call that another trace answers wastes little.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tracegrad.compiler.fusion import ELEMENTWISE_INLINE, INLINED_BEFORE_CODEGEN, FusionPlan, plan_fusion
from tracegrad.compiler.kernel_ir import INDENT, Alloc, Piece, Writer, canonical, first_comment, parse_piece, render
from tracegrad.compiler.loops import LOOP, Affine, Loop, roll_loops
from tracegrad.compiler.runtime import SUFFIX, SUM_BLOCK
from tracegrad.compiler.runtime import names as _runtime_names
from tracegrad.ir.graph import GUARD, Graph, Node, Value
from tracegrad.ir.ops import HEAVY, ORDINARY, TABLE, Composite, normalize_axes

__all__ = ["generate", "KernelSource", "Unsupported"]

#: Function calls of a kernel template, which name runtime functions (``np.linalg.inv(`` and method calls
#: are not theirs).
_CALL_RE = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)\(")
#: Every runtime function by its generated-code name (``exp_f32``, ``svd_factors`` ...).
_RUNTIME_NAMES = frozenset(_runtime_names())
_NP_TYPE = {np.dtype(np.float32): "np.float32", np.dtype(np.float64): "np.float64", np.dtype(np.int64): "np.int64",
            np.dtype(np.int32): "np.int32", np.dtype(np.bool_): "np.bool_"}


#: The element types a kernel sees for each dtype policy of the op table (``Op.promote``): "float"
#: ops get floating-point operands only; the others keep integer ones.
_POLICY_DTYPES = {"float": ("f32", "f64")}
_ALL_NUMERIC = ("f32", "f64", "i64", "i32")


def _check_table() -> None:
    """Every primitive of the op table can be lowered: it is elementwise or has a :func:`lowers`
    method, and every function its kernel template calls exists in the runtime for every element
    type the op can see (a missing one would surface as an ImportError inside a generated module)."""
    unlowered = [name for name, e in TABLE.items() if not isinstance(e, Composite) and name not in _LOWERINGS
                 and name not in ELEMENTWISE_INLINE and name not in INLINED_BEFORE_CODEGEN]
    if unlowered:
        raise RuntimeError(f"op-table entries without a lowering: {', '.join(unlowered)}")
    missing = []
    for name, entry in TABLE.items():
        template = getattr(entry, "kernel", None)
        if template is None:
            continue
        for call in set(_CALL_RE.findall(template)):
            if entry.kind != "elementwise":
                if call not in _RUNTIME_NAMES:
                    missing.append(f"{name}: {call}")
                continue
            for suffix in _POLICY_DTYPES.get(entry.promote, _ALL_NUMERIC):
                if f"{call}_{suffix}" not in _RUNTIME_NAMES:
                    missing.append(f"{name}: {call}_{suffix}")
    if missing:
        raise RuntimeError("kernel templates call functions the runtime lacks (give the entry a `scalar` "
                           "function or add them to compiler/runtime.py): " + ", ".join(sorted(missing)))


#: Constant arrays up to this many elements are written into the generated module.
EMBED_LIMIT = 64


class Unsupported(Exception):
    """The graph uses something the code generator does not lower; run it with the interpreter."""


@dataclass
class KernelSource:
    """Generated module text and what the caller needs to run its entry function."""

    source: str
    entry: str
    consts: list[np.ndarray]                 # extra array arguments, in order
    dims: list[tuple[int, int]]              # D[k] is the extent of axis [1] of value #[0]
    dim_values: list[Value] = field(default_factory=list)
    guards: list[Node] = field(default_factory=list)
    index_nodes: list[Node] = field(default_factory=list)

    @property
    def canonical(self) -> str:
        """`source` without its comments and graph name: what is compiled and cached on disk, so the
        same graph traced from other lines or under another name finds the machine code compiled before."""
        lines = self.source.splitlines()
        return "\n".join([_CANONICAL_DOCSTRING] + _without_comments(lines[1:])) + "\n"

    def extents(self) -> np.ndarray:
        """The ``D`` array for the shapes this source was generated from."""
        return np.array([self.dim_values[i].shape[a] for i, a in self.dims], dtype=np.int64)


def _element(value, dtype: np.dtype) -> str:
    """A bare Python literal for one element (``np.array([...], dtype=...)`` gives it its dtype)."""
    if dtype == np.bool_:
        return "True" if bool(value) else "False"
    if dtype.kind in "iu":
        return str(int(value))
    v = float(value)
    return "np.nan" if math.isnan(v) else ("np.inf" if v > 0 else "-np.inf") if math.isinf(v) else repr(v)


def _literal(value, dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "True" if bool(value) else "False"
    if dtype.kind in "iu":
        return f"{_NP_TYPE[dtype]}({int(value)})"
    v = float(value)
    if math.isnan(v):
        text = "np.nan"
    elif math.isinf(v):
        text = "np.inf" if v > 0 else "-np.inf"
    else:
        text = repr(v)
    return f"{_NP_TYPE[dtype]}({text})"


_CANONICAL_DOCSTRING = '"""Generated by tracegrad; edit the Python, not this file."""'


def _without_comments(lines: list[str]) -> list[str]:
    """Generated lines without their comments; a comment line becomes empty, so line numbers stay."""
    out = []
    for line in lines:
        if line.lstrip().startswith("#"):
            out.append("")
        else:
            out.append(line.split("  # ", 1)[0].rstrip())
    return out


class _BlockedSums:
    """The names and closing statements of the float sums one blocked loop accumulates."""

    def __init__(self, gen: _Gen, sums: list[Node]):
        self.gen = gen
        self.names: dict[int, tuple[str, str, str]] = {}
        for node in sums:
            k = gen.counter
            gen.counter += 1
            self.names[id(node)] = (f"acc{k}", f"cmp{k}", f"blk{k}")
        self.sums = sums

    def element(self, node: Node, expression: str, slot: str = "i - ib") -> str:
        """Bind element ``i`` of `node`'s input to a local; the statement storing it at `slot` of the block.

        The caller writes that statement after the loop body's other statements (see emit_group).
        """
        x, v = node.inputs[0], node.outputs[0]
        local = f"s{self.gen.counter}"
        self.gen.counter += 1
        self.gen.w.line(f"{local} = {self.gen.cast(expression, x.dtype, v.dtype)}")
        return f"{self.names[id(node)][2]}[{slot}] = {local}"

    def close(self, w: Writer) -> None:
        """End the element loop, add each block's sum to its total, end the block loop."""
        w.end()
        for node in self.sums:
            total, compensation, block = self.names[id(node)]
            add = self.gen.fn_plain("add_compensated")
            block_sum = self.gen.fn("sum_block", node.outputs[0].dtype)
            w.line(f"{total}, {compensation} = {add}({total}, {compensation}, "
                   f"np.float64({block_sum}({block}, ie - ib)))")
        w.end()

    def block_result(self, node: Node, count: str) -> str:
        """The sum of the first `count` elements of `node`'s block, in its dtype: a sum of one block.

        It equals result() after that block alone (adding it to 0 and compensating are exact).
        """
        block_sum = self.gen.fn("sum_block", node.outputs[0].dtype)
        return f"{_NP_TYPE[node.outputs[0].dtype]}({block_sum}({self.names[id(node)][2]}, {count}))"

    def result(self, node: Node) -> str:
        """The expression of `node`'s sum after close(), in its dtype."""
        total, compensation, _ = self.names[id(node)]
        value = f"{self.gen.fn_plain('compensated_result')}({total}, {compensation})"
        return f"{_NP_TYPE[node.outputs[0].dtype]}({value})"


@dataclass
class _BodyStorage:
    """Where a loop body's stored arrays live: `stacks` maps value ids to the stack they are a
    slice of, `carried` holds the ids of carries' next values; `allocations` are written before
    the loop."""

    stacks: dict[int, str]
    carried: set[int]
    allocations: list[Alloc] = field(default_factory=list)
    in_place: set[int] = field(default_factory=set)


#: The _Gen method that lowers each op that is not elementwise, filled by :func:`lowers`.
_LOWERINGS: dict[str, Callable] = {}


def lowers(*ops: str, kinds: tuple[str, ...] = ()):
    """Register the decorated ``_Gen`` method as the lowering of `ops` and of every op-table entry of `kinds`."""
    def register(method: Callable) -> Callable:
        for name in list(ops) + [n for n, e in TABLE.items() if e.kind in kinds]:
            if name in _LOWERINGS:
                raise RuntimeError(f"two lowerings of {name!r}")
            _LOWERINGS[name] = method
        return method
    return register


class _Gen:
    """One code generation: names, extents and statements for a single graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.plan: FusionPlan = plan_fusion(graph)
        self.w = Writer()
        self.names: dict[int, str] = {}          # value id -> array name
        self.value_index: dict[int, int] = {}    # value id -> position in dim_values
        self.dim_values: list[Value] = []
        self.dims: list[tuple[int, int]] = []
        self.dim_names: dict[tuple[int, int], str] = {}
        self.consts: list[np.ndarray] = []
        self.embedded: list[str] = []
        self.embedded_by_content: dict[tuple[str, bytes], str] = {}
        self.const_names: dict[int, str] = {}
        self.runtime: set[str] = set()
        self.guards: list[Node] = []
        self.index_nodes: list[Node] = []
        self.printed: dict[int, str] = {}        # value id -> %name for comments
        self.scalar_of: dict[int, str] = {}      # value id -> scalar local, inside a fused flat loop
        self.transposed: dict[int, Value] = {}   # value id -> the value it is the 2-D transpose of
        self.readers: dict[int, set[int]] = {}
        self.node_by_id: dict[int, Node] = {}
        self.counter = 0
        #: ids of the one-element values held in scalar locals rather than arrays (see scalar_locals)
        self.locals: set[int] = set()
        self.local_names: set[str] = set()
        #: ids of the values a loop body must leave in named storage (its outputs), and the
        #: names of the arrays allocated afresh in this scope (a loop may rebind a carry to them)
        self.escaping: set[int] = set()
        self.fresh: set[str] = set()
        self.output_slot: dict[int, int] = {}
        #: while a loop body is written: where its stored values live
        self.body_storage: _BodyStorage | None = None

    # ------------------------------------------------------------- naming
    def pname(self, v: Value) -> str:
        return self.printed.get(v.id, "%?")

    def comment(self, node: Node) -> str:
        loc = f"  {os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else ""
        outs = ", ".join(self.pname(v) for v in node.outputs)
        ins = ", ".join(self.pname(v) if v.const is None else "const" for v in node.inputs)
        return f"{outs + ' = ' if outs else ''}{node.op} {ins}{loc}"

    def dim(self, v: Value, axis: int) -> str:
        """Extent of `v` along `axis`: the literal 1, or a variable read from D.

        Extents equal in this trace share one variable.  The source then
        records which extents are equal, so a kernel is reused only for
        shapes with the same equalities (and the same unit dimensions).
        """
        if v.shape[axis] == 1:
            return "1"
        key = v.shape[axis]
        name = self.dim_names.get(key)
        if name is None:
            if v.id not in self.value_index:
                self.value_index[v.id] = len(self.dim_values)
                self.dim_values.append(v)
            name = f"n{len(self.dims)}"
            self.dims.append((self.value_index[v.id], axis))
            self.dim_names[key] = name
        return name

    def size(self, v: Value) -> str:
        if not v.shape:
            return "1"
        return " * ".join(self.dim(v, a) for a in range(len(v.shape)))

    def array(self, v: Value) -> str:
        """The flat array holding `v` (inputs, constants, stored values)."""
        if v.id in self.names:
            return self.names[v.id]
        if v.const is not None:
            if v.id not in self.const_names:
                flat = np.ascontiguousarray(v.const).reshape(-1)
                if flat.size <= EMBED_LIMIT and flat.dtype in _NP_TYPE:
                    # Small constants live in the module text: numba freezes them into the code,
                    # and the source (the cache key) then says what they are.  Equal ones share a name.
                    key = (flat.dtype.str, flat.tobytes())
                    name = self.embedded_by_content.get(key)
                    if name is None:
                        name = self.embedded_by_content[key] = f"K{len(self.embedded)}"
                        items = ", ".join(_element(x, flat.dtype) for x in flat)
                        self.embedded.append(f"{name} = np.array([{items}], dtype={_NP_TYPE[flat.dtype]})")
                    self.const_names[v.id] = name
                else:
                    self.const_names[v.id] = f"c{len(self.consts)}"
                    self.consts.append(flat)
            return self.const_names[v.id]
        raise Unsupported(f"value {self.pname(v)} is read before it is computed")

    def fn(self, name: str, dtype: np.dtype) -> str:
        suffix = SUFFIX.get(np.dtype(dtype))
        if suffix is None:
            raise Unsupported(f"dtype {dtype} in kernels")
        full = f"{name}_{suffix}"
        self.runtime.add(full)
        return full

    def fn_plain(self, name: str) -> str:
        """A runtime function with one version for every dtype (no suffix)."""
        self.runtime.add(name)
        return name

    # -------------------------------------------------------- expressions
    def access(self, v: Value, idx: list[str] | None) -> str:
        """Element of `v` at loop index `idx` (right-aligned; None: the flat index `i`)."""
        if v.const is not None and v.const.size == 1:
            return _literal(v.const.reshape(-1)[0], v.dtype)
        scalar = self.scalar_of.get(v.id)
        if scalar is not None:
            return scalar
        arr = self.array(v)
        if arr in self.local_names:
            return arr
        if all(n == 1 for n in v.shape):
            return f"{arr}[0]"
        if idx is None:
            return f"{arr}[i]"
        r, q = len(idx), len(v.shape)
        off = None
        for j in range(q):
            k = j + r - q
            term = "0" if v.shape[j] == 1 else idx[k]
            if off is None:
                off = term
            elif v.shape[j] == 1:
                pass  # a unit axis adds nothing to the offset
            else:
                off = f"({off}) * {self.dim(v, j)} + {term}"
        return f"{arr}[{off}]"

    def expr(self, v: Value, idx: list[str] | None) -> str:
        """Scalar expression for the element of `v` at `idx`, inlining fused producers.

        Deep expressions are cut: every inlined value :data:`MAX_EXPR_DEPTH`
        levels above the stored leaves is bound to a local first, so neither
        Python's parser (at most 200 nested parentheses) nor the recursion
        here sees an unbounded depth.  The locals are statements written just
        before the caller's statement, in the same loop body.
        """
        bound = self.bind_deep_subexpressions(v, idx)
        try:
            return self._expr(v, idx)
        finally:
            for vid in bound:
                del self.scalar_of[vid]

    def bind_deep_subexpressions(self, root: Value, idx: list[str] | None) -> list[int]:
        """Bind locals for the inlined values of `root`'s expression that sit too deep, or that the
        expression would spell out more than once (``x + y`` read by three ops is computed once per
        element, and the text says so); their ids."""
        order: list[Value] = []  # the inlined values of the expression, inputs before their readers
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(root, False)]
        while stack:
            v, inputs_done = stack.pop()
            if inputs_done:
                order.append(v)
                continue
            if v.id in seen or not self.plan.inlined(v) or v.id in self.scalar_of:
                continue
            seen.add(v.id)
            stack.append((v, True))
            stack.extend((x, False) for x in self.plan.producer[v.id].inputs)
        spelled = {root.id: 1}  # how many times each value's text would appear
        for v in reversed(order):
            for x in self.plan.producer[v.id].inputs:
                if x.id in seen:
                    spelled[x.id] = spelled.get(x.id, 0) + spelled.get(v.id, 0)
        height: dict[int, int] = {}
        bound: list[int] = []
        for v in order:
            node = self.plan.producer[v.id]
            h = 1 + max((height.get(x.id, 0) for x in node.inputs), default=0)
            repeated = spelled.get(v.id, 0) > 1 and node.op not in _SPELLED_AS_OPERAND
            if (h >= MAX_EXPR_DEPTH or repeated) and v is not root:
                local = f"s{self.counter}"
                self.counter += 1
                self.w.line(f"{local} = {self._expr(v, idx)}")
                self.scalar_of[v.id] = local
                bound.append(v.id)
                h = 0
            height[v.id] = h
        return bound

    def _expr(self, v: Value, idx: list[str] | None) -> str:
        scalar = self.scalar_of.get(v.id)
        if scalar is not None:
            return scalar
        if not self.plan.inlined(v):
            return self.access(v, idx)
        node = self.plan.producer[v.id]
        op = node.op
        if op in ("broadcast", "detach"):
            return self._expr(node.inputs[0], idx)
        if op == "cast":
            inner = self._expr(node.inputs[0], idx)
            return self.cast(inner, node.inputs[0].dtype, v.dtype)
        template = TABLE[op].kernel
        args = [self._expr(x, idx) for x in node.inputs]
        dtype = node.inputs[-1].dtype if op == "where" else node.inputs[0].dtype
        text = _CALL_RE.sub(lambda m: self.fn(m.group(1), dtype) + "(", template)
        return "(" + text.format(*args, **node.attrs) + ")"

    @staticmethod
    def cast(inner: str, src: np.dtype, dst: np.dtype) -> str:
        if src == dst:
            return inner
        if dst == np.bool_:
            return f"({inner} != 0)"
        return f"{_NP_TYPE[dst]}({inner})"

    def leaves_same_shape(self, v: Value, shape) -> bool:
        """True when every array read by `v`'s fused expression has `shape` (a flat loop suffices)."""
        seen: set[int] = set()
        stack = [v]
        while stack:
            x = stack.pop()
            if x.id in seen or all(n == 1 for n in x.shape):
                continue  # one element, read without an index
            seen.add(x.id)
            if not self.plan.inlined(x):
                if x.shape != shape:
                    return False
                continue
            stack.extend(self.plan.producer[x.id].inputs)
        return True

    # ------------------------------------------------------------ loops
    def loops(self, shape_value: Value, body, flat_ok: bool, comment: str) -> None:
        """Emit loops over `shape_value`'s shape and call ``body(idx, flat)`` innermost."""
        w = self.w
        if not shape_value.shape:
            body(None, "0")
            return
        if flat_ok:
            w.loop("i", self.size(shape_value), comment)
            body(None, "i")
            w.end()
            return
        idx = []
        flat = None
        for a in range(len(shape_value.shape)):
            var = f"i{a}"
            w.loop(var, self.dim(shape_value, a), comment if a == 0 else None)
            idx.append(var)
            flat = var if flat is None else f"({flat}) * {self.dim(shape_value, a)} + {var}"
        body(idx, flat)
        for _ in idx:
            w.end()

    def store_elementwise(self, node: Node) -> None:
        v = node.outputs[0]
        name = self.new_array(v, node)
        flat_ok = self.leaves_same_shape_node(node)

        def body(idx, flat):
            self.w.line(f"{self.at(name, flat)} = {self.expr_node(node, idx)}")
        self.loops(v, body, flat_ok, self.comment(node))

    def leaves_same_shape_node(self, node: Node) -> bool:
        return all(self.leaves_same_shape(x, node.outputs[0].shape) for x in node.inputs)

    def expr_node(self, node: Node, idx) -> str:
        """The expression of a stored elementwise node (its own inputs may be inlined)."""
        v = node.outputs[0]
        self.plan.materialized.discard(v.id)
        try:
            return self.expr(v, idx)
        finally:
            self.plan.materialized.add(v.id)

    def new_array(self, v: Value, node: Node | None = None) -> str:
        if v.id in self.names:
            return self.names[v.id]
        if v.id in self.output_slot:
            # A graph output is computed straight into the caller's array.
            name = self.names[v.id] = f"out{self.output_slot[v.id]}"
            return name
        name = f"t{self.counter}"
        self.counter += 1
        self.names[v.id] = name
        if v.id in self.locals:
            self.local_names.add(name)
            return name
        dtype = _NP_TYPE[v.dtype]
        body = self.body_storage
        if body is None:
            self.w.alloc(name, self.size(v), dtype)
            self.fresh.add(name)
            return name
        # In a loop body, storage is allocated once, before the loop.
        stack = body.stacks.get(v.id)
        if stack is not None:
            # Computed in place in its slice of the stack: no copy, and it outlives the iteration.
            size = self.size(v)
            self.w.line(f"{name} = {stack}[{LOOP_COUNTER} * {size}:({LOOP_COUNTER} + 1) * {size}]")
            self.fresh.add(name)
            body.in_place.add(v.id)
        elif v.id in body.carried:
            # The next value of a carry: two buffers in turn, since the iteration reads the other.
            even, odd = self.new_name(), self.new_name()
            body.allocations += [Alloc(even, self.size(v), dtype), Alloc(odd, self.size(v), dtype)]
            self.w.line(f"{name} = {even} if {LOOP_COUNTER} % 2 == 0 else {odd}")
            self.fresh.add(name)
        else:
            body.allocations.append(Alloc(name, self.size(v), dtype))
        return name

    def at(self, name: str, flat: str) -> str:
        """Element `flat` of the array `name`, or the scalar local `name` itself."""
        return name if name in self.local_names else f"{name}[{flat}]"

    # ------------------------------------------------------------ ops
    def reduction_parts(self, node: Node):
        """(initial value, combine(acc, element) -> expression) of a sum/max/min node."""
        x, v = node.inputs[0], node.outputs[0]
        dt = v.dtype
        if node.op == "sum":
            return _literal(0, dt), lambda acc, e: f"{acc} + {self.cast(e, x.dtype, dt)}"
        init = _literal(-np.inf if node.op == "max" else np.inf, dt) if dt.kind == "f" else \
            _literal(np.iinfo(dt).min if node.op == "max" else np.iinfo(dt).max, dt)
        fn = self.fn("maximum" if node.op == "max" else "minimum", dt)
        return init, lambda acc, e: f"{fn}({acc}, {e})"

    @lowers("sum", "max", "min")
    def reduction(self, node: Node) -> None:
        x = node.inputs[0]
        v = node.outputs[0]
        axes = normalize_axes(node.attrs["axes"], len(x.shape))
        name = self.new_array(v, node)
        init, combine = self.reduction_parts(node)
        w = self.w
        r = len(x.shape)
        kept = [a for a in range(r) if a not in axes]
        comment = self.comment(node)
        contiguous = self.leaves_same_shape(x, x.shape)
        if self.blocked_sum(node) and contiguous and kept == list(range(len(kept))):
            # Each output element sums a contiguous run of the input: blocked and compensated when
            # the run is longer than a block.  Shorter runs skip the blocks' bookkeeping (it cost
            # 11x on rows of 8) but not the block itself, which sum_block adds with vector
            # accumulators: a running sum keeps the loop scalar (no reassociation) and was 2-5x
            # slower on rows of 32 to 500.  Below SHORT_RUN elements the running sum is faster.
            run = " * ".join(self.dim(x, a) for a in range(len(kept), r)) or "1"
            blocks = self.allocate_blocks([node], comment)
            if kept:
                # The branch outside the row loops: inside them, rows of 8 took 4x as long.
                w.branch("if", f"{run} < {SHORT_RUN}")
                self.suffix_reduction(node, name, init, combine, None)
                w.end()
                w.branch("elif", f"{run} <= {SUM_BLOCK}")
                out_flat = self.row_loops(x, kept)
                w.line(f"ib = ({out_flat}) * {run}")
                # The block indexed from 0 by the loop variable: blk[i - ib] kept this copy 10x slower.
                w.loop("k", run)
                w.line("i = ib + k")
                w.line(blocks.element(node, self.expr(x, None), "k"))
                w.end()
                w.line(f"{self.at(name, out_flat)} = {blocks.block_result(node, run)}")
                for _ in range(len(kept) + 1):
                    w.end()
                w.branch("else")
            out_flat = self.row_loops(x, kept)
            start = "0" if out_flat is None else f"({out_flat}) * {run}"
            total = self.open_blocked_sums(start, f"{start} + {run}" if out_flat is not None else run, blocks)
            w.line(total.element(node, self.expr(x, None)))
            total.close(w)
            w.line(f"{self.at(name, out_flat or '0')} = {total.result(node)}")
            for _ in kept:
                w.end()
            if kept:
                w.end()
            return
        if not kept:
            w.line(f"acc = {init}", comment)
            flat_ok = contiguous
            self.loops(x, lambda idx, flat: w.line(f"acc = {combine('acc', self.expr(x, idx))}"), flat_ok, None)
            w.line(f"{self.at(name, '0')} = acc")
            return
        if kept == list(range(len(kept))):
            self.suffix_reduction(node, name, init, combine, comment)
            return
        # General case: initialise, then accumulate in input order (contiguous reads).
        w.loop("j", self.size(v), comment)
        w.line(f"{self.at(name, 'j')} = {init}")
        w.end()
        out_flat = None
        for a in kept:
            out_flat = f"i{a}" if out_flat is None else f"({out_flat}) * {self.dim(x, a)} + i{a}"

        def body(idx, flat):
            target = self.at(name, out_flat)
            w.line(f"{target} = {combine(target, self.expr(x, idx))}")
        self.loops(x, body, False, None)

    def row_loops(self, x: Value, kept: list[int]) -> str | None:
        """Open one loop per kept (leading) axis of `x`; the flat index of the output element, or None."""
        out_flat = None
        for a in kept:
            self.w.loop(f"i{a}", self.dim(x, a))
            out_flat = f"i{a}" if out_flat is None else f"({out_flat}) * {self.dim(x, a)} + i{a}"
        return out_flat

    def suffix_reduction(self, node: Node, name: str, init: str, combine, comment: str | None) -> None:
        """A reduction over trailing axes: one scalar accumulator per output element."""
        x = node.inputs[0]
        w = self.w
        r = len(x.shape)
        kept = [a for a in range(r) if a not in normalize_axes(node.attrs["axes"], r)]
        idx = []
        out_flat = None
        for a in kept:
            var = f"i{a}"
            w.loop(var, self.dim(x, a), comment if a == 0 else None)
            idx.append(var)
            out_flat = var if out_flat is None else f"({out_flat}) * {self.dim(x, a)} + {var}"
        w.line(f"acc = {init}")
        for a in range(len(kept), r):
            w.loop(f"i{a}", self.dim(x, a))
            idx.append(f"i{a}")
        w.line(f"acc = {combine('acc', self.expr(x, idx))}")
        for _ in range(len(kept), r):
            w.end()
        w.line(f"{self.at(name, out_flat)} = acc")
        for _ in kept:
            w.end()

    @staticmethod
    def blocked_sum(node: Node) -> bool:
        """True for a float sum, which kernels accumulate in compensated blocks (see open_blocked_sums)."""
        return node.op == "sum" and node.outputs[0].dtype.kind == "f"

    def allocate_blocks(self, sums: list[Node], comment: str | None) -> _BlockedSums:
        """Names for the blocked accumulation of `sums`, and their block buffers allocated here
        (outside any loop over output elements: one allocation per kernel call, not per row)."""
        sums_state = _BlockedSums(self, sums)
        for node in sums:
            block = sums_state.names[id(node)][2]
            self.w.alloc(block, str(SUM_BLOCK), _NP_TYPE[node.outputs[0].dtype], comment)
            comment = None
        return sums_state

    def open_blocked_sums(self, start: str, stop: str, sums: list[Node] | _BlockedSums,
                          comment: str | None = None) -> _BlockedSums:
        """Open a loop over flat indices ``i`` in [start, stop) that accumulates each of `sums` in blocks.

        Every element goes to a block buffer; each block is summed by
        ``sum_block`` (several vector accumulators) and added to a float64
        total with Neumaier's compensation.  The error then stays at a few
        roundings of the element dtype whatever the length, where one running
        accumulator erred by 3e-3 on 1e7 float32 elements.  The caller writes
        its statements for element ``i``, one ``element()`` per sum, then
        ``close()``.
        """
        w = self.w
        sums_state = sums if isinstance(sums, _BlockedSums) else self.allocate_blocks(sums, comment)
        for node in sums_state.sums:
            total, compensation, _ = sums_state.names[id(node)]
            w.line(f"{total} = 0.0")
            w.line(f"{compensation} = 0.0")
        w.loop("ib", f"{start}, {stop}, {SUM_BLOCK}")
        w.line(f"ie = min(ib + {SUM_BLOCK}, {stop})")
        w.loop("i", "ib, ie")
        return sums_state

    @lowers("argmax")
    def argmax(self, node: Node) -> None:
        x, v = node.inputs[0], node.outputs[0]
        src = self.array(x)
        name = self.new_array(v, node)
        w = self.w
        axis = node.attrs["axis"]
        if axis is None or not x.shape:
            w.line("best_i = 0", self.comment(node))
            w.loop("i", f"1, {self.size(x)}")
            w.branch("if", f"{src}[i] > {src}[best_i] or ({src}[i] != {src}[i] and {src}[best_i] == {src}[best_i])")
            w.line("best_i = i")
            w.end()
            w.end()
            w.line(f"{name}[0] = best_i")
            return
        ax = normalize_axes(axis, len(x.shape))[0]
        outer = " * ".join([self.dim(x, a) for a in range(ax)]) or "1"
        inner = " * ".join([self.dim(x, a) for a in range(ax + 1, len(x.shape))]) or "1"
        n = self.dim(x, ax)
        w.loop("io", outer, self.comment(node))
        w.loop("ii", inner)
        w.line(f"base = io * {n} * {inner} + ii")
        w.line("best_i = 0")
        w.loop("k", f"1, {n}")
        w.line(f"a = {src}[base + k * {inner}]")
        w.line(f"b = {src}[base + best_i * {inner}]")
        w.branch("if", "a > b or (a != a and b == b)")
        w.line("best_i = k")
        w.end()
        w.end()
        w.line(f"{name}[io * {inner} + ii] = best_i")
        w.end()
        w.end()

    @lowers("argsort")
    def argsort(self, node: Node) -> None:
        """Each row along the axis copied out, put in order by numba's stable sort, its order written back.

        Descending order sorts the reversed row and reverses the result, so that ties keep their
        original order and NaN (numba's sort puts it last) comes first, as in PyTorch."""
        x, v = node.inputs[0], node.outputs[0]
        src = self.array(x)
        name = self.new_array(v, node)
        w = self.w
        if not x.shape:
            w.line(f"{name}[0] = 0", self.comment(node))
            return
        ax = normalize_axes((node.attrs["axis"],), len(x.shape))[0]
        descending = node.attrs["descending"]
        outer = " * ".join([self.dim(x, a) for a in range(ax)]) or "1"
        inner = " * ".join([self.dim(x, a) for a in range(ax + 1, len(x.shape))]) or "1"
        n = self.dim(x, ax)
        row, order = f"row_{name}", f"order_{name}"  # one pair per node: rows of two dtypes cannot share a name
        w.alloc(row, n, _NP_TYPE[x.dtype], self.comment(node))
        w.loop("io", outer)
        w.loop("ii", inner)
        w.line(f"base = io * {n} * {inner} + ii")
        w.loop("k", n)
        w.line(f"{row}[k] = {src}[base + {f'({n} - 1 - k)' if descending else 'k'} * {inner}]")
        w.end()
        w.line(f'{order} = np.argsort({row}, kind="mergesort")')
        w.loop("k", n)
        if descending:
            w.line(f"{name}[base + k * {inner}] = {n} - 1 - {order}[{n} - 1 - k]")
        else:
            w.line(f"{name}[base + k * {inner}] = {order}[k]")
        w.end()
        w.end()
        w.end()

    @lowers(kinds=("linalg",))
    def linalg(self, node: Node) -> None:
        """A function of matrices: the op table's numba expression (LAPACK through numba, or a runtime
        function it names) on each matrix of the batch, its result (a matrix, a vector or a number per
        matrix) written into the output."""
        v = node.outputs[0]
        name = self.new_array(v, node)
        w = self.w
        if 0 in v.shape:  # nothing to compute (qr's Q in mode "r" is empty)
            return
        batch_dims = len(node.inputs[0].shape) - 2
        batch = " * ".join(self.dim(node.inputs[0], a) for a in range(batch_dims)) or "1"
        matrices = []
        for k, x in enumerate(node.inputs):
            rows, cols = self.dim(x, len(x.shape) - 2), self.dim(x, len(x.shape) - 1)
            matrices.append((self.array(x), rows, cols, f"m{k}_{name}"))
        core = v.shape[batch_dims:]
        size = " * ".join(self.dim(v, a) for a in range(batch_dims, len(v.shape))) or "1"
        # (numba's LAPACK wrappers, like numpy's, refuse some empty matrices: nothing to compute then)
        w.loop("bi", f"{batch} if {size} > 0 else 0", self.comment(node))
        for src, rows, cols, local in matrices:
            w.line(f"{local} = np.ascontiguousarray({src}[bi * {rows} * {cols}:(bi + 1) * {rows} * {cols}])"
                   f".reshape(({rows}, {cols}))")
        template = TABLE[node.op].kernel
        for call in set(_CALL_RE.findall(template)):  # _check_table: each is a runtime function
            self.fn_plain(call)
        result = template.format(*[m[3] for m in matrices], **node.attrs)
        if not core:
            w.line(f"{name}[bi] = {result}")
        else:
            w.line(f"{name}[bi * {size}:(bi + 1) * {size}] = np.ascontiguousarray({result}).reshape(-1)")
        w.end()

    def operand(self, v: Value) -> tuple[str, str]:
        """(flat array, 'n' or 't'): a skipped 2-D transpose is read transposed by BLAS, not copied."""
        src = self.transposed.get(v.id)
        if src is not None:
            return self.array(src), "t"
        return self.array(v), "n"

    @lowers("matmul")
    def matmul(self, node: Node) -> None:
        a, b = node.inputs
        v = node.outputs[0]
        if v.dtype.kind != "f":
            raise Unsupported("integer matmul")
        sa, sb = a.shape, b.shape
        w = self.w
        comment = self.comment(node)
        # Matrices of a and b (vectors become 1-row / 1-column matrices).
        m = "1" if len(sa) == 1 else self.dim(a, len(sa) - 2)
        k = self.dim(a, len(sa) - 1)
        n = "1" if len(sb) == 1 else self.dim(b, len(sb) - 1)
        batch_a, batch_b = sa[:-2] if len(sa) > 2 else (), sb[:-2] if len(sb) > 2 else ()
        if not batch_a and not batch_b:
            name = self.new_array(v, node)
            (A, ta), (B, tb) = self.operand(a), self.operand(b)
            fn = f"matmul_{ta}{tb}"
            self.runtime.add(fn)
            w.line(f"{fn}({A}, {B}, {name}, {m}, {k}, {n})", comment)
            return
        A, B = self.array(a), self.array(b)
        name = self.new_array(v, node)
        nb = len(v.shape) - (2 if len(sa) > 1 and len(sb) > 1 else 1)
        batch_shape_value = v
        idx = [f"b{j}" for j in range(nb)]
        for j in range(nb):
            w.loop(f"b{j}", self.dim(batch_shape_value, j), comment if j == 0 else None)

        def batch_offset(x: Value, xs, mat_size: str) -> str:
            q = len(xs) - 2 if len(xs) > 1 else 0
            off = "0"
            for j in range(q):
                kk = j + nb - q
                term = "0" if xs[j] == 1 else idx[kk]
                off = term if off == "0" else f"({off}) * {self.dim(x, j)} + {term}"
            return f"({off}) * {mat_size}"
        out_flat = "0"
        for j in range(nb):
            out_flat = f"b{j}" if out_flat == "0" else f"({out_flat}) * {self.dim(v, j)} + b{j}"
        oa = batch_offset(a, sa, f"{m} * {k}") if len(sa) > 2 else "0"
        ob = batch_offset(b, sb, f"{k} * {n}") if len(sb) > 2 else "0"
        w.line(f"oa = {oa}")
        w.line(f"ob = {ob}")
        w.line(f"oo = ({out_flat}) * {m} * {n}")
        self.runtime.add("matmul_nn")
        w.line(f"matmul_nn({A}[oa:oa + {m} * {k}], {B}[ob:ob + {k} * {n}], {name}[oo:oo + {m} * {n}], "
               f"{m}, {k}, {n})")
        for _ in range(nb):
            w.end()

    @lowers("transpose")
    def transpose(self, node: Node) -> None:
        x, v = node.inputs[0], node.outputs[0]
        perm = node.attrs["perm"]
        if tuple(perm) == (1, 0) and v.id not in self.output_slot and self.readers.get(v.id) and all(
                r.op == "matmul" and len(r.inputs[0].shape) <= 2 and len(r.inputs[1].shape) <= 2
                for r in self.reader_nodes(v)):
            # Only BLAS reads it: hand np.dot a transposed view instead of copying.
            self.transposed[v.id] = x
            self.array(x)
            self.w.note(f"{self.comment(node)}: read transposed by np.dot, not copied")
            return
        name = self.new_array(v, node)
        src = self.array(x)

        def body(idx, flat):
            # Output axis k reads input axis perm[k]; build the input's row-major offset.
            by_input_axis = {perm[k]: idx[k] for k in range(len(perm))}
            off = None
            for j in range(len(x.shape)):
                term = "0" if x.shape[j] == 1 else by_input_axis[j]
                off = term if off is None else f"({off}) * {self.dim(x, j)} + {term}"
            self.w.line(f"{name}[{flat}] = {src}[{off}]")
        self.loops(v, body, False, self.comment(node))

    @lowers("reshape")
    def reshape(self, node: Node) -> None:
        x, v = node.inputs[0], node.outputs[0]
        self.names[v.id] = self.array(x)  # flat data: a reshape is the same array
        self.w.note(f"{self.comment(node)}: same data as {self.names[v.id]}")

    def index_map(self, node: Node, x: Value, out: Value, idx: list[str], arrays: list[Value]):
        """Input offset for output index `idx` of ``x[spec]`` (numpy's rules), plus bounds checks."""
        spec = node.attrs["spec"]
        nd = len(x.shape)
        specified = sum(1 for it in spec if it[0] in ("int", "slice", "array"))
        items = []
        for it in spec:
            if it[0] == "ellipsis":
                items.extend([("slice", None, None, None)] * (nd - specified))
            else:
                items.append(it)
        items.extend([("slice", None, None, None)] * (nd - sum(1 for it in items if it[0] != "none")))
        adv_pos = [i for i, it in enumerate(items) if it[0] == "array"]
        adv_rank = len(arrays[0].shape) if arrays else 0
        if arrays and any(a.shape != arrays[0].shape for a in arrays):
            raise Unsupported("index arrays of different shapes")
        # With index arrays present numpy counts int items as advanced too: x[0, :, [3, 1]]
        # has separated advanced items, whose axes go to the front.
        advanced = [i for i, it in enumerate(items) if it[0] == "array" or (adv_pos and it[0] == "int")]
        adjacent = bool(adv_pos) and advanced == list(range(advanced[0], advanced[0] + len(advanced)))
        # Where each output axis comes from (numpy's rule: the advanced-index axes go where the
        # first advanced item stands when those items are adjacent, else to the front).
        out_axes: list[tuple] = []
        adv_placed = False
        if adv_pos and not adjacent:
            out_axes.extend(("adv", j) for j in range(adv_rank))
            adv_placed = True
        for it in items:
            if it[0] == "array":
                if not adv_placed:
                    out_axes.extend(("adv", j) for j in range(adv_rank))
                    adv_placed = True
            elif it[0] == "slice":
                out_axes.append(("slice",))
            elif it[0] == "none":
                out_axes.append(("none",))
        adv_out_start = next((i for i, a in enumerate(out_axes) if a[0] == "adv"), None)
        slice_axis_iter = iter([i for i, a in enumerate(out_axes) if a[0] == "slice"])
        w = self.w
        terms = []
        d = 0  # input axis
        arr_iter = iter(arrays)
        for it in items:
            if it[0] == "none":
                continue
            n_in = self.dim(x, d) if x.shape[d] != 1 else "1"
            if it[0] == "int":
                val = it[1]
                if isinstance(val, Affine):
                    text = val.text(LOOP_COUNTER)
                    terms.append(text if val.start >= 0 else f"({text} + {n_in})")
                else:
                    terms.append(str(val) if val >= 0 else f"({val} + {n_in})")
            elif it[0] == "slice":
                oaxis = next(slice_axis_iter)
                start, stop, step = it[1], it[2], it[3]
                if start is None and stop is None and step in (None, 1):
                    terms.append("0" if x.shape[d] == 1 else idx[oaxis])
                else:
                    var = f"s{self.counter}"
                    self.counter += 1
                    w.line(f"{var}_start, {var}_step = slice_start_step({_opt(start)}, {_opt(stop)}, "
                           f"{_opt(step)}, {n_in})")
                    self.runtime.add("slice_start_step")
                    terms.append(f"({var}_start + {var}_step * {idx[oaxis]})")
            else:
                arr_v = next(arr_iter)
                arr = self.array(arr_v)
                aoff = None
                for j in range(adv_rank):
                    term = "0" if arr_v.shape[j] == 1 else idx[adv_out_start + j]
                    aoff = term if aoff is None else f"({aoff}) * {self.dim(arr_v, j)} + {term}"
                aoff = aoff or "0"
                var = f"q{self.counter}"
                self.counter += 1
                terms.append((var, self.at(arr, aoff), n_in))
            d += 1
        return terms

    def gather_offset(self, x: Value, terms) -> str:
        """The input offset of `terms` (see index_map); advanced indices are first bound to locals and
        checked against their axis."""
        w = self.w
        off = None
        for d, t in enumerate(terms):
            if isinstance(t, tuple):
                var, read, n_in = t
                w.line(f"{var} = {read}")
                w.branch("if", f"{var} < 0")
                w.line(f"{var} += {n_in}")
                w.end()
                w.branch("if", f"{var} < 0 or {var} >= {n_in}")
                # Report, and read a valid element: the caller raises and discards the results.
                w.line(f"status[0] = -{len(self.index_nodes)}")
                w.line(f"{var} = 0")
                w.end()
                t = var
            dim = self.dim(x, d) if x.shape[d] != 1 else "1"
            off = t if off is None else f"({off}) * {dim} + {t}"
        return off or "0"

    @lowers("index")
    def index(self, node: Node) -> None:
        x, *arrays = node.inputs
        v = node.outputs[0]
        self.index_nodes.append(node)
        src = self.array(x)
        if self.contiguous_block(node) and src not in self.local_names and v.id not in self.locals \
                and v.id not in self.output_slot:
            # Leading positions and whole trailing axes: the result is a slice of the input, not a copy
            # (an adjoint loop reads each step's residual from the forward loop's stack this way).
            off = self.gather_offset(x, self.index_map(node, x, v, ["0"] * len(v.shape), []))
            name = self.names[v.id] = self.new_name()
            self.w.line(f"{name} = {src}[{off}:{off} + {self.size(v)}]", self.comment(node))
            return
        name = self.new_array(v, node)

        def body(idx, flat):
            terms = self.index_map(node, x, v, idx or [], arrays)
            off = self.gather_offset(x, terms)
            self.w.line(f"{self.at(name, flat)} = {self.at(src, off)}")
        self.loops(v, body, False, self.comment(node))

    @staticmethod
    def contiguous_block(node: Node) -> bool:
        """True for ``x[i, j, :, :]``: integer positions on leading axes, then whole axes only."""
        if len(node.inputs) > 1:
            return False
        items = list(node.attrs["spec"])
        while items and items[-1][0] == "slice" and items[-1][1:] in ((None, None, None), (None, None, 1)):
            items.pop()
        return all(it[0] == "int" for it in items)

    @lowers("index_add")
    def index_add(self, node: Node) -> None:
        g, *arrays = node.inputs
        v = node.outputs[0]
        self.index_nodes.append(node)
        src = self.array(g)
        name = self.new_array(v, node)
        w = self.w
        w.line(f"{name}[:] = 0", self.comment(node))

        def body(idx, flat):
            terms = self.index_map(node, v, g, idx or [], arrays)
            off = self.gather_offset(v, terms)
            w.line(f"{name}[{off}] += {self.at(src, flat)}")
        self.loops(g, body, False, None)

    @lowers("concat")
    def concat(self, node: Node) -> None:
        v = node.outputs[0]
        axis = normalize_axes(node.attrs["axis"], len(v.shape))[0]
        name = self.new_array(v, node)
        w = self.w
        w.line("start = 0", self.comment(node))
        for x in node.inputs:
            src = self.array(x)

            def body(idx, flat, x=x, src=src):
                off = None
                for j in range(len(v.shape)):
                    term = f"(start + {idx[j]})" if j == axis else idx[j]
                    off = term if off is None else f"({off}) * {self.dim(v, j)} + {term}"
                w.line(f"{name}[{off}] = {src}[{flat}]")
            self.loops(x, body, False, None)
            w.line(f"start += {self.dim(x, axis) if x.shape[axis] != 1 else '1'}")

    @lowers(LOOP)
    def loop(self, node: Node) -> None:
        """A rolled run (see :mod:`compiler.loops`): carries in locals or arrays, one ``for`` over the body.

        Values leave an iteration through the carries (rebound at its end, all at once), the
        stacks (element or slice ``it`` of an array allocated before the loop) and the last
        values; after the loop the node's outputs are bound to them.
        """
        info: Loop = node.attrs["loop"]
        body, w = info.body, self.w
        nc, nv = info.n_carried, info.n_invariant
        plan = plan_fusion(body)
        body_locals = scalar_locals(body, plan, keep_outputs=True)
        body_readers: dict[int, set[str]] = {}
        for n in body.nodes:
            for v in n.inputs:
                body_readers.setdefault(v.id, set()).add(n.op)

        def element_read(v: Value) -> bool:
            return all(n == 1 for n in v.shape) and body_readers.get(v.id, set()) <= _LOCAL_READERS
        carries, nexts = body.inputs[:nc], body.outputs[:nc]
        scalar_carry = [element_read(ph) and nxt.id in body_locals for ph, nxt in zip(carries, nexts)]
        for nxt, scalar in zip(nexts, scalar_carry):
            if not scalar:
                body_locals.discard(nxt.id)
        where = f"  {os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else ""
        w.note(f"loop: {info.count} iterations of {len(body.nodes)} nodes{where}")
        carry_names = []
        for init, ph, scalar in zip(node.inputs[:nc], carries, scalar_carry):
            name = self.new_name()
            if scalar:
                w.line(f"{name} = {self.access(init, None)}")
                self.local_names.add(name)
            else:
                w.line(f"{name} = {self.array_copy(init)}")
            self.names[ph.id] = carry_names.append(name) or name
        n_stacked = info.n_stacked
        stacked, lasts = body.outputs[nc:nc + n_stacked], body.outputs[nc + n_stacked:]
        stack_names = []
        for v in stacked:
            name = self.new_name()
            w.alloc(name, f"{info.count} * {self.size(v)}", _NP_TYPE[v.dtype])
            stack_names.append(name)
        last_names = []
        for v in lasts:
            name = self.new_name()
            if v.id in body_locals:
                w.line(f"{name} = {_literal(0, v.dtype)}")
                self.local_names.add(name)
            else:
                w.alloc(name, self.size(v), _NP_TYPE[v.dtype])
            last_names.append(name)
        counter = LOOP_COUNTER
        storage = _BodyStorage({v.id: name for v, name in zip(stacked, stack_names) if v.id not in body_locals},
                               {v.id for v, scalar in zip(nexts, scalar_carry) if not scalar})
        allocations_at = len(w.current)  # the body's arrays are allocated here, once it is written
        w.loop(counter, str(info.count))
        for ph, stack in zip(body.inputs[nc:], node.inputs[nc + nv:]):
            name = self.new_name()
            self.names[ph.id] = name
            if element_read(ph):
                w.line(f"{name} = {self.array(stack)}[{counter}]")
                self.local_names.add(name)
            else:
                size = self.size(ph)
                w.line(f"{name} = {self.array(stack)}[{counter} * {size}:({counter} + 1) * {size}]")
        saved = (self.plan, self.locals, self.output_slot, self.escaping, self.readers, self.node_by_id,
                 self.fresh, self.body_storage)
        self.plan, self.locals, self.output_slot = plan, body_locals, {}
        self.escaping, self.readers, self.fresh = {v.id for v in body.outputs}, {}, set()
        self.body_storage = storage
        try:
            self.emit_nodes(body.nodes, pieces=False)
            for v, name in zip(stacked, stack_names):
                src = self.array(v)
                if src in self.local_names:
                    w.line(f"{name}[{counter}] = {src}")
                elif v.id not in storage.in_place:
                    size = self.size(v)
                    w.line(f"{name}[{counter} * {size}:({counter} + 1) * {size}] = {src}")
            for v, name in zip(lasts, last_names):
                src = self.array(v)
                w.line(f"{name} = {src}" if name in self.local_names else f"{name}[:] = {src}")
            if carry_names:
                # Rebound together: one carry's next value may be another's current one.
                values = []
                for v, scalar in zip(nexts, scalar_carry):
                    src = self.array(v)
                    values.append(src if scalar or src in self.fresh else f"{src}.copy()")
                w.line(f"{', '.join(carry_names)} = {', '.join(values)}")
        finally:
            (self.plan, self.locals, self.output_slot, self.escaping, self.readers, self.node_by_id,
             self.fresh, self.body_storage) = saved
        w.end()
        w.current[allocations_at:allocations_at] = storage.allocations
        outs = node.outputs
        for v, name in zip(outs[:nc] + outs[nc + n_stacked:], carry_names + last_names):
            self.bind_result(v, name)
        for v, name in zip(outs[nc:nc + n_stacked], stack_names):
            self.names[v.id] = name

    def bind_result(self, v: Value, name: str) -> None:
        """Make the local or array `name` the storage of `v` as its readers expect it."""
        scalar = name in self.local_names
        slot = self.output_slot.get(v.id)
        if slot is not None:
            self.w.line(f"out{slot}[0] = {name}" if scalar else f"out{slot}[:] = {name}")
            self.names[v.id] = f"out{slot}"
        elif scalar == (v.id in self.locals):
            self.names[v.id] = name
        elif scalar:
            array = self.new_array(v)
            self.w.line(f"{array}[0] = {name}")
        else:
            local = self.new_array(v)
            self.w.line(f"{local} = {name}[0]")

    def new_name(self) -> str:
        name = f"t{self.counter}"
        self.counter += 1
        return name

    def array_copy(self, v: Value) -> str:
        """An expression of a new array holding `v` (a loop's array carry starts as its own copy)."""
        src = self.array(v)
        if src in self.local_names:
            return f"np.full(1, {src}, dtype={_NP_TYPE[v.dtype]})"
        return f"{src}.copy()"

    @lowers(GUARD)
    def guard(self, node: Node) -> None:
        x = node.inputs[0]
        self.guards.append(node)
        k = len(self.guards)
        expected = np.asarray(node.attrs["expected"])
        w = self.w
        # A failed guard ends the kernel: the caller discards its results and tries another
        # trace, so nothing after it is worth computing.  A bad index reported before it
        # keeps its status (eager mode raised there, before the branch).
        if expected.shape != x.shape:
            w.branch("if", "True", self.comment(node))  # traced with another shape: never holds
        elif expected.size == 1:
            lit = _literal(expected.reshape(-1)[0], x.dtype)
            w.branch("if", f"not ({self.at(self.array(x), '0')} == {lit})", self.comment(node))
        else:
            exp_v = Value(type=x.type, const=expected.astype(x.dtype))
            exp_name = self.array(exp_v)
            w.line("ok = True", self.comment(node))
            w.loop("i", self.size(x))
            w.branch("if", f"{self.array(x)}[i] != {exp_name}[i]")
            w.line("ok = False")
            w.line("break")
            w.end()
            w.end()
            w.branch("if", "not ok")
        w.branch("if", "status[0] == 0")
        w.line(f"status[0] = {k}")
        w.end()
        w.line("return")
        w.end()

    # -------------------------------------------------------------- main
    # ------------------------------------------------------- fused flat loops
    def inlined_producers(self, values) -> list[Node]:
        """The nodes written inline into the expressions of `values`, each once (an explicit stack:
        a chain of thousands of fused steps must not exhaust Python's recursion limit)."""
        seen: set[int] = set()
        nodes: list[Node] = []
        stack = list(values)
        while stack:
            v = stack.pop()
            if v.id in seen or v.const is not None or not self.plan.inlined(v):
                continue
            seen.add(v.id)
            node = self.plan.producer[v.id]
            nodes.append(node)
            stack.extend(node.inputs)
        return nodes

    def leaves(self, v: Value) -> set[int]:
        """Ids of the stored values `v`'s expression reads."""
        if v.const is not None:
            return set()
        if not self.plan.inlined(v):
            return {v.id}
        return {x.id for node in self.inlined_producers([v]) for x in node.inputs
                if x.const is None and not self.plan.inlined(x)}

    def heavy_calls(self, node: Node) -> int:
        """Transcendental functions evaluated by a node's statement (its own op and inlined ones)."""
        return _HEAVY.get(node.op, 0) + sum(_HEAVY.get(p.op, 0) for p in self.inlined_producers(node.inputs))

    def flat_key(self, node: Node):
        """The iteration space of a node that can join a fused flat loop, else None."""
        op = node.op
        if op in ELEMENTWISE_INLINE:
            v = node.outputs[0]
            return ("flat", v.shape) if self.leaves_same_shape_node(node) else None
        if op in ("sum", "max", "min"):
            x = node.inputs[0]
            if len(normalize_axes(node.attrs["axes"], len(x.shape))) == len(x.shape) and \
                    self.leaves_same_shape(x, x.shape):
                return ("flat", x.shape)
        return None

    def emit_group(self, group: list[Node], readers: dict[int, set[int]]) -> None:
        """One loop for consecutive elementwise stores and full reductions over one flat space.

        Values used only inside the loop stay scalars; the others are stored.
        """
        w = self.w
        members = {id(n) for n in group}
        shape = self.flat_key(group[0])[1]
        first_value = group[0].outputs[0] if group[0].op in ELEMENTWISE_INLINE else group[0].inputs[0]
        stored, accs = {}, {}
        for n in group:
            v = n.outputs[0]
            if n.op in ELEMENTWISE_INLINE:
                if v.id in self.output_slot or v.id in self.escaping or \
                        any(r not in members for r in readers.get(v.id, ())):
                    stored[v.id] = self.new_array(v, n)
            else:
                name = self.new_array(v, n)
                init, combine = self.reduction_parts(n)
                acc = f"acc{self.counter}"
                self.counter += 1
                accs[id(n)] = (acc, combine, name)
                if not (shape and self.blocked_sum(n)):
                    w.line(f"{acc} = {init}")
        looped = bool(shape)
        sums = [n for n in group if self.blocked_sum(n)] if looped else []
        blocked = None
        if sums:
            blocked = self.open_blocked_sums("0", self.size(first_value), sums,
                                             "; ".join(self.comment(n) for n in group)[:200])
        elif looped:
            w.loop("i", self.size(first_value), "; ".join(self.comment(n) for n in group)[:200])
        # Stores come after every load of the iteration: LLVM must assume a store may change
        # what a later load reads, so a store between sin(x[i]) and cos(x[i]) made it load x[i]
        # again and repeat the argument reduction the two share (2x the loop's time).
        stores = []
        for n in group:
            v = n.outputs[0]
            if n.op in ELEMENTWISE_INLINE:
                local = f"s{self.counter}"
                self.counter += 1
                w.line(f"{local} = {self.expr_node(n, None)}", None if looped else self.comment(n))
                self.scalar_of[v.id] = local
                if v.id in stored:
                    stores.append(f"{self.at(stored[v.id], 'i' if looped else '0')} = {local}")
            elif blocked is not None and self.blocked_sum(n):
                stores.append(blocked.element(n, self.expr(n.inputs[0], None)))
            else:
                acc, combine, _ = accs[id(n)]
                w.line(f"{acc} = {combine(acc, self.expr(n.inputs[0], None))}", None if looped else self.comment(n))
        for store in stores:
            w.line(store)
        if blocked is not None:
            blocked.close(w)
        elif looped:
            w.end()
        for n in group:
            if id(n) in accs:
                acc, _, name = accs[id(n)]
                w.line(f"{self.at(name, '0')} = "
                       f"{blocked.result(n) if blocked is not None and self.blocked_sum(n) else acc}")
        for n in group:
            self.scalar_of.pop(n.outputs[0].id, None)

    def reader_nodes(self, v: Value) -> list[Node]:
        return [self.node_by_id[r] for r in self.readers.get(v.id, ())]

    def emit(self, node: Node) -> None:
        """Write the statements of one node that is not part of a fused flat loop."""
        op = node.op
        if op in ELEMENTWISE_INLINE:
            self.store_elementwise(node)
            return
        lowering = _LOWERINGS.get(op)
        if lowering is None:
            raise Unsupported(f"op {op!r} has no lowering")
        lowering(self, node)

    def run(self, unrolled: Graph | None = None) -> KernelSource:
        """The kernel source; `unrolled` is the graph before rolling, whose value numbers the comments use."""
        g = self.graph
        input_ids = {v.id for v in g.inputs}
        for i, v in enumerate(g.inputs):
            self.names[v.id] = f"in{i}"
            self.printed[v.id] = f"%{(g.input_names or [f'a{i}' for i in range(len(g.inputs))])[i]}"
        for node in (unrolled or g).nodes:
            for v in node.outputs:
                self.printed[v.id] = f"%{len(self.printed) - len(g.inputs)}"
        for v in list(g.inputs) + [out for node in g.nodes for out in node.outputs]:
            if v.dtype not in _NP_TYPE:
                # float16 has no scalar type in numba; numpy's float16 arithmetic (the interpreter)
                # rounds like eager mode, where computing in float32 would not.
                raise Unsupported(f"dtype {v.dtype} (value {self.pname(v)}, shape {list(v.shape)}) has no kernel type")
        self.output_slot = {}
        for k, v in enumerate(g.outputs):
            if v.id not in self.output_slot and v.id not in input_ids and v.const is None:
                self.output_slot[v.id] = k
        self.locals = scalar_locals(g, self.plan)
        self.emit_nodes(g.nodes)
        w = self.w
        w.piece()
        for k, v in enumerate(g.outputs):
            if v.const is not None and v.const.size == 1:
                w.line(f"out{k}[0] = {_literal(v.const.reshape(-1)[0], v.dtype)}", f"return value {k}")
                continue
            src = self.array(v)
            if src != f"out{k}":
                w.line(f"out{k}[:] = {src}", f"return value {k}")
        return self.finish()

    def emit_nodes(self, nodes: list[Node], pieces: bool = True) -> None:
        """Write the statements of `nodes` (a graph's, or a loop body's) under the current plan; with
        `pieces`, each node or fused loop is a piece of its own (a loop body stays in its loop's)."""
        materialized = self.plan.materialized
        emitted = [n for n in nodes
                   if n.op == GUARD or not (n.op in ELEMENTWISE_INLINE and n.outputs[0].id not in materialized)]
        readers = self.readers
        self.node_by_id = {id(n): n for n in emitted}
        reads: dict[int, set[int]] = {}
        for n in emitted:
            # What a node reads is what its inlined expressions read: a reduction of an
            # inlined value reads that value's stored leaves (missing them once left a
            # value unstored that a later loop needed).
            reads[id(n)] = set().union(*[self.leaves(x) for x in n.inputs])
            for vid in reads[id(n)]:
                readers.setdefault(vid, set()).add(id(n))
        emitted = _guards_first(emitted, reads)
        i = 0
        while i < len(emitted):
            key = self.flat_key(emitted[i]) if emitted[i].op != GUARD else None
            j = i + 1
            if key is not None:
                # A reduction's result is final only after the loop: its readers start a new loop.
                reduced = {emitted[i].outputs[0].id} if emitted[i].op not in ELEMENTWISE_INLINE else set()
                heavy = self.heavy_calls(emitted[i])
                while j < len(emitted) and emitted[j].op != GUARD and self.flat_key(emitted[j]) == key:
                    n = emitted[j]
                    if reduced & set().union(*[self.leaves(x) for x in n.inputs]):
                        break
                    # LLVM stops vectorising a loop that inlines many polynomial functions.
                    heavy += self.heavy_calls(n)
                    if heavy > HEAVY_PER_LOOP:
                        break
                    if n.op not in ELEMENTWISE_INLINE:
                        reduced.add(n.outputs[0].id)
                    j += 1
                if pieces:
                    self.w.piece()
                self.emit_group(emitted[i:j], readers)
            else:
                if pieces:
                    self.w.piece(guard=emitted[i].op == GUARD)
                self.emit(emitted[i])
            i = j

    def finish(self) -> KernelSource:
        g = self.graph
        pieces = [p for p in self.w.pieces if p.body]
        # Arrays arrive flat: reshaping inside the kernel measured 4x slower loops (LLVM
        # vectorised sin over a reshaped view far worse than over the argument itself).
        ins = [f"in{i}" for i in range(len(g.inputs))]
        consts = [f"c{i}" for i in range(len(self.consts))]
        outs = [f"out{k}" for k in range(len(g.outputs))]
        header = ["    status[0] = 0"]
        header += [f"    {name} = D[{k}]" for k, name in enumerate(self.dim_names.values())]
        params = ", ".join(ins + consts + outs + ["D", "status"])
        body = render(pieces)
        signature_text = "\n".join(render(pieces, comments=False)) + params
        digest = hashlib.sha256(signature_text.encode()).hexdigest()[:16]
        entry = f"kernel_{digest}"
        runtime = sorted(self.runtime)
        lines = [
            f'"""Generated by tracegrad from graph {g.name!r}; edit the Python, not this file."""',
            "import numpy as np",
            "from numba import njit",
        ]
        if runtime:
            lines.append(f"from tracegrad.compiler.runtime import {', '.join(runtime)}")
        if self.embedded:
            lines += [""] + self.embedded
        flags = f"{{{', '.join(repr(f) for f in sorted(_FASTMATH))}}}" if _FASTMATH else "False"
        decorator = f"@njit(cache=True, fastmath={flags}, error_model='numpy', nogil=True)"
        if len(body) <= CHUNK_LINES or len(pieces) < 2:
            lines += ["", "", decorator, f"def {entry}({params}):"] + header + body
        else:
            lines += self.chunked(pieces, entry, params, header, decorator)
        source = "\n".join(lines) + "\n"
        return KernelSource(source, entry, self.consts, self.dims, self.dim_values, self.guards, self.index_nodes)

    def chunked(self, pieces: list[Piece], entry: str, params: str, header: list[str], decorator: str) -> list[str]:
        """One numba function per distinct piece and an entry calling them in order.

        numba's type inference grows faster than linearly with a function's
        length, so a long kernel becomes many small functions.  Pieces that
        are the same code up to names (an unrolled loop's steps) share one
        function: each is renamed canonically and compiled once.  Guards stay
        in the entry, a few lines each, so that a failed one returns from it.
        A piece's arguments are the names it reads and does not write; it
        returns the names it writes that a later piece reads that way.
        """
        parsed = [parse_piece(p, self.runtime) for p in pieces]
        arguments = [[n for n in p.read if n not in p.written] for p in parsed]
        read_later: list[set[str]] = [set() for _ in pieces]
        seen: set[str] = set()
        for k in range(len(pieces) - 1, -1, -1):
            read_later[k] = set(seen)
            seen.update(arguments[k])
        functions: dict[str, str] = {}
        lines, calls = [], []
        for k, (piece, code) in enumerate(zip(pieces, parsed)):
            if piece.guard:
                calls += render(piece.body)
                continue
            if not any(code.lines):
                continue  # comments only
            args = arguments[k]
            rets = [n for n in code.written if n in read_later[k]]
            body, params_c, rets_c = canonical(code, args, rets)
            key = "\n".join(body) + "|" + ",".join(rets_c)
            name = functions.get(key)
            if name is None:
                name = functions[key] = f"{entry}_f{len(functions)}"
                lines += ["", "", decorator, f"def {name}({', '.join(params_c)}):"] + body
                if rets_c:
                    lines.append(f"{INDENT}return {', '.join(rets_c)}{',' if len(rets_c) == 1 else ''}")
            comment = first_comment(piece.body)
            call = f"{name}({', '.join(args)})"
            if rets:
                call = f"{', '.join(rets)}{',' if len(rets) == 1 else ''} = {call}"
            calls.append(f"{INDENT}{call}" + (" " * max(2, 60 - len(call)) + "# " + comment if comment else ""))
        lines += ["", "", decorator, f"def {entry}({params}):"] + header + calls
        return lines


#: Ops whose lowering can write a one-element result to a scalar local, and ops whose lowering
#: reads a one-element input from one (see _Gen.at).
_LOCAL_WRITERS = ELEMENTWISE_INLINE | {"sum", "max", "min", "index"}
_LOCAL_READERS = ELEMENTWISE_INLINE | {"sum", "max", "min", "index", "index_add", GUARD}


def scalar_locals(graph: Graph, plan: FusionPlan, keep_outputs: bool = False) -> set[int]:
    """Ids of the stored one-element values of `graph` that live in scalar locals, not arrays.

    A scalar in a one-element array costs an allocation per call and a store and load per use
    (LLVM cannot keep it in a register across the other arrays' stores); a scan of scalars,
    such as an ODE integrator's steps, spent most of its time there.  A value qualifies when
    the lowerings of its producer and of all its readers can use a local; graph outputs are
    written to the caller's arrays (unless `keep_outputs`: a loop body's outputs stay in it).
    """
    fit = {v.id for node in graph.nodes if node.op in _LOCAL_WRITERS or node.op == LOOP
           for v in node.outputs if v.id in plan.materialized and all(n == 1 for n in v.shape)}
    if not keep_outputs:
        fit -= {v.id for v in graph.outputs}
    for node in graph.nodes:
        if node.op == LOOP:
            # The body reads the values from outside directly.
            for inner in node.attrs["loop"].body.nodes:
                if inner.op not in _LOCAL_READERS:
                    fit -= {v.id for v in inner.inputs}
        elif node.op not in _LOCAL_READERS:
            fit -= {v.id for v in node.inputs}
    return fit


def _guards_first(nodes: list[Node], reads: dict[int, set[int]]) -> list[Node]:
    """`nodes` reordered so that each guard comes as soon as the values it checks are computed.

    A failed guard ends the kernel, so work no guard depends on waits until every guard has
    held.  Guards keep their order (the status word numbers them in graph order, and the
    first failing one is the branch a re-trace flips), and none moves before a node that can
    report a bad index, which eager mode raised before reaching the branch.  `reads` maps
    each node's id to the ids of the stored values it reads.
    """
    producer = {v.id: n for n in nodes for v in n.outputs}
    position = {id(n): k for k, n in enumerate(nodes)}
    placed: set[int] = set()
    order: list[Node] = []
    pending: list[Node] = []           # nodes every later guard must follow (bounds checks)
    for n in nodes:
        if n.op in ("index_add", LOOP) or (n.op == "index" and len(n.inputs) > 1):
            pending.append(n)
        if n.op != GUARD:
            continue
        needed: set[int] = set()
        stack = [n] + pending
        while stack:
            m = stack.pop()
            if id(m) in needed or id(m) in placed:
                continue
            needed.add(id(m))
            stack.extend(producer[vid] for vid in reads[id(m)] if vid in producer)
        # Original order is a topological order, and so is any subsequence closed under reads.
        order.extend(nodes[k] for k in sorted(position[i] for i in needed))
        placed |= needed
        pending = []
    order.extend(m for m in nodes if id(m) not in placed)
    return order


#: Weights of ops whose kernel is a polynomial function of vecmath; one fused loop holds at
#: most HEAVY_PER_LOOP, since LLVM gives up vectorising very large loop bodies.  Measured on
#: the elementwise workload (tanh, sin, exp, cos; 1M float32): all four in one loop 5.6 ms,
#: at most two per loop 8.3 ms, sin and cos alone 11.9 ms.
_HEAVY = {name: 1 for name, e in TABLE.items() if getattr(e, "cost", ORDINARY) == HEAVY}
HEAVY_PER_LOOP = 4

#: Attrs whose integers the lowering can compute from a loop's counter (they may advance per iteration).
_COUNTED_ATTRS = {("index", "spec"), ("index_add", "spec")}


def counted_attr(op: str, attr: str) -> bool:
    """True when the integers of `op`'s `attr` may advance with a rolled loop's counter (see compiler.loops)."""
    return (op, attr) in _COUNTED_ATTRS

#: Inlined ops whose text is their operand's (or a cast of it): repeating them costs nothing.
_SPELLED_AS_OPERAND = frozenset({"broadcast", "detach", "cast"})

#: Inlined operations one expression nests before a local is bound (see _Gen.expr); each level
#: adds one to three parentheses, and Python's parser accepts at most 200.
MAX_EXPR_DEPTH = 24

#: Row sums shorter than this add in order (sum_block's vector loop costs more than it saves:
#: rows of 8 float64 were 5x slower through a block, rows of 32 already 1.3x faster).
SHORT_RUN = 32

#: Kernels longer than this many body lines are split into several numba functions.
CHUNK_LINES = 150


def _opt(x) -> str:
    if isinstance(x, Affine):
        return x.text(LOOP_COUNTER)
    return "-9223372036854775807" if x is None else str(int(x))


#: The counter of a rolled loop (no other generated name has this form).
LOOP_COUNTER = "it"


from tracegrad.compiler.runtime import FASTMATH as _FASTMATH  # noqa: E402


def generate(graph: Graph, roll: bool = True) -> KernelSource:
    """Python source of one numba kernel computing `graph` (primitives only; see :func:`fusion.prepare`).

    With `roll`, runs of repeated pieces become loops (:mod:`compiler.loops`).
    """
    rolled = roll_loops(graph, counted_attr) if roll else graph
    return _Gen(rolled).run(graph)


_check_table()
