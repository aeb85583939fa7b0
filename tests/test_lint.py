"""The code passes the project's ruff configuration (``[tool.ruff]`` in pyproject.toml).

Lint runs as a test so that CI, which runs exactly the README's test
command, fails on a lint error like on any other failure.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_passes():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
