"""Code generation and numerics of compiled mode: deep graphs, accumulation, IEEE results, edge values.

Each test compares compiled functions with eager mode, numpy or a closed form.
"""

from __future__ import annotations

import logging

import numpy as np

import tracegrad as tg
from tracegrad.compiler import backend


def _eager_value_and_grad(f, x):
    xt = tg.tensor(x, requires_grad=True)
    y = f(xt)
    y.backward()
    return y.item(), xt.grad.numpy()


# ------------------------------------------------------------------ deep graphs

def _sine_chain(x):
    for _ in range(100):
        x = tg.sin(x) * 1.0001 + 0.001
    return x.sum()


def _horner_degree_100(x):
    y = x * 0.0 + 1.0
    for k in range(100):
        y = y * x + ((k % 7) * 0.1 - 0.3)
    return y.sum()


def test_hundred_step_elementwise_chain_compiles_and_matches_eager():
    # About 500 single-use nodes: one fused expression once nested beyond Python's parser limit.
    x = np.linspace(0.1, 1.0, 5)
    value, grad = tg.value_and_grad(_sine_chain)(x)
    expected_value, expected_grad = _eager_value_and_grad(_sine_chain, x)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10)


def test_degree_100_horner_compiles_and_matches_eager():
    x = np.linspace(-1.0, 1.0, 7)
    expected_value, expected_grad = _eager_value_and_grad(_horner_degree_100, x)
    np.testing.assert_allclose(tg.jit(_horner_degree_100)(x), expected_value, rtol=1e-12)
    np.testing.assert_allclose(tg.grad(_horner_degree_100)(x), expected_grad, rtol=1e-10, atol=1e-12)


def test_deep_expression_is_cut_into_locals():
    from tracegrad.compiler.codegen import MAX_EXPR_DEPTH, generate
    from tracegrad.compiler.fusion import prepare
    from tracegrad.ir.graph import Graph, GraphBuilder
    from tracegrad.ir.types import TensorType

    graph = Graph(name="deep")
    b = GraphBuilder(graph)
    x = b.input(TensorType(np.dtype(np.float64), (4,)))
    y = x
    for _ in range(1500):  # deeper than Python's recursion limit
        y = b.add(b.mul(y, 0.5), 0.25)
    graph.outputs = [y]
    source = generate(prepare(graph)).source
    compile(source, "<deep kernel>", "exec")  # no SyntaxError: too many nested parentheses
    deepest = max(line.count("(") for line in source.splitlines())
    assert deepest <= 3 * MAX_EXPR_DEPTH + 10


def test_lowering_failure_falls_back_to_the_interpreter_with_a_logged_reason(monkeypatch, caplog):
    def broken_generate(graph):
        raise SyntaxError("too many nested parentheses")
    monkeypatch.setattr(backend, "generate", broken_generate)

    def f(x):
        return (tg.tanh(x) * x).sum()
    x = np.array([0.5, -1.5, 2.0, 0.25, 3.0, -0.75, 1.25])  # a length no other test compiles for
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        value, grad = tg.value_and_grad(f)(x)
    expected_value, expected_grad = _eager_value_and_grad(f, x)
    np.testing.assert_allclose(value, expected_value, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14)
    reasons = [r.getMessage() for r in caplog.records if "runs on the interpreter" in r.getMessage()]
    assert len(reasons) == 1
    assert "SyntaxError: too many nested parentheses" in reasons[0]


def test_numba_failure_falls_back_to_the_interpreter(monkeypatch, caplog):
    def broken_load(source, entry, **kwargs):
        raise RuntimeError("numba rejected the kernel\nsecond line")
    monkeypatch.setattr(backend.cache, "load_kernel", broken_load)
    f = tg.jit(lambda x: tg.exp(x).sum() * 3.0)
    x = np.array([0.5, -1.5, 2.0, 0.25, 3.0, -0.75, 1.25, 9.0, 0.125])
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        np.testing.assert_allclose(f(x), np.exp(x).sum() * 3.0, rtol=1e-14)
    reasons = [r.getMessage() for r in caplog.records if "runs on the interpreter" in r.getMessage()]
    assert len(reasons) == 1 and "RuntimeError: numba rejected the kernel" in reasons[0]
    assert "second line" not in reasons[0]
