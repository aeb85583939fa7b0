"""Generic tests that read the op table: every entry, every sample, no hand-picked list.

For each primitive and composite: the eager result equals the numpy
implementation (and the type rule predicts its type), gradients match
central finite differences in float64, second derivatives (through
``create_graph=True``) match finite differences of gradients, closed-form
composite vjps match the gradient of their decomposition, and the grad_fn
carries the entry's PyTorch name.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_grad

import tracegrad as tg
from tracegrad._dispatch import TENSOR_EMITTER, apply_op, wrap
from tracegrad.ir.ops import NUMPY, TABLE, Composite, Op
from tracegrad.ir.types import TensorType

ENTRIES = sorted(TABLE)
FLOATS = [np.float32, np.float64]


def _samples(name, dtype, seed=0):
    rng = np.random.default_rng(abs(hash((name, np.dtype(dtype).name))) % 2**32 if seed is None else seed)
    return TABLE[name].samples(rng, np.dtype(dtype))


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _grad_positions(entry, sample):
    if sample.grad is not None:
        return tuple(sample.grad)
    return tuple(i for i, a in enumerate(sample.args) if _is_float_array(a))


def _reference(entry, args, attrs):
    if isinstance(entry, Composite):
        return np.asarray(entry.decompose(NUMPY, *args, **attrs))
    return np.asarray(entry.impl(*args, **attrs))


def _eager(entry, args, attrs, grad_positions=()):
    tensors = []
    for i, a in enumerate(args):
        if i in grad_positions:
            tensors.append(tg.tensor(a, requires_grad=True))
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            tensors.append(tg.tensor(a))
        else:
            tensors.append(a)
    return apply_op(entry, tuple(tensors), sample_attrs(attrs)), tensors


def sample_attrs(attrs):
    return dict(attrs)


def _differentiable(entry):
    return entry.vjp is not None or isinstance(entry, Composite)


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_has_every_field(name):
    entry = TABLE[name]
    assert entry.name == name
    assert isinstance(entry.attrs, tuple)
    assert entry.doc, f"{name}: no doc line"
    assert entry.node_name, f"{name}: no PyTorch node name"
    assert entry.promote in ("same", "float", "compare", "sum", "keep", "match")
    if isinstance(entry, Op):
        assert callable(entry.impl) and callable(entry.type_rule)
        assert entry.kind in ("elementwise", "reduction", "shape", "index", "matmul", "order", "linalg", "other")
        assert all(s in ("out", "rest", "all") or isinstance(s, int) for s in entry.saves)
        if entry.kind == "elementwise":
            assert entry.kernel, f"{name}: elementwise ops need a kernel template"
    else:
        assert callable(entry.decompose)
    for dtype in FLOATS:
        samples = _samples(name, dtype)
        assert samples, f"{name}: no samples for {np.dtype(dtype)}"


@pytest.mark.parametrize("name", [n for n in ENTRIES if isinstance(TABLE[n], Op) and TABLE[n].vjp is None])
def test_ops_without_gradient_return_no_floats(name):
    # An op may omit its vjp only when its output cannot carry a gradient.
    entry = TABLE[name]
    for s in _samples(name, np.float64):
        out = _reference(entry, s.args, s.attrs)
        assert out.dtype.kind in "bi" or name in ("sign", "detach"), name


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ENTRIES)
def test_values_match_numpy_and_type_rule(name, dtype):
    entry = TABLE[name]
    for s in _samples(name, dtype):
        expected = _reference(entry, s.args, s.attrs)
        out, _ = _eager(entry, s.args, s.attrs)
        assert out.shape == expected.shape, s.note
        assert out._data.dtype == expected.dtype, s.note
        np.testing.assert_allclose(out._data, expected, rtol=1e-6, atol=1e-7, err_msg=s.note)
        if isinstance(entry, Op):
            types = [TensorType(np.asarray(a).dtype, np.shape(a)) for a in s.args]
            predicted = entry.infer(types, s.attrs)
            assert predicted == TensorType(expected.dtype, expected.shape), s.note


def _loss_and_grads(entry, args, attrs, positions, cotangent):
    out, tensors = _eager(entry, args, attrs, positions)
    (out * wrap(cotangent)).sum().backward()
    return [tensors[i].grad._data for i in positions]


def _gradient_cases(name, seed):
    """(sample, differentiated positions, output, cotangent, eager gradients) of each float64 sample."""
    entry = TABLE[name]
    rng = np.random.default_rng(seed)
    for s in _samples(name, np.float64):
        positions = _grad_positions(entry, s)
        if not positions:
            continue
        out = _reference(entry, s.args, s.attrs)
        cot = rng.normal(size=out.shape)
        yield s, positions, out, cot, _loss_and_grads(entry, s.args, s.attrs, positions, cot)


@pytest.mark.parametrize("name", [n for n in ENTRIES if _differentiable(TABLE[n])])
def test_gradients_match_finite_differences(name):
    entry = TABLE[name]
    checked = 0
    for s, positions, out, cot, grads in _gradient_cases(name, 1):

        def f(a, s=s, cot=cot):
            return float(np.sum(_reference(entry, a, s.attrs) * cot))
        # A float32 output (a cast) rounds at 1e-7: wider steps and tolerances.
        eps, rtol, atol = (1e-6, 1e-5, 1e-6) if out.dtype == np.float64 else (1e-3, 1e-3, 1e-4)
        for i, g in zip(positions, grads):
            assert g.shape == np.shape(s.args[i]), s.note
            np.testing.assert_allclose(g, numeric_grad(f, list(s.args), i, eps), rtol=rtol, atol=atol,
                                       err_msg=f"{name} {s.note} input {i}")
            checked += 1
    assert checked, f"{name}: no sample exercises the gradient"


@pytest.mark.parametrize("name", [n for n in ENTRIES if _differentiable(TABLE[n])])
def test_float32_gradients_agree_with_float64(name):
    entry = TABLE[name]
    for s32, s64 in zip(_samples(name, np.float32, seed=3), _samples(name, np.float64, seed=3)):
        positions = _grad_positions(entry, s64)
        if not positions:
            continue
        out = _reference(entry, s64.args, s64.attrs)
        cot = np.random.default_rng(2).normal(size=out.shape)
        g32 = _loss_and_grads(entry, s32.args, s32.attrs, positions, cot.astype(np.float32))
        g64 = _loss_and_grads(entry, s64.args, s64.attrs, positions, cot)
        for a, b in zip(g32, g64):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4, err_msg=s64.note)


def _grad_fn_of(entry, args, attrs, positions, cotangent, create_graph):
    out, tensors = _eager(entry, args, attrs, positions)
    inputs = [tensors[i] for i in positions]
    grads = tg.autograd.grad((out * wrap(cotangent)).sum(), inputs, create_graph=create_graph, allow_unused=True)
    return grads, inputs


@pytest.mark.parametrize("name", [n for n in ENTRIES if _differentiable(TABLE[n])])
def test_second_derivatives_match_finite_differences(name):
    """d/dx <grad(x), v>, differentiating the backward pass itself, against differences of gradients."""
    entry = TABLE[name]
    rng = np.random.default_rng(4)
    for s in _samples(name, np.float64)[:3]:
        positions = _grad_positions(entry, s)
        if not positions:
            continue
        out = _reference(entry, s.args, s.attrs)
        cot = rng.normal(size=out.shape)
        grads, inputs = _grad_fn_of(entry, s.args, s.attrs, positions, cot, create_graph=True)
        vs = [rng.normal(size=np.shape(s.args[i])) for i in positions]
        total = None
        for g, v in zip(grads, vs):
            if g is not None and g.requires_grad:
                term = (g * wrap(v)).sum()
                total = term if total is None else total + term
        # No gradient depends on the inputs (or the engine detached them wrongly): then the
        # differences of the first derivative must vanish, which is what the check below asserts.
        second = [None] * len(positions) if total is None else tg.autograd.grad(total, inputs, allow_unused=True)

        def first_dot_v(a, s=s, cot=cot, vs=vs, positions=positions):
            g, _ = _grad_fn_of(entry, a, s.attrs, positions, cot, create_graph=False)
            return float(sum(np.sum(gi._data * v) for gi, v in zip(g, vs) if gi is not None))
        for i, h in zip(positions, second):
            numeric = numeric_grad(first_dot_v, list(s.args), i, eps=1e-5)
            actual = np.zeros_like(numeric) if h is None else h._data
            np.testing.assert_allclose(actual, numeric, rtol=1e-4, atol=1e-5, err_msg=f"{name} {s.note} input {i}")


@pytest.mark.parametrize("name", [n for n in ENTRIES if isinstance(TABLE[n], Composite) and TABLE[n].vjp])
def test_closed_form_vjp_matches_decomposition(name):
    entry = TABLE[name]
    for s, positions, _out, cot, closed in _gradient_cases(name, 5):
        leaves = [tg.tensor(a, requires_grad=i in positions) if _is_float_array(a) else a
                  for i, a in enumerate(s.args)]
        decomposed = entry.decompose(TENSOR_EMITTER, *leaves, **s.attrs)
        (decomposed * wrap(cot)).sum().backward()
        for i, g in zip(positions, closed):
            np.testing.assert_allclose(g, leaves[i].grad._data, rtol=1e-7, atol=1e-9, err_msg=s.note)


@pytest.mark.parametrize("name", [n for n in ENTRIES if _differentiable(TABLE[n])])
def test_grad_fn_carries_pytorch_name(name):
    entry = TABLE[name]
    for s in _samples(name, np.float64):
        positions = _grad_positions(entry, s) or tuple(i for i, a in enumerate(s.args) if _is_float_array(a))
        out, tensors = _eager(entry, s.args, s.attrs, positions)
        if out._data.dtype.kind != "f":
            continue
        shapes = tuple(np.shape(a) for a in s.args)
        assert type(out.grad_fn).__name__ == entry.eager_name(shapes, s.attrs)
        assert repr(out.grad_fn).startswith(f"<{entry.eager_name(shapes, s.attrs)} object at 0x")


def test_ties_share_the_gradient():
    x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad._data, [0.0, 0.5, 0.5])
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([1.0, 1.0], requires_grad=True)
    tg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad._data, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad._data, [0.5, 0.0])


def test_pow_gradient_at_zero_base_is_finite():
    x = tg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    (x ** 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad._data, [0.0, 2.0, 4.0])
    e = tg.tensor([2.0, 2.0], requires_grad=True)
    (tg.tensor([0.0, 3.0]) ** e).sum().backward()
    np.testing.assert_allclose(e.grad._data, [0.0, 9.0 * np.log(3.0)], rtol=1e-6)
