"""The text form of a :class:`~tracegrad.ir.graph.Graph`: :func:`print_graph` and :func:`parse`.

One statement per line::

    def loss(%x: f32[5], %w: f32[5,3], %b: f32[3], %y: f32[3]) -> (f32[]):
      %0: f32[3] = matmul %x, %w                                  # model.py:12
      %1: f32[3] = add %0, %b                                     # model.py:12
      %2: f32[] = binary_cross_entropy_with_logits[reduction='mean'] %1, %y
      %3: f32[3] = broadcast[shape=(3,)] 2.0:f32                  # model.py:14
      guard %2 == True                                            # model.py:15
      return %2

* Values have no names in memory; printing names inputs ``%a0, %a1, ...``
  (or after ``graph.input_names`` when that is a list of distinct
  identifiers) and node outputs ``%0, %1, ...`` in order of definition.
* ``op[key=value, ...]``: attrs in the op's declared order, each value a
  Python literal (``inf``, ``-inf`` and ``nan`` are allowed as floats).
* Constants are written inline where they are used: ``2.0:f32`` (0-d),
  ``i64[3]{0, 2, 1}`` (up to 8 elements, row-major) or, for larger arrays, a
  summary ``f32[784,512]{sha256:3fa2c91b0e7d}`` (a content hash).  Parsing a
  summary gives a *placeholder*: a constant of the right type whose array is
  all zeros (a read-only broadcast view, so it costs no memory) and whose
  ``note`` slot holds the summary text, so that it prints back identically.
  Such a graph has the original's structure and fingerprint, not its data.
* ``guard %4 == True``: Python read ``%4`` while tracing and saw ``True``.
* ``# file.py:LINE``: where the node came from (``Node.loc``; only the
  basename of the file is printed).

``parse(print_graph(g))`` gives a graph that prints identically and has the
same :meth:`~tracegrad.ir.graph.Graph.fingerprint`.  :func:`parse` trusts the
type annotations; :func:`tracegrad.ir.verify.verify` checks them.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np

from .graph import (
    GUARD,
    PRINTED_IN_FULL,
    Graph,
    Node,
    Rendered,
    Value,
    format_attr,
    format_attrs,
    format_const,
    print_graph,
    render,
    subgraphs,
)
from .types import BOOL, SHORT_TO_DTYPE, TensorType

__all__ = ["print_graph", "parse", "render", "Rendered", "format_const", "format_attr", "format_attrs",
           "PRINTED_IN_FULL", "subgraphs"]

# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

_NAME = r"%(\w+)"
_TYPE_RE = re.compile(r"(\w+)\[([\d,\s]*)\]$")
_SCALAR_RE = re.compile(r"([^\s:%\[\]{}]+):(\w+)$")
_ARRAY_RE = re.compile(r"(\w+\[[\d,\s]*\])\{(.*)\}$", re.S)
_SUMMARY_RE = re.compile(r"sha256:([0-9a-f]+)$")
_HEADER_RE = re.compile(r"def\s+([^\s(]+)\((.*)\)\s*->\s*\((.*)\)\s*:$")
_DECL_RE = re.compile(_NAME + r"\s*:\s*(.+)$")
_OP_RE = re.compile(r"([A-Za-z_]\w*)")
_LOC_RE = re.compile(r"(.+):(\d+)$")
_LITERAL_NAMES = {"inf": math.inf, "nan": math.nan}


def _scan(s: str):
    """Yield ``(index, char, depth)`` for the characters of `s` outside string literals.

    `depth` counts open brackets of any kind, so callers can find top-level
    commas and matching brackets without being fooled by ``reduction=']'``.
    """
    depth, quote, i = 0, None, 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        else:
            if c in ")]}":
                depth -= 1
            yield i, c, depth
            if c in "([{":
                depth += 1
        i += 1


def _strip_comment(s: str) -> tuple[str, str | None]:
    for i, c, _ in _scan(s):
        if c == "#":
            return s[:i].rstrip(), s[i + 1:].strip()
    return s.rstrip(), None


def _split_top(s: str) -> list[str]:
    """Split at commas outside brackets and strings; '' gives []."""
    parts, last = [], 0
    for i, c, depth in _scan(s):
        if c == "," and depth == 0:
            parts.append(s[last:i].strip())
            last = i + 1
    parts.append(s[last:].strip())
    if parts == [""]:
        return []
    if "" in parts:
        raise ValueError("empty item in a comma-separated list")
    return parts


def _literal(node: ast.AST):
    """ast.literal_eval, plus the names ``inf`` and ``nan`` that float repr produces."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = _literal(node.operand)
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.Tuple):
        return tuple(map(_literal, node.elts))
    if isinstance(node, ast.List):
        return list(map(_literal, node.elts))
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    raise ValueError(f"not a literal: {ast.unparse(node)}")


