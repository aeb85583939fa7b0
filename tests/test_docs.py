"""docs/ops.md is generated from the op table and must not fall behind it."""

from pathlib import Path

from tracegrad.ir.ops import TABLE
from tracegrad.ir.reference import render_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"


def test_ops_reference_is_current():
    assert DOC.read_text() == render_reference(), (
        "docs/ops.md is stale: regenerate it with `python -m tracegrad.ir.reference > docs/ops.md`")


def test_every_entry_is_documented():
    text = DOC.read_text()
    for name in TABLE:
        assert f"| `{name}` |" in text, name
