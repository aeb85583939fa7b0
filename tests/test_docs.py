"""docs/ops.md is generated from the op table and must not fall behind it; the README's examples run."""

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


def test_the_readme_examples_run():
    """The README's Python examples, as written, in one namespace (each block after the ones before)."""
    import contextlib
    import io
    import re
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["loss"].item() < 0.6  # the training-step example learned its batch (ln 3 = 1.1 at chance)