def _parse_literal(text: str):
    return _literal(ast.parse(text.strip(), mode="eval").body)


_GRAPH_REF_RE = re.compile(r"=\s*@([A-Za-z_]\w*)")


def _parse_attrs(text: str) -> dict:
    # `key=value, ...` is exactly the keyword part of a Python call; `@name` sub-graph
    # references are read as strings and resolved once every graph is parsed.
    text = _GRAPH_REF_RE.sub(lambda m: f"='@{m.group(1)}'", text)
    call = ast.parse(f"_({text})", mode="eval").body
    if call.args or any(k.arg is None for k in call.keywords):
        raise ValueError(f"attrs must be key=value pairs: [{text}]")
    return {k.arg: _literal(k.value) for k in call.keywords}


def _parse_type(text: str) -> TensorType:
    m = _TYPE_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a type: {text.strip()!r}")
    if m.group(1) not in SHORT_TO_DTYPE:
        raise ValueError(f"unknown dtype {m.group(1)!r}")
    dims = m.group(2).replace(" ", "")
    return TensorType(SHORT_TO_DTYPE[m.group(1)], tuple(int(d) for d in dims.split(",")) if dims else ())


def _parse_scalar(text: str, dtype: np.dtype):
    if dtype == BOOL:
        if text not in ("True", "False"):
            raise ValueError(f"not a bool: {text!r}")
        return text == "True"
    # float() reads inf/nan and exponents; numpy then rounds once to the dtype,
    # which gives back exactly the value whose shortest repr was printed.
    return float(text) if dtype.kind == "f" else int(text)


def _const(type: TensorType, arr: np.ndarray, note: str | None = None) -> Value:
    arr.setflags(write=False)
    v = Value(type, const=arr)
    if note is not None:
        v.note = note
    return v


def _parse_operand(text: str, env: dict[str, Value]) -> Value:
    if text.startswith("%"):
        m = re.fullmatch(_NAME, text)
        if not m:
            raise ValueError(f"bad value name {text!r}")
        if m.group(1) not in env:
            raise ValueError(f"undefined value {text}")
        return env[m.group(1)]
    m = _SCALAR_RE.match(text)
    if m:
        t = _parse_type(f"{m.group(2)}[]")
        return _const(t, np.array(_parse_scalar(m.group(1), t.dtype), dtype=t.dtype))
    m = _ARRAY_RE.match(text)
    if not m:
        raise ValueError(f"not a value or constant: {text!r}")
    t = _parse_type(m.group(1))
    body = m.group(2).strip()
    if _SUMMARY_RE.match(body):
        # A summarised large constant: zeros of the right type stand in for the data.
        return _const(t, np.broadcast_to(np.zeros((), t.dtype), t.shape), note=f"{t!r}{{{body}}}")
    items = [_parse_scalar(x, t.dtype) for x in _split_top(body)]
    if len(items) != math.prod(t.shape):
        raise ValueError(f"{t!r} needs {math.prod(t.shape)} elements, got {len(items)}")
    return _const(t, np.array(items, dtype=t.dtype).reshape(t.shape))


def _parse_decls(text: str) -> list[tuple[str, TensorType]]:
    out = []
    for item in _split_top(text):
        m = _DECL_RE.fullmatch(item)
        if not m:
            raise ValueError(f"expected '%name: type', got {item!r}")
        out.append((m.group(1), _parse_type(m.group(2))))
    return out


def _define(env: dict[str, Value], name: str, v: Value) -> None:
    if name in env:
        raise ValueError(f"value %{name} is defined twice")
    env[name] = v


