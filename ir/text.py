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
import hashlib
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .graph import GUARD, Graph, Node, Value
from .ops import TABLE
from .types import BOOL, DTYPE_TO_SHORT, SHORT_TO_DTYPE, TensorType

__all__ = ["print_graph", "parse", "render", "Rendered", "format_const", "format_attr", "format_attrs",
           "PRINTED_IN_FULL", "subgraphs"]

#: Constants with at most this many elements are printed in full (larger ones as a digest).
PRINTED_IN_FULL = 8
#: Location comments start at this column (or two spaces after a longer line).
COMMENT_COLUMN = 60
_INDENT = "  "


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

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
