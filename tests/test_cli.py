"""The command line: dump, cache, and one-line errors with exit status 2."""

import sys

import numpy as np
import pytest

from tracegrad.__main__ import main, parse_arg_types

MODEL = """
import tracegrad as tg

def loss(x, w):
    return tg.tanh(x @ w).sum()

def forward(x):
    return x * 2.0
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_dump_prints_ir_and_kernel_with_user_lines(model, capsys):
    assert main(["dump", f"{model}:loss", "--args", "x=f32[4,5],w=f32[5,3]", "--argnums", "1"]) == 0
    out = capsys.readouterr().out
    assert "=== forward IR" in out and "=== compiled IR" in out and "=== kernel (graph)" in out
    assert "tanh" in out and "model.py:5" in out and "def kernel_" in out


def test_dump_of_a_non_scalar_function_shows_the_forward(model, capsys):
    assert main(["dump", f"{model}:forward", "--args", "x=f64[3]"]) == 0
    out = capsys.readouterr().out
    assert "does not return a scalar" in out and "mul" in out


def test_dump_writes_dot_files(model, tmp_path, capsys):
    out_dir = tmp_path / "dots"
    assert main(["dump", f"{model}:loss", "--args", "x=f64[2,2],w=f64[2,2]", "--dot", "--out", str(out_dir)]) == 0
    files = sorted(p.name for p in out_dir.iterdir())
    assert files and all(f.endswith(".dot") for f in files)
    assert "digraph" in (out_dir / files[0]).read_text()


@pytest.mark.parametrize("argv, message", [
    (["dump", "nofile.py:f", "--args", "x=f32[2]"], "no such file"),
    (["dump", "MODEL:nothere", "--args", "x=f32[2]"], "defines no 'nothere'"),
    (["dump", "MODEL:loss", "--args", "x=q9[2]"], "bad argument type"),
    (["dump", "justafile", "--args", "x=f32[2]"], "expected FILE.py:FUNC"),
])
def test_bad_arguments_give_one_line_and_status_2(model, capsys, argv, message):
    argv = [a.replace("MODEL", str(model)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("tracegrad dump:")


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "kc"))
    assert main(["cache", "info"]) == 0
    assert "disk cache:" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "cleared" in capsys.readouterr().out


def test_argument_types_are_parsed():
    values = parse_arg_types("x=f32[4,5], n=i64[], m=bool[3]")
    assert values["x"].shape == (4, 5) and values["x"].dtype == np.float32
    assert values["n"].shape == () and values["n"].dtype == np.int64
    assert values["m"].dtype == np.bool_


def test_bench_runs_a_workload_and_writes_json(tmp_path, capsys):
    import json
    out = tmp_path / "bench.json"
    assert main(["bench", "seed", "--no-first-call", "--json", str(out), "--png", str(tmp_path / "bench.png")]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["workload", "compiled", "eager", "numpy"]
    result = json.loads(out.read_text())["seed"]
    assert result["compiled"] > 0 and result["eager"] > result["compiled"] and result["numpy"] > 0


BENCH_RESULTS = {"seed": {"compiled": 3.5e-6, "eager": 7.3e-5, "numpy": 1.1e-5, "torch": 4.4e-5, "jax": 8.0e-6,
                           "first": 1.05, "warm": 0.21, "jax_first": 0.05},
                  "mlp": {"compiled": 3.1e-3, "eager": 3.5e-3, "numpy": 3.1e-3}}


def test_bench_chart_is_a_png(tmp_path):
    from tracegrad.bench import plot
    path = tmp_path / "chart.png"
    assert plot(BENCH_RESULTS, str(path)) is True
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_bench_chart_is_skipped_without_matplotlib(tmp_path, monkeypatch):
    from tracegrad.bench import plot
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert plot(BENCH_RESULTS, str(tmp_path / "chart.png")) is False
    assert not (tmp_path / "chart.png").exists()


def test_bench_rejects_unknown_workloads(capsys):
    assert main(["bench", "nope"]) == 2
    assert "unknown workload 'nope'" in capsys.readouterr().err