def _parse_loc(comment: str | None) -> tuple[str, int] | None:
    if comment is None:
        return None
    m = _LOC_RE.match(comment)
    if not m:
        raise ValueError(f"a node's comment must be its location 'file.py:LINE', got {comment!r}")
    return m.group(1), int(m.group(2))


def _parse_node(code: str, comment: str | None, env: dict[str, Value]) -> Node:
    decls = []
    if code.startswith("%"):
        if "=" not in code:
            raise ValueError("expected '%name: type = op operands'")
        lhs, code = code.split("=", 1)  # declarations hold no '=', so this is the assignment
        decls = _parse_decls(lhs)
        code = code.strip()
    m = _OP_RE.match(code)
    if not m:
        raise ValueError("expected an op name")
    op, rest = m.group(1), code[m.end():]
    attrs = {}
    if rest.startswith("["):
        end = next((i for i, c, d in _scan(rest) if c == "]" and d == 0), None)
        if end is None:
            raise ValueError("unclosed '[' of the attrs")
        attrs, rest = _parse_attrs(rest[1:end]), rest[end + 1:]
    if rest and not rest[0].isspace():
        raise ValueError(f"expected a space after {op!r}")
    if op == GUARD and "==" in rest:
        rest, expected = rest.split("==", 1)
        attrs["expected"] = _parse_literal(expected)
    inputs = [_parse_operand(x, env) for x in _split_top(rest)]
    node = Node(op, inputs, attrs, loc=_parse_loc(comment))
    for name, t in decls:
        v = Value(t, node)
        node.outputs.append(v)
        _define(env, name, v)
    return node


def parse(text: str) -> Graph:
    """Read the text form back into a Graph of fresh Values (sub-graphs included).

    Raises ValueError naming the line number and the offending line.
    """
    blocks: list[list[tuple[int, str]]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("def ") or not blocks:
            blocks.append([])
        blocks[-1].append((lineno, line))
    if not blocks:
        raise ValueError("line 0: missing header")
    graphs = [_parse_block(b) for b in blocks]
    by_name = {g.name: g for g in graphs[1:]}
    for g in graphs:
        for node in g.nodes:
            for key, value in node.attrs.items():
                if isinstance(value, str) and value.startswith("@"):
                    if value[1:] not in by_name:
                        raise ValueError(f"attr {key} refers to graph {value}, which the text does not define")
                    node.attrs[key] = by_name[value[1:]]
    return graphs[0]


def _parse_block(numbered_lines: list[tuple[int, str]]) -> Graph:
    graph, env = None, {}
    out_types = None
    returned = False
    for lineno, line in numbered_lines:
        code, comment = _strip_comment(line)
        code = code.strip()
        if not code:
            continue  # blank or comment-only line
        try:
            if returned:
                raise ValueError("text after 'return'")
            if graph is None:
                m = _HEADER_RE.match(code)
                if not m:
                    raise ValueError("expected 'def NAME(%in: type, ...) -> (type, ...):'")
                graph = Graph(name=m.group(1))
                decls = _parse_decls(m.group(2))
                for name, t in decls:
                    v = Value(t)
                    _define(env, name, v)
                    graph.inputs.append(v)
                graph.input_names = [name for name, _ in decls]
                out_types = [_parse_type(t) for t in _split_top(m.group(3))]
            elif code == "return" or code.startswith("return "):
                graph.outputs = [_parse_operand(x, env) for x in _split_top(code[len("return"):])]
                got = [v.type for v in graph.outputs]
                if got != out_types:
                    raise ValueError(f"returns {got}, but the header declares {out_types}")
                returned = True
            else:
                graph.nodes.append(_parse_node(code, comment, env))
        except (ValueError, SyntaxError, OverflowError) as e:
            msg = e.msg if isinstance(e, SyntaxError) else str(e)
            raise ValueError(f"line {lineno}: {msg}\n    {line.strip()}") from None
    if graph is None or not returned:
        lineno, line = numbered_lines[-1]
        raise ValueError(f"line {lineno}: missing {'header' if graph is None else 'return'}\n    {line.strip()}")
    return graph
