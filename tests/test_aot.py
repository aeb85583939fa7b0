"""Ahead-of-time stages: ``f.trace(*args)``, ``.lower(tier)``, ``.compile()``, each with ``.as_text()``.

A compiled stage must answer exactly what the transform answers for arguments of the traced
types, refuse other types with a TypeError naming both, and refuse a call that leaves the
traced path with a GuardError naming the user's line.  Kernel-tier compiles cost seconds
each: only two tiny graphs are compiled here.
"""

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.stages import Compiled, GuardError, Lowered, Traced


def loss(x, w):
    y = tg.tanh(x * w)
    if y.sum() > 0:
        return (y * y).sum()
    return y.sum()


def mlp(x, params):
    h = tg.tanh(x @ params["w"] + params["b"])
    return (h * h).mean()


X = np.array([0.5, 1.0, 2.0])
W = np.array([1.0, 0.5, 0.25])
TRANSFORMS = {
    "grad": lambda: tg.grad(loss, argnums=(0, 1)),
    "value_and_grad": lambda: tg.value_and_grad(loss, argnums=1),
    "jit": lambda: tg.jit(loss),
    "jacobian": lambda: tg.jacobian(lambda x, w: tg.tanh(x * w), argnums=0),
    "hessian": lambda: tg.hessian(lambda x, w: (x * x * w).sum()),
}


def _assert_same(got, want):
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    elif isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            _assert_same(got[k], want[k])
    else:
        assert type(got) is type(want)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-13, atol=0)


# --------------------------------------------------------------------------
# trace
# --------------------------------------------------------------------------

def test_trace_as_text_shows_the_forward_and_the_derived_graph_with_headers():
    traced = tg.grad(loss, argnums=(0, 1)).trace(X, W)
    assert isinstance(traced, Traced)
    text = traced.as_text()
    assert text.startswith("# grad of 'loss' for (argument 'x': f64[3], argument 'w': f64[3])")
    assert "# forward: the traced run of loss" in text and "# compiled: forward + adjoint, what grad runs" in text
    assert "def loss(%x: f64[3], %w: f64[3])" in text and "def loss_joint(" in text
    assert "guard %" in text and "tanh" in text
    assert "test_aot.py:17" in text  # the user's line of each node
    assert str(traced.graphs["forward"]) in text and str(traced.graphs["compiled"]) in text
    assert traced.in_types == [("argument 'x'", "f64[3]"), ("argument 'w'", "f64[3]")]


def test_trace_graphs_are_the_ones_the_transform_runs():
    g = tg.grad(loss, argnums=(0, 1))
    traced = g.trace(X, W)
    assert traced.graphs.keys() == g.graphs(X, W).keys()
    for kind, graph in g.graphs(X, W).items():
        assert str(traced.graphs[kind]) == str(graph)


def test_stages_do_not_touch_the_transforms_cache():
    g = tg.grad(loss)
    g.trace(X, W).lower(tier="executor").compile()(X, W)
    assert g.cache_info() == (0, 0, 0)


def test_vjp_transforms_have_no_trace():
    from tracegrad._transforms import _cached_transform
    with pytest.raises(TypeError, match="tg.vjp returns a pair"):
        _cached_transform(loss, "vjp", (0,)).trace(X, W)


# --------------------------------------------------------------------------
# lower
# --------------------------------------------------------------------------

def test_lower_to_the_executor_gives_the_program_the_transform_runs():
    g = tg.grad(loss, argnums=(0, 1), tier="executor")
    lowered = g.trace(X, W).lower(tier="executor")
    assert isinstance(lowered, Lowered) and lowered.tier == "executor"
    text = lowered.as_text()
    assert text.startswith("# executor program for loss_joint:")
    g(X, W)
    assert text == g._cache[next(iter(g._cache))][0].executor_programs()["graph"]
    assert lowered.as_text("ir") == str(lowered.graph) and "def loss_joint(" in lowered.as_text("ir")


def test_lower_to_a_kernel_gives_its_source_without_compiling_it():
    lowered = tg.value_and_grad(loss).trace(X, W).lower(tier="kernel")
    text = lowered.as_text()
    assert "@njit(cache=True" in text and "def kernel_" in text and "test_aot.py:" in text


def test_default_tier_is_what_the_transform_runs_first():
    assert tg.grad(loss).trace(X, W).lower().tier == "executor"
    assert tg.grad(loss, tier="executor").trace(X, W).lower().tier == "executor"
    assert tg.grad(loss, tier="kernel").trace(X, W).lower().tier == "kernel"
    assert tg.grad(loss, backend="interpreter").trace(X, W).lower().tier == "interpreter"


def test_lower_is_trace_then_lower():
    g = tg.jit(loss)
    assert g.lower(X, W, tier="executor").as_text() == g.trace(X, W).lower("executor").as_text()


def test_unknown_tier_and_dialect_are_named():
    traced = tg.jit(loss).trace(X, W)
    with pytest.raises(ValueError, match="unknown tier 'gpu'"):
        traced.lower("gpu")
    with pytest.raises(ValueError, match="unknown dialect"):
        traced.lower("interpreter").as_text("hlo")


# --------------------------------------------------------------------------
# compile
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("tier", ["executor", "interpreter"])
def test_compiled_answers_what_the_transform_answers(name, tier):
    g = TRANSFORMS[name]()
    compiled = g.trace(X, W).lower(tier=tier).compile()
    assert isinstance(compiled, Compiled) and compiled.tier == tier
    for x, w in ((X, W), (X * 1.5, W + 0.25)):
        _assert_same(compiled(x, w), g(x, w))


