"""Graphviz DOT text for a graph (``dot -Tsvg``); no graphviz dependency.

Inputs are blue "house" shapes, constants grey notes, ops boxes labelled like
their text line (``%2 = add`` over the type), guards red octagons reached by
dashed edges, and a final ``return`` node collects the outputs.  Edges into
an op with several operands carry the operand position, since ``sub %a, %b``
and ``sub %b, %a`` differ.
"""

from __future__ import annotations

from .graph import GUARD, Graph, Value
from .text import format_attr, format_attrs, format_const, render

__all__ = ["to_dot"]


def _q(s: str) -> str:
    """A DOT quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """The DOT source of `graph`: one DOT node per input, constant, op and guard, plus ``return``."""
    r = render(graph)
    lines = [f"digraph {_q(graph.name)} {{",
             '  node [shape=box, fontname="monospace", fontsize=10];',
             '  edge [fontsize=8];']
    dot_id: dict[int, str] = {}  # Value.id -> id of the DOT node that produces it
    n_consts = 0

    def source(v: Value) -> str:
        nonlocal n_consts
        if v.id not in dot_id and v.const is not None:
            # One DOT node per constant Value (printed inline in the text form).
            dot_id[v.id] = f"const{n_consts}"
            n_consts += 1
            lines.append(f"  {_q(dot_id[v.id])} [shape=note, color=gray50, label={_q(format_const(v))}];")
        return dot_id.get(v.id, r.ref(v))

    def edges(node_id: str, inputs: list[Value], style: str = "") -> None:
        for k, v in enumerate(inputs):
            attrs = [f"label={_q(str(k))}"] if len(inputs) > 1 else []
            attrs += [style] if style else []
            lines.append(f"  {_q(source(v))} -> {_q(node_id)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")

    for v in graph.inputs:
        name = dot_id[v.id] = r.names[v.id]
        label = _q(f"{name}\n{v.type!r}")
        lines.append(f'  {_q(name)} [shape=invhouse, style=filled, fillcolor="#dbe9f6", label={label}];')
    for i, node in enumerate(graph.nodes):
        if node.op == GUARD:
            node_id = f"guard{i}"
            label = "guard" + (f" == {format_attr(node.attrs['expected'])}" if "expected" in node.attrs else "")
            lines.append(f"  {_q(node_id)} [shape=octagon, color=red, fontcolor=red, label={_q(label)}];")
            edges(node_id, node.inputs, "style=dashed, color=red")
            continue
        names = ", ".join(r.names[v.id] for v in node.outputs)
        node_id = r.names[node.outputs[0].id] if node.outputs else f"node{i}"
        types = ", ".join(repr(v.type) for v in node.outputs)
        label = f"{names} = {node.op}{format_attrs(node.op, node.attrs)}\n{types}"
        lines.append(f"  {_q(node_id)} [label={_q(label)}];")
        edges(node_id, node.inputs)
        for v in node.outputs:
            dot_id.setdefault(v.id, node_id)
    lines.append('  "return" [shape=house, style=filled, fillcolor="#e5f5e0"];')
    edges("return", graph.outputs)
    lines.append("}")
    return "\n".join(lines) + "\n"
