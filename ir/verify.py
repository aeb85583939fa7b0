"""The IR verifier: the invariants every pass may rely on, checked on demand.

:func:`verify` checks that a graph is well-formed SSA in execution order and
that every node's stored type is what its op's type rule gives, and that
elementwise nodes see operands of one shape (broadcasting is always an
explicit ``broadcast`` node) and one dtype (promotion is an explicit
``cast``).  It raises :class:`VerifyError` on the first violation, showing
the printed graph around the offending line::

    %1 is used before it is defined (on line 3)
       1 | def f(%a0: f32[3]) -> (f32[3]):
    >> 2 |   %0: f32[3] = neg %1
       3 |   %1: f32[3] = exp %a0
       4 |   return %0

Line numbers are those :func:`~tracegrad.ir.text.parse` reports for the same text.
"""

from __future__ import annotations

from .graph import GUARD, Graph, Node, composite_type
from .ops import TABLE, Composite
from .text import Rendered, render

__all__ = ["verify", "VerifyError"]

#: Lines of context printed before and after the offending line.
CONTEXT = 3


class VerifyError(ValueError):
    """A graph breaks an IR invariant.

    `value` is the printed name of the offending value (``%3``) and `line`
    the 1-based line of the printed graph where it shows.
    """

    def __init__(self, message: str, value: str | None = None, line: int | None = None):
        super().__init__(message)
        self.value = value
        self.line = line


def verify(graph: Graph) -> None:
    """Check `graph`'s invariants; raise :class:`VerifyError` on the first violation."""
    # Printing a graph costs more than checking it: print only to explain a problem found.
    unprinted = Rendered([], {}, list(range(1, len(graph.nodes) + 1)))
    if _first_problem(graph, unprinted) is None:
        return
    r = render(graph)
    problem = _first_problem(graph, r)
    if problem is not None:
        line, value, what = problem
        raise VerifyError(f"{what}\n{_context(r.lines, line)}", value, line + 1)


def _context(lines: list[str], bad: int) -> str:
    lo, hi = max(0, bad - CONTEXT), min(len(lines), bad + CONTEXT + 1)
    width = len(str(hi))
    return "\n".join(f"{'>>' if i == bad else '  '} {i + 1:>{width}} | {lines[i]}" for i in range(lo, hi))


def _first_problem(graph: Graph, r: Rendered) -> tuple[int, str, str] | None:
    """(line index, value name, message) of the first violation, in text order."""
    # Where each value is defined: line 0 for inputs, else its node's line.
    defined: dict[int, int] = {}
    for v in graph.inputs:
        if v.id in defined:
            return 0, r.ref(v), f"{r.ref(v)} is defined twice: it appears twice among the inputs"
        defined[v.id] = 0

    for i, node in enumerate(graph.nodes):
        line = r.node_lines[i]
        for v in node.inputs:
            if v.const is None and v.id not in defined:
                later = {out.id: r.node_lines[j] for j, n in enumerate(graph.nodes) for out in n.outputs}
                what = (f"is used before it is defined (on line {later[v.id] + 1})" if v.id in later
                        else "is used but nothing defines it (not an input, constant or node output)")
                return line, r.ref(v), f"{r.ref(v)} {what}"
        for v in node.outputs:
            if v.id in defined:
                first = "as an input" if defined[v.id] == 0 else f"on line {defined[v.id] + 1}"
                return line, r.ref(v), f"{r.ref(v)} is defined twice (first {first})"
            defined[v.id] = line
        what = _check_node(node, r)
        if what is not None:
            return (line, *what)

    for v in graph.outputs:
        if v.const is None and v.id not in defined:
            return len(r.lines) - 1, r.ref(v), f"{r.ref(v)} is returned but nothing defines it"
    return None


def _types(types) -> str:
    return ", ".join(map(repr, types))


def _all_equal(types) -> bool:
    first = types[0]
    for t in types:
        if t != first:
            return False
    return True


def _check_node(node: Node, r: Rendered) -> tuple[str, str] | None:
    """(value name, message) of what is wrong with one node taken alone
    (definitions are checked by the caller)."""
    if node.op == GUARD:
        name = r.ref(node.inputs[0]) if node.inputs else "guard"
        if len(node.inputs) != 1:
            return name, f"guard of {name} reads {len(node.inputs)} values; a guard reads exactly one"
        if node.outputs:
            return name, f"guard of {name} defines {r.ref(node.outputs[0])}; guards define nothing"
        return None
    name = r.ref(node.outputs[0]) if node.outputs else node.op
    entry = TABLE.get(node.op)
    if entry is None:
        return name, f"{name} is defined by unknown op {node.op!r} (neither in the op table nor 'guard')"
    if len(node.outputs) != 1:
        return name, f"{node.op} defines {len(node.outputs)} values, not exactly one"
    if entry.arity is not None and len(node.inputs) != entry.arity:
        return name, f"{name} = {node.op} of {len(node.inputs)} inputs; {node.op} takes {entry.arity}"
    in_types = [v.type for v in node.inputs]
    if entry.kind == "elementwise" and in_types and not _all_equal(in_types):
        # The builder makes broadcasting and promotion explicit, so codegen can
        # index every operand of an elementwise kernel the same way.
        if len({t.shape for t in in_types}) > 1:
            return name, (f"{name} = {node.op} of operands of different shapes ({_types(in_types)}): "
                          f"elementwise ops need an explicit broadcast")
        idxs = entry.promote_args if entry.promote_args is not None else range(len(in_types))
        if len({in_types[j].dtype for j in idxs}) > 1:
            return name, (f"{name} = {node.op} of operands of different dtypes ({_types(in_types)}): "
                          f"elementwise ops need an explicit cast")
    try:
        if isinstance(entry, Composite):
            expected = composite_type(entry, in_types, node.attrs)
        else:
            expected = entry.infer(in_types, node.attrs)
    except Exception as e:  # any rejection by a type rule (ShapeError, IndexError, TypeError for bad attrs)
        return name, f"{name} = {node.op} of ({_types(in_types)}), which its type rule rejects: {e}"
    got = node.outputs[0].type
    if got != expected:
        return name, f"{name} has type {got!r}, but {node.op} of ({_types(in_types)}) gives {expected!r}"
    return None