def test_compiled_on_the_kernel_tier_answers_what_the_transform_answers():
    g = tg.value_and_grad(loss, argnums=(0, 1))
    compiled = g.trace(X, W).lower(tier="kernel").compile()
    assert "def kernel_" in compiled.as_text() and compiled.as_text() == compiled.lowered.as_text()
    _assert_same(compiled(X + 0.5, W), g(X + 0.5, W))
    assert {"trace_ms", "derive_ms", "lower_ms", "compile_ms", "nodes", "kernel_lines"} <= compiled.cost.keys()


def test_compiled_text_and_cost_on_the_executor():
    compiled = tg.grad(loss).trace(X, W).lower(tier="executor").compile()
    assert compiled.as_text().startswith("# executor program for loss_joint")
    cost = compiled.cost
    assert cost["instructions"] > 0 and cost["nodes"] > 0 and cost["compile_ms"] >= 0


def test_compiled_takes_pytrees_keywords_and_tensors():
    params = {"w": np.full((3, 2), 0.5), "b": np.array([0.1, -0.2])}
    g = tg.value_and_grad(mlp, argnums=1)
    compiled = g.trace(X, params).lower(tier="executor").compile()
    _assert_same(compiled(X, params), g(X, params))
    f = tg.jit(lambda x, *, scale: x * scale)
    with_keyword = f.trace(X, scale=np.float64(2.0)).lower(tier="executor").compile()
    _assert_same(with_keyword(X, scale=np.float64(3.0)), f(X, scale=np.float64(3.0)))
    f = tg.jit(loss)
    on_tensors = f.trace(tg.tensor(X), tg.tensor(W)).lower(tier="executor").compile()
    out = on_tensors(tg.tensor(X), tg.tensor(W))
    assert isinstance(out, tg.Tensor)
    np.testing.assert_allclose(out.numpy(), f(X, W), rtol=1e-14)


def test_aux_outputs_come_back_as_from_the_transform():
    def with_aux(x, w):
        y = tg.tanh(x * w)
        return (y * y).sum(), {"y": y, "label": "tanh"}
    g = tg.value_and_grad(with_aux, has_aux=True)
    compiled = g.trace(X, W).lower(tier="executor").compile()
    (value, aux), grad = compiled(X, W)
    (want_value, want_aux), want_grad = g(X, W)
    _assert_same((value, grad, aux["y"]), (want_value, want_grad, want_aux["y"]))
    assert aux["label"] == "tanh"


def test_a_differentiated_python_float_stays_an_input():
    g = tg.grad(lambda a, x: (a * x * x).sum())
    compiled = g.trace(2.0, X).lower(tier="executor").compile()
    assert compiled(3.0, X) == g(3.0, X) and type(compiled(3.0, X)) is float


def test_closed_over_parameters_are_read_at_each_call():
    w = tg.tensor(W, requires_grad=True)  # a parameter: a graph input, not a constant of the trace
    g = tg.grad(lambda x: (x * x * w).sum())
    compiled = g.trace(X).lower(tier="executor").compile()
    with tg.no_grad():
        w.mul_(2.0)
    np.testing.assert_allclose(compiled(X), 2.0 * X * W * 2.0, rtol=1e-14)
    _assert_same(compiled(X), g(X))


# --------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------

def test_wrong_shape_or_dtype_raises_type_error_naming_both():
    compiled = tg.grad(loss, argnums=(0, 1)).trace(X, W).lower(tier="executor").compile()
    with pytest.raises(TypeError, match=r"argument 'x': compiled for f64\[3\], called with f64\[4\]"):
        compiled(np.ones(4), W)
    with pytest.raises(TypeError, match=r"argument 'w': compiled for f64\[3\], called with f32\[3\]"):
        compiled(X, W.astype(np.float32))


def test_wrong_structure_or_constant_raises_type_error():
    compiled = tg.jit(lambda x, n: x * n).trace(X, 3).lower(tier="executor").compile()
    with pytest.raises(TypeError, match="another structure of arguments"):
        compiled(X)
    with pytest.raises(TypeError, match="argument 'n': compiled for the constant 3, called with the constant 4"):
        compiled(X, 4)
    np.testing.assert_array_equal(compiled(X, 3), X * 3)


@pytest.mark.parametrize("tier", ["executor", "interpreter"])
def test_a_call_taking_another_branch_raises_guard_error(tier):
    compiled = tg.grad(loss).trace(X, W).lower(tier=tier).compile()
    with pytest.raises(GuardError, match=r"test_aot\.py:18 \(`if y\.sum\(\) > 0:`\).*took True.*gives False"):
        compiled(-X, W)
    _assert_same(compiled(X, W), tg.grad(loss)(X, W))  # the traced path still answers


def test_a_number_python_read_is_guarded_before_the_runner():
    def scaled(x):
        return x / float(x.max())
    compiled = tg.jit(scaled).trace(X).lower(tier="executor").compile()
    np.testing.assert_allclose(compiled(X * 1.0), X / X.max(), rtol=1e-14)
    with pytest.raises(GuardError, match=r"took 2\.0 there, this call gives 4\.0"):
        compiled(X * 2.0)


def test_a_changed_global_makes_the_compiled_stage_stale():
    namespace = {"tg": tg, "SCALE": 2.0}
    exec("def scaled(x):\n    return x * SCALE\n", namespace)
    compiled = tg.jit(namespace["scaled"]).trace(X).lower(tier="executor").compile()
    np.testing.assert_array_equal(compiled(X), X * 2.0)
    namespace["SCALE"] = 3.0
    with pytest.raises(GuardError, match="no longer applies"):
        compiled(X)


def test_calling_a_compiled_stage_while_tracing_is_refused():
    compiled = tg.jit(lambda x: x * 2.0).trace(X).lower(tier="executor").compile()
    with pytest.raises(TypeError, match="while another transform traces"):
        tg.grad(lambda x: compiled(x).sum())(X)
