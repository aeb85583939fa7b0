"""Short PyTorch programs, run with ``torch`` standing for ``tracegrad``, print what PyTorch printed.

Each ``tests/compat/NAME.py`` is a program written for PyTorch (``import torch``), and
``NAME.expected`` is its output under PyTorch 2.13 (captured once with real PyTorch, which is
not a test dependency).  Here ``torch`` and its submodules are tracegrad's, and the output
must be the same text.  A new case is a new pair of files.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import sys
import warnings
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parent / "compat"
PROGRAMS = sorted(CASES.glob("*.py"))


def _as_torch(monkeypatch) -> None:
    """Make ``import torch`` (and ``torch.nn.functional`` ...) import tracegrad's modules, for this test only."""
    import tracegrad.nn.functional  # every submodule a program may import is loaded, so has its alias
    monkeypatch.setitem(sys.modules, "torch", tracegrad)
    for name, module in list(sys.modules.items()):
        if name.startswith("tracegrad."):
            monkeypatch.setitem(sys.modules, "torch." + name[len("tracegrad."):], module)


def _without_addresses(text: str) -> str:
    """`text` with object addresses (``<AddBackward0 object at 0x7f...>``) made equal: they differ per run."""
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", text)


def test_every_program_has_its_expected_output():
    missing = [p.name for p in PROGRAMS if not p.with_suffix(".expected").exists()]
    assert PROGRAMS and not missing, f"no PyTorch output captured for {missing}"


@contextlib.contextmanager
def _process_state_kept():
    """Print options, the default dtype and the warning filters as they were: programs run in this process."""
    import tracegrad
    options, dtype = tracegrad.get_printoptions(), tracegrad.get_default_dtype()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        tracegrad.set_printoptions(**options)
        tracegrad.set_default_dtype(dtype)


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program_prints_what_pytorch_printed(program, monkeypatch):
    _as_torch(monkeypatch)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), _process_state_kept():
        runpy.run_path(str(program), run_name="__main__")
    expected = _without_addresses(program.with_suffix(".expected").read_text())
    got = _without_addresses(out.getvalue())
    assert got == expected, (
        f"{program.name} printed something else than PyTorch:\n--- PyTorch\n{expected}\n--- tracegrad\n{got}")
