"""The loop IR a kernel is scheduled into, and its printer.

The code generator (:mod:`compiler.codegen`) does not write text line by
line: it builds a tree of a few statement kinds, printed once at the end.

* :class:`Stmt`: one simple Python statement (an assignment, a call, a
  ``return``), with the comment that says which SSA value and source line
  it computes;
* :class:`Note`: a comment line of its own;
* :class:`Alloc`: a temporary array (``np.empty``);
* :class:`Loop`: ``for var in range(bounds)`` and its body;
* :class:`Branch`: ``if``/``elif``/``else`` and its body;
* :class:`Piece`: the statements one graph node (or one fused loop) emits.

A kernel is a list of pieces.  A long kernel is split at piece boundaries
into several numba functions (``codegen._Gen.chunked``); which names a
piece reads from outside and which it hands on is found by Python's own
parser over the printed piece (:func:`parse_piece`), not by patterns over
the text, and a piece is renamed canonically at the positions the parser
reports (:func:`canonical`), so that pieces equal up to names share one
function.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

__all__ = ["Stmt", "Note", "Alloc", "Loop", "Branch", "Piece", "Writer", "render", "first_comment",
           "ParsedPiece", "parse_piece", "canonical", "INDENT"]

INDENT = "    "
#: Column where a statement's comment starts (when the code is shorter).
COMMENT_COLUMN = 64


@dataclass
class Stmt:
    """One simple statement."""

    code: str
    comment: str | None = None


@dataclass
class Note:
    """A comment on a line of its own (a node that needs no code, or a loop's summary)."""

    text: str


@dataclass
class Alloc:
    """A temporary array of `size` elements (an expression over extents) of numpy type `dtype`."""

    name: str
    size: str
    dtype: str
    comment: str | None = None

    @property
    def code(self) -> str:
        return f"{self.name} = np.empty({self.size}, dtype={self.dtype})"


@dataclass
class Loop:
    """``for var in range(bounds)``: `bounds` is the text of range's arguments."""

    var: str
    bounds: str
    body: list = field(default_factory=list)
    comment: str | None = None

    @property
    def header(self) -> str:
        return f"for {self.var} in range({self.bounds}):"


@dataclass
class Branch:
    """``if condition:``, ``elif condition:`` or ``else:`` (`keyword` and `condition`) and its body."""

    keyword: str
    condition: str = ""
    body: list = field(default_factory=list)
    comment: str | None = None

    @property
    def header(self) -> str:
        return f"{self.keyword} {self.condition}:" if self.condition else f"{self.keyword}:"


@dataclass
class Piece:
    """The statements of one node or fused loop; a `guard` piece may return from the kernel."""

    body: list = field(default_factory=list)
    guard: bool = False


def _line(code: str, comment: str | None, depth: int, comments: bool) -> str:
    text = INDENT * depth + code
    if comment and comments:
        text += " " * max(2, COMMENT_COLUMN - len(text)) + "# " + comment
    return text


def render(statements: list, depth: int = 1, comments: bool = True) -> list[str]:
    """The source lines of `statements` at indentation `depth`.

    Without `comments`, a note prints as an empty line, so line numbers do not move.
    """
    lines: list[str] = []
    for s in statements:
        if isinstance(s, Piece):
            lines += render(s.body, depth, comments)
        elif isinstance(s, Note):
            lines.append(INDENT * depth + "# " + s.text if comments else "")
        elif isinstance(s, (Loop, Branch)):
            lines.append(_line(s.header, s.comment, depth, comments))
            lines += render(s.body, depth + 1, comments)
        else:
            lines.append(_line(s.code, s.comment, depth, comments))
    return lines


def first_comment(statements: list) -> str:
    """The first comment of `statements`, in print order ('' when there is none)."""
    for s in statements:
        if isinstance(s, Piece):
            found = first_comment(s.body)
        elif isinstance(s, Note):
            found = s.text
        else:
            found = s.comment or (first_comment(s.body) if isinstance(s, (Loop, Branch)) else "")
        if found:
            return found
    return ""


class Writer:
    """Builds the statement tree: statements go into the innermost open loop or branch."""

    def __init__(self):
        self.pieces: list[Piece] = [Piece()]
        self._open: list[list] = [self.pieces[0].body]

    @property
    def current(self) -> list:
        """The statement list being written (an open loop's or branch's body, or the piece)."""
        return self._open[-1]

    def piece(self, guard: bool = False) -> None:
        """Start the next piece (only at the top level: a loop's body stays in its piece)."""
        if len(self._open) != 1:
            raise RuntimeError("a piece starts inside an open loop or branch")
        if not self.pieces[-1].body:
            self.pieces.pop()
        self.pieces.append(Piece(guard=guard))
        self._open = [self.pieces[-1].body]

    def line(self, code: str, comment: str | None = None) -> None:
        self.current.append(Stmt(code, comment))

    def note(self, text: str) -> None:
        self.current.append(Note(text))

    def alloc(self, name: str, size: str, dtype: str, comment: str | None = None) -> None:
        self.current.append(Alloc(name, size, dtype, comment))

    def loop(self, var: str, bounds: str, comment: str | None = None) -> None:
        """Open ``for var in range(bounds)``; statements go into its body until :meth:`end`."""
        self._enter(Loop(var, bounds, comment=comment))

    def branch(self, keyword: str, condition: str = "", comment: str | None = None) -> None:
        """Open an ``if``/``elif``/``else`` body until :meth:`end`."""
        self._enter(Branch(keyword, condition, comment=comment))

    def _enter(self, compound) -> None:
        self.current.append(compound)
        self._open.append(compound.body)

    def end(self) -> None:
        """Close the innermost open loop or branch."""
        if len(self._open) == 1:
            raise RuntimeError("no loop or branch is open")
        self._open.pop()


#: Names a generated module defines for every function (``np``) or Python does (``range``, ``min``).
_MODULE_NAMES = frozenset(dir(builtins)) | {"np"}


@dataclass
class ParsedPiece:
    """A piece's code lines (no indent, no comments), the name nodes Python's parser found in them,
    in source order, and the names the piece reads and writes (module globals left out)."""

    lines: list[str]
    names: list[ast.Name]
    read: list[str]
    written: list[str]


def parse_piece(piece: Piece, module_names: set[str]) -> ParsedPiece:
    """Parse a piece's printed code and find its names; `module_names` are the generated module's own
    globals (its runtime imports), which, like ``np`` and builtins, are neither read nor written here.
    A name the piece reads and never writes comes from outside it."""
    lines = render(piece.body, depth=0, comments=False)
    tree = ast.parse("\n".join(lines))
    nodes: list[ast.Name] = []
    updated: set[int] = set()  # ``x += 1`` reads x too
    for n in ast.walk(tree):
        if type(n) is ast.Name:
            nodes.append(n)
        elif type(n) is ast.AugAssign:
            updated.add(id(n.target))
    nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    outside = _MODULE_NAMES | set(module_names)
    read: dict[str, None] = {}
    written: dict[str, None] = {}
    for n in nodes:
        if n.id in outside:
            continue
        if not isinstance(n.ctx, ast.Store) or id(n) in updated:
            read.setdefault(n.id)
        if isinstance(n.ctx, ast.Store):
            written.setdefault(n.id)
    return ParsedPiece(lines, [n for n in nodes if n.id not in outside], list(read), list(written))


def canonical(parsed: ParsedPiece, args: list[str], returned: list[str]):
    """A piece's code with its arguments named ``p0, p1, ...`` and its other names ``v0, v1, ...`` in
    order of appearance, so that pieces equal up to names become the same text.  Names are replaced
    where the parser found them (never inside an attribute or a keyword).  Returns the body lines
    (one indent, empty lines dropped), the parameters and the names of the `returned` values."""
    mapping = {a: f"p{k}" for k, a in enumerate(args)}
    for n in parsed.names:
        if n.id not in mapping:
            mapping[n.id] = f"v{len(mapping) - len(args)}"
    by_line: dict[int, list[ast.Name]] = {}
    for n in parsed.names:
        by_line.setdefault(n.lineno, []).append(n)
    body = []
    for number, line in enumerate(parsed.lines, start=1):
        if not line:
            continue
        text = line.encode()  # the parser's columns count bytes
        for n in reversed(by_line.get(number, ())):
            text = text[:n.col_offset] + mapping[n.id].encode() + text[n.end_col_offset:]
        body.append(INDENT + text.decode())
    return body, [mapping[a] for a in args], [mapping[r] for r in returned]
