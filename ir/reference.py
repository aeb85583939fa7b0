"""The op reference (``docs/ops.md``), generated from the op table.

    python -m tracegrad.ir.reference > docs/ops.md

``tests/test_docs.py`` fails when the committed file differs from what this
prints, so the reference cannot fall behind the table.
"""

from __future__ import annotations

import inspect

from .ops import COMPOSITES, OPS, Composite

__all__ = ["render_reference"]


def _saves(entry) -> str:
    return ", ".join("out" if s == "out" else ("inputs 1.." if s == "rest" else
                                              ("all inputs" if s == "all" else f"input {s}"))
                     for s in entry.saves) or "nothing"


def _node_name(entry) -> str:
    if callable(entry.node_name):
        return inspect.getdoc(entry.node_name) or "depends on the call"
    return f"`{entry.node_name}`"


def render_reference() -> str:
    """Markdown for every primitive and composite of the op table."""
    lines = ["# Op reference", "",
             "Generated from `ir/ops.py` by `python -m tracegrad.ir.reference`; do not edit by hand.", "",
             "## Primitives", "",
             "| op | inputs | attrs | kind | dtype rule | vjp reads | PyTorch node | kernel | batched | what |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(OPS):
        e = OPS[name]
        arity = "any" if e.arity is None else str(e.arity)
        attrs = ", ".join(e.attrs) or "-"
        vjp = _saves(e) if e.vjp is not None else "no gradient"
        kernel = f"`{e.kernel}`" if e.kernel else "-"
        batched = (inspect.getdoc(e.batch) or "-").splitlines()[0] if e.batch else "no rule"
        lines.append(f"| `{name}` | {arity} | {attrs} | {e.kind} | {e.promote} | {vjp} | {_node_name(e)} | "
                     f"{kernel.replace('|', chr(92) + '|')} | {batched} | {e.doc} |")
    lines += ["", "## Composites", "",
              "Written with primitives (`decompose`); a closed-form vjp where listed.  Batched through their",
              "decomposition.", "",
              "| op | inputs | attrs | closed-form vjp | fused eager version | PyTorch node | what |",
              "|---|---|---|---|---|---|---|"]
    for name in sorted(COMPOSITES):
        e: Composite = COMPOSITES[name]
        arity = "any" if e.arity is None else str(e.arity)
        lines.append(f"| `{name}` | {arity} | {', '.join(e.attrs) or '-'} | "
                     f"{'yes, reads ' + _saves(e) if e.vjp else 'no (gradient of the decomposition)'} | "
                     f"{'yes' if e.fused else 'no'} | {_node_name(e)} | {e.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
