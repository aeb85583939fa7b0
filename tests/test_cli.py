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


def test_bench_runs_a_workload_on_both_tiers_and_writes_json(tmp_path, capfd, monkeypatch):
    import json

    from tracegrad.bench import _SINGLE_THREAD
    for name in _SINGLE_THREAD:  # the run then starts again in a process with one BLAS thread
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "bench.json"
    assert main(["bench", "seed", "--no-first-call", "--json", str(out), "--png", str(tmp_path / "bench.png")]) == 0
    lines = capfd.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("workload"))
    assert header.split()[:6] == ["workload", "executor", "kernel", "auto", "eager", "numpy"]
    result = json.loads(out.read_text())["seed"]
    assert result["executor"] > 0 and result["kernel"] > 0 and result["auto"] > 0 and result["numpy"] > 0
    assert result["eager"] > result["kernel"]


def test_bench_table_says_why_a_kernel_is_missing(capsys):
    from tracegrad.bench import print_table
    print_table({"tiny10k": {"executor": 2e-3, "eager": 4.0, "first_executor": 3.0, "kernel_note": "skipped"},
                 "ode": {"executor": 3e-4, "first_executor": 1.0, "kernel_note": "> 600 s", "jax": 2e-5}})
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["tiny10k"][1:3] == ["2.00", "ms"] and rows["tiny10k"][3] == "skipped"
    assert "> 600 s" in " ".join(rows["ode"]) and rows["ode"][-1] == "15x"


def test_bench_lorenz_gradient_by_hand_matches_autograd():
    import tracegrad as tg
    from tracegrad.bench import _lorenz_by_hand, lorenz_function, make_data
    d = make_data("ode")
    u0 = tg.tensor(d["u0"].astype(np.float64), requires_grad=True)
    p = tg.tensor(d["p"].astype(np.float64), requires_grad=True)
    loss = lorenz_function(steps=30)(u0, p)
    loss.backward()
    value, g_u0, g_p = _lorenz_by_hand(d["u0"], d["p"], steps=30)
    np.testing.assert_allclose(value, loss.item(), rtol=1e-9)
    np.testing.assert_allclose(g_u0, u0.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(g_p, p.grad.numpy(), rtol=1e-9)


BENCH_RESULTS = {"seed": {"executor": 1.2e-5, "kernel": 3.5e-6, "auto": 3.6e-6, "eager": 7.3e-5, "numpy": 1.1e-5,
                          "torch": 4.4e-5, "jax": 8.0e-6, "first_executor": 0.03, "first_kernel": 1.05,
                          "warm_kernel": 0.21, "jax_first": 0.05},
                 "mlp": {"executor": 3.3e-3, "kernel": 3.1e-3, "eager": 3.5e-3, "numpy": 3.1e-3},
                 "tiny10k": {"executor": 2e-3, "eager": 4.0, "first_executor": 3.0, "kernel_note": "skipped"}}


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
