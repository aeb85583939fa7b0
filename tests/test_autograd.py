"""Autograd engine semantics of eager tracegrad, checked against PyTorch.

Expected values are closed forms computed with numpy or constants printed by
PyTorch 2.13 for the same program (``import tracegrad as torch`` must give
the same numbers, dtypes, node names and graph structure).  torch itself is
not imported here.
"""
import gc
import sys
import weakref

import numpy as np
import pytest
from numeric import Cube

import tracegrad as torch
import tracegrad.nn.functional as F


def arr(t):
    """The values of a tensor as a numpy array (detached)."""
    return np.asarray(t.detach().numpy())


def version(t) -> int:
    """The in-place version counter, an int as in PyTorch."""
    assert isinstance(t._version, int)
    return t._version


def node_name(t) -> str:
    return type(t.grad_fn).__name__


# --------------------------------------------------------------------------
# .grad accumulation and retain_graph
# --------------------------------------------------------------------------

def test_grad_accumulates_over_two_backwards():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x ** 2).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0, 6.0])
    (x ** 2).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [4.0, 8.0, 12.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [7.0, 11.0, 15.0])
    assert x.grad.dtype == torch.float32
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_grad_zero_and_none_reset_accumulation():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad.zero_()
    np.testing.assert_array_equal(arr(x.grad), [0.0, 0.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [5.0, 5.0])


def test_retain_graph_allows_second_backward():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 3).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(arr(x.grad), 3 * np.array([1.0, 4.0, 9.0]))
    y.backward()
    np.testing.assert_allclose(arr(x.grad), 6 * np.array([1.0, 4.0, 9.0]))


def test_leaf_grad_is_none_before_backward_and_for_unused_leaves():
    x = torch.ones(2, requires_grad=True)
    w = torch.ones(2, requires_grad=True)
    assert x.grad is None
    (x * 2).sum().backward()
    assert w.grad is None


# --------------------------------------------------------------------------
# create_graph: higher-order gradients
# --------------------------------------------------------------------------

def test_second_derivative_of_cube():
    x = torch.tensor(2.0, requires_grad=True)
    (g,) = torch.autograd.grad(x ** 3, x, create_graph=True)
    assert g.item() == pytest.approx(12.0)
    assert g.requires_grad and g.grad_fn is not None
    (g2,) = torch.autograd.grad(g, x)
    assert g2.item() == pytest.approx(12.0)  # 6 x
    assert g2.grad_fn is None


def test_third_derivative_of_fourth_power():
    x = torch.tensor(2.0, requires_grad=True)
    (g1,) = torch.autograd.grad(x ** 4, x, create_graph=True)
    (g2,) = torch.autograd.grad(g1, x, create_graph=True)
    (g3,) = torch.autograd.grad(g2, x)
    assert (g1.item(), g2.item(), g3.item()) == pytest.approx((32.0, 48.0, 48.0))


def test_second_derivative_of_sin():
    xs = np.array([0.5, 1.0, 2.0])
    x = torch.tensor(xs, requires_grad=True)
    (g,) = torch.autograd.grad(x.sin().sum(), x, create_graph=True)
    np.testing.assert_allclose(arr(g), np.cos(xs), rtol=1e-12)
    (g2,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(arr(g2), -np.sin(xs), rtol=1e-12)


def test_second_derivative_of_tanh():
    xs = np.array([-1.0, 0.25, 1.5])
    x = torch.tensor(xs, requires_grad=True)
    (g,) = torch.autograd.grad(torch.tanh(x).sum(), x, create_graph=True)
    th = np.tanh(xs)
    np.testing.assert_allclose(arr(g), 1 - th ** 2, rtol=1e-12)
    (g2,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(arr(g2), -2 * th * (1 - th ** 2), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_with_create_graph_makes_grad_differentiable():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(arr(x.grad), [3.0, 12.0])
    assert x.grad.requires_grad
    (h,) = torch.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(arr(h), [6.0, 12.0])


def test_mixed_second_derivative():
    x = torch.tensor(3.0, requires_grad=True)
    y = torch.tensor(2.0, requires_grad=True)
    f = x * y ** 2
    gx, gy = torch.autograd.grad(f, [x, y], create_graph=True)
    assert (gx.item(), gy.item()) == pytest.approx((4.0, 12.0))  # y^2, 2xy
    (gxy,) = torch.autograd.grad(gy, x, retain_graph=True)
    assert gxy.item() == pytest.approx(4.0)  # 2y
    (gyy,) = torch.autograd.grad(gy, y)
    assert gyy.item() == pytest.approx(6.0)  # 2x


def test_gradient_penalty_style_double_backward():
    x = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w = torch.tensor([0.3, 0.7, -1.1], requires_grad=True)
    out = (torch.sigmoid(x * w)).sum()
    (gx,) = torch.autograd.grad(out, x, create_graph=True)
    penalty = (gx ** 2).sum()
    penalty.backward()
    xs, ws = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    s = 1 / (1 + np.exp(-xs * ws))
    ds = s * (1 - s)
    np.testing.assert_allclose(arr(gx), ds * ws, rtol=1e-5)
    # d/dw sum((s'(xw) w)^2) = 2 s' w (s'' x w + s'), with s'' = s'(1 - 2s)
    expected_w = 2 * ds * ws * (ds * (1 - 2 * s) * xs * ws + ds)
    np.testing.assert_allclose(arr(w.grad), expected_w, rtol=1e-5)


# --------------------------------------------------------------------------
# torch.autograd.grad
# --------------------------------------------------------------------------

def test_autograd_grad_with_grad_outputs():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = torch.autograd.grad(x * x, x, grad_outputs=torch.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_allclose(arr(g), [2.0, 2.0, -6.0])
    assert x.grad is None  # autograd.grad never touches .grad


def test_autograd_grad_returns_tuple_for_single_input():
    x = torch.tensor(1.5, requires_grad=True)
    res = torch.autograd.grad(x * x, x)
    assert isinstance(res, tuple) and len(res) == 1
    assert res[0].item() == pytest.approx(3.0)


def test_autograd_grad_allow_unused():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = torch.tensor([5.0], requires_grad=True)
    gx, gz = torch.autograd.grad((x * 4).sum(), [x, z], allow_unused=True)
    np.testing.assert_array_equal(arr(gx), [4.0, 4.0])
    assert gz is None


def test_autograd_grad_materialize_grads():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = torch.tensor([5.0, 6.0, 7.0], requires_grad=True)
    gx, gz = torch.autograd.grad((x * 4).sum(), [x, z], allow_unused=True, materialize_grads=True)
    np.testing.assert_array_equal(arr(gz), [0.0, 0.0, 0.0])


def test_autograd_grad_multiple_outputs_and_inputs():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, -1.0], requires_grad=True)
    y1 = (x * w).sum()
    y2 = (x ** 2).sum()
    gx, gw = torch.autograd.grad([y1, y2], [x, w])
    np.testing.assert_allclose(arr(gx), [3.0 + 2.0, -1.0 + 4.0])
    np.testing.assert_allclose(arr(gw), [1.0, 2.0])


def test_autograd_grad_multiple_outputs_with_grad_outputs():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2, x ** 2
    (g,) = torch.autograd.grad([a, b], x, grad_outputs=[torch.tensor([1.0, 1.0]), torch.tensor([10.0, 0.0])])
    np.testing.assert_allclose(arr(g), [2.0 + 20.0, 2.0])


def test_autograd_grad_with_respect_to_non_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h ** 2).sum()
    gh, gx = torch.autograd.grad(y, [h, x])
    np.testing.assert_allclose(arr(gh), [6.0, 12.0])
    np.testing.assert_allclose(arr(gx), [18.0, 36.0])


def test_autograd_backward_function_with_grad_tensors():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    torch.autograd.backward([x * 2, x * x], [torch.tensor([1.0, 1.0]), torch.tensor([1.0, 3.0])])
    np.testing.assert_allclose(arr(x.grad), [2.0 + 2.0, 2.0 + 12.0])


# --------------------------------------------------------------------------
# backward(inputs=...), retain_grad, hooks
# --------------------------------------------------------------------------

def test_backward_inputs_accumulates_only_into_them():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    z = (x * w).sum()
    z.backward(inputs=[x], retain_graph=True)
    np.testing.assert_array_equal(arr(x.grad), [3.0, 4.0])
    assert w.grad is None
    z.backward(inputs=[w])
    np.testing.assert_array_equal(arr(w.grad), [1.0, 2.0])
    np.testing.assert_array_equal(arr(x.grad), [3.0, 4.0])


def test_backward_inputs_single_tensor():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    (x * w).sum().backward(inputs=w)
    assert x.grad is None
    np.testing.assert_array_equal(arr(w.grad), [1.0, 2.0])


def test_backward_inputs_non_leaf_gets_grad_and_retains_it():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = x * 2
    (b * b).sum().backward(inputs=[b])
    assert x.grad is None
    assert b.retains_grad  # PyTorch marks a non-leaf passed as input as retaining its grad
    np.testing.assert_array_equal(arr(b.grad), [4.0, 8.0, 12.0])


def test_retain_grad_on_non_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    b = x * 2
    b.retain_grad()
    assert b.retains_grad and not x.retains_grad
    c = (b ** 2).sum()
    c.backward()
    np.testing.assert_allclose(arr(b.grad), [4.0, 8.0])
    np.testing.assert_allclose(arr(x.grad), [8.0, 16.0])


def test_retain_grad_accumulates_and_on_leaf_is_noop():
    x = torch.tensor([1.0], requires_grad=True)
    x.retain_grad()
    assert x.is_leaf
    b = x * 3
    b.retain_grad()
    y = b.sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(arr(b.grad), [2.0])
    np.testing.assert_array_equal(arr(x.grad), [6.0])


def test_hook_on_leaf_sees_and_modifies_gradient():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(arr(g).copy())
        return g * 10

    x.register_hook(hook)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(arr(x.grad), [30.0, 30.0])


def test_hook_on_non_leaf_modifies_upstream_gradient():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = x * 3
    b.register_hook(lambda g: g + 1)
    (b * 2).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [9.0, 9.0, 9.0])  # 3 * (2 + 1)


def test_hook_returning_none_keeps_gradient_and_handle_removes():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(arr(x.grad), [2.0, 2.0])
    handle.remove()
    (x * 2).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(arr(x.grad), [4.0, 4.0])


def test_hook_on_non_leaf_with_retain_grad_sees_hooked_value():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    b = x * 1
    b.retain_grad()
    b.register_hook(lambda g: g * 2)
    b.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [2.0, 2.0])


# --------------------------------------------------------------------------
# Grad modes
# --------------------------------------------------------------------------

def test_no_grad_context():
    x = torch.ones(2, requires_grad=True)
    assert torch.is_grad_enabled()
    with torch.no_grad():
        assert not torch.is_grad_enabled()
        y = x * 2
    assert torch.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    np.testing.assert_array_equal(arr(y), [2.0, 2.0])


def test_enable_grad_inside_no_grad():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        with torch.enable_grad():
            assert torch.is_grad_enabled()
            y = x * 2
        z = x * 2
    assert y.requires_grad and node_name(y) == "MulBackward0"
    assert not z.requires_grad


def test_set_grad_enabled_as_function():
    x = torch.ones(2, requires_grad=True)
    try:
        torch.set_grad_enabled(False)
        assert not torch.is_grad_enabled()
        y = x * 2
    finally:
        torch.set_grad_enabled(True)
    assert torch.is_grad_enabled()
    assert not y.requires_grad


def test_set_grad_enabled_as_context_manager():
    x = torch.ones(2, requires_grad=True)
    with torch.set_grad_enabled(False):
        y = x * 2
        with torch.set_grad_enabled(True):
            z = x * 2
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert not y.requires_grad and z.requires_grad
    with torch.no_grad():
        with torch.set_grad_enabled(True):
            w = x * 2
        assert not torch.is_grad_enabled()
    assert w.requires_grad


def test_set_grad_enabled_as_decorator():
    x = torch.ones(2, requires_grad=True)

    @torch.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert torch.is_grad_enabled()
    assert not f(x).requires_grad
    assert torch.is_grad_enabled()
    assert (x * 2).requires_grad


def test_no_grad_decorators():
    x = torch.ones(2, requires_grad=True)

    @torch.no_grad()
    def f(t):
        return t * 2

    @torch.no_grad
    def g(t):
        return t * 3

    assert not f(x).requires_grad
    assert not g(x).requires_grad
    np.testing.assert_array_equal(arr(g(x)), [3.0, 3.0])
    assert g.__name__ == "g"
    assert torch.is_grad_enabled()


def test_enable_grad_decorator_inside_no_grad():
    x = torch.ones(2, requires_grad=True)

    @torch.enable_grad()
    def f(t):
        return t * 2

    with torch.no_grad():
        y = f(x)
    assert y.requires_grad


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ValueError):
        with torch.no_grad():
            raise ValueError("boom")
    assert torch.is_grad_enabled()


def test_inference_mode():
    x = torch.ones(2, requires_grad=True)
    with torch.inference_mode():
        assert not torch.is_grad_enabled()
        assert torch.is_inference_mode_enabled()
        y = x * 2
    assert not torch.is_inference_mode_enabled()
    assert not y.requires_grad
    with torch.inference_mode(False):
        z = x * 2
    assert z.requires_grad

    @torch.inference_mode()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_operations_on_no_grad_result_do_not_record():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        y = x * 2
    z = y * 3
    assert not z.requires_grad


# --------------------------------------------------------------------------
# detach, detach_, requires_grad_
# --------------------------------------------------------------------------

def test_detach_shares_data_and_cuts_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 100.0
    np.testing.assert_array_equal(arr(y), [100.0, 4.0])
    # gradient does not flow through the detached branch
    (y + d * 5).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [2.0, 2.0])


def test_detach_shares_version_counter():
    x = torch.ones(3, requires_grad=True)
    e = x.exp()
    d = e.detach()
    v = version(e)
    d.zero_()
    assert version(e) == v + 1
    with pytest.raises(RuntimeError, match="which is output 0 of Exp, is at version 1; expected version 0"):
        e.sum().backward()


def test_detach_inplace():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    out = y.detach_()
    assert out is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None


def test_requires_grad_():
    t = torch.ones(2)
    assert not t.requires_grad
    assert t.requires_grad_() is t
    assert t.requires_grad and t.is_leaf
    t.requires_grad_(False)
    assert not t.requires_grad
    t.requires_grad = True
    (t * 3).sum().backward()
    np.testing.assert_array_equal(arr(t.grad), [3.0, 3.0])


# --------------------------------------------------------------------------
# In-place operations on non-leaf tensors
# --------------------------------------------------------------------------

def _leaf():
    return torch.tensor([1.0, 2.0, 3.0], requires_grad=True)


def test_add_inplace_on_non_leaf():
    x = _leaf()
    y = x * 1
    out = y.add_(2)
    assert out is y
    assert node_name(y) == "AddBackward0"
    np.testing.assert_array_equal(arr(y), [3.0, 4.0, 5.0])
    (y * y).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [6.0, 8.0, 10.0])


def test_add_inplace_with_alpha():
    x = _leaf()
    w = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = x * 1
    y.add_(w, alpha=3)
    y.sum().backward()
    np.testing.assert_array_equal(arr(y), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(arr(w.grad), [3.0, 3.0, 3.0])


def test_sub_inplace_on_non_leaf():
    x = _leaf()
    y = x * 2
    y.sub_(x)
    assert node_name(y) == "SubBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [1.0, 1.0, 1.0])


def test_mul_inplace_on_non_leaf():
    x = _leaf()
    y = x * 1
    y.mul_(x)
    assert node_name(y) == "MulBackward0"
    np.testing.assert_array_equal(arr(y), [1.0, 4.0, 9.0])
    y.sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0, 6.0])


def test_div_inplace_on_non_leaf():
    x = _leaf()
    y = x ** 2
    y.div_(x)
    assert node_name(y) == "DivBackward0"
    np.testing.assert_allclose(arr(y), [1.0, 2.0, 3.0])
    y.sum().backward()
    np.testing.assert_allclose(arr(x.grad), [1.0, 1.0, 1.0], rtol=1e-6)


def test_augmented_assignment_on_non_leaf():
    x = _leaf()
    y = x * 1
    y += x
    y *= 3
    y -= x
    np.testing.assert_array_equal(arr(y), [5.0, 10.0, 15.0])
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [5.0, 5.0, 5.0])


def test_true_division_assignment_on_non_leaf():
    x = _leaf()
    y = x * 4
    y /= 2
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [2.0, 2.0, 2.0])


def test_copy_inplace_into_fresh_tensor():
    x = _leaf()
    y = torch.zeros(3)
    y.copy_(x * 3)
    assert y.requires_grad and node_name(y) == "CopyBackwards"
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [3.0, 3.0, 3.0])


def test_copy_inplace_over_non_leaf_gives_zero_gradient_to_old_values():
    x = _leaf()
    w = torch.tensor([4.0, 5.0, 6.0], requires_grad=True)
    y = x * 1
    y.copy_(w)
    assert node_name(y) == "CopyBackwards"
    y.sum().backward()
    np.testing.assert_array_equal(arr(w.grad), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(arr(x.grad), [0.0, 0.0, 0.0])


def test_copy_inplace_broadcasts_and_casts():
    y = torch.zeros(2, 3)
    y.copy_(torch.tensor([1, 2, 3]))
    assert y.dtype == torch.float32
    np.testing.assert_array_equal(arr(y), [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])


def test_zero_inplace_on_non_leaf():
    x = _leaf()
    y = x * 2
    y.zero_()
    assert y.requires_grad and node_name(y) == "ZeroBackward0"
    (y + x).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [1.0, 1.0, 1.0])


def test_fill_inplace_on_non_leaf():
    x = _leaf()
    y = x * 2
    y.fill_(5.0)
    assert y.requires_grad and node_name(y) == "FillBackward2"
    np.testing.assert_array_equal(arr(y), [5.0, 5.0, 5.0])
    (y * x).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [5.0, 5.0, 5.0])


def test_version_counter_counts_inplace_writes():
    t = torch.ones(3)
    v0 = version(t)
    t.add_(1)
    assert version(t) == v0 + 1
    t[0] = 5.0
    assert version(t) == v0 + 2
    t.zero_()
    t.mul_(2)
    assert version(t) == v0 + 4
    _ = t + 1
    _ = t * 2
    assert version(t) == v0 + 4
    np.testing.assert_array_equal(arr(t), [0.0, 0.0, 0.0])


def test_slice_view_shares_data_and_version():
    x = torch.ones(3)
    v = x[:2]
    v.add_(1)
    np.testing.assert_array_equal(arr(x), [2.0, 2.0, 1.0])
    assert version(x) == version(v) == 1


def test_inplace_on_output_of_pow_is_allowed():
    # PowBackward0 saves its input, not its result: changing the result is harmless.
    x = _leaf()
    b = x * 1
    c = b ** 2
    c.add_(1)
    c.sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0, 6.0])


def test_inplace_on_input_of_exp_is_allowed():
    x = _leaf()
    b = x * 1
    c = b.exp()
    b.add_(1)
    c.sum().backward()
    np.testing.assert_allclose(arr(x.grad), np.exp([1.0, 2.0, 3.0]), rtol=1e-6)


def test_inplace_ops_under_no_grad_on_leaf():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.no_grad():
        w -= 0.5 * torch.tensor([2.0, 2.0])
        w.mul_(2)
    assert w.is_leaf and w.requires_grad
    np.testing.assert_array_equal(arr(w), [0.0, 2.0])
    (w * w).sum().backward()
    np.testing.assert_array_equal(arr(w.grad), [0.0, 4.0])


# --------------------------------------------------------------------------
# __setitem__
# --------------------------------------------------------------------------

def test_setitem_constant_into_non_leaf():
    x = _leaf()
    y = x * 1
    y[0] = 10.0
    assert node_name(y) == "CopySlices"
    np.testing.assert_array_equal(arr(y), [10.0, 2.0, 3.0])
    (y * 2).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [0.0, 2.0, 2.0])


def test_setitem_tensor_requiring_grad_into_plain_tensor():
    x = _leaf()
    y = torch.zeros(3)
    y[1:] = x[:2] * 2
    assert y.requires_grad and node_name(y) == "CopySlices"
    np.testing.assert_array_equal(arr(y), [0.0, 2.0, 4.0])
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [4.0, 6.0, 0.0])


def test_setitem_boolean_mask_and_2d():
    x = torch.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    y = x * 1
    y[y < 0] = 0.0
    np.testing.assert_array_equal(arr(y), [[1.0, 0.0], [0.0, 4.0]])
    y.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [[1.0, 0.0], [0.0, 1.0]])
    z = torch.zeros(2, 2)
    z[:, 1] = x[0]
    z.sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [[2.0, 1.0], [0.0, 1.0]])


def test_setitem_without_grad_writes_in_place():
    t = torch.zeros(2, 3)
    t[1] = torch.tensor([1.0, 2.0, 3.0])
    t[0, 0] = 7
    np.testing.assert_array_equal(arr(t), [[7.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    assert not t.requires_grad


# --------------------------------------------------------------------------
# Custom autograd.Function
# --------------------------------------------------------------------------

class MyFn(torch.autograd.Function):
    """f(x, w, k) = k * x * w with a hand-written backward; records ctx information."""

    log = []

    @staticmethod
    def forward(ctx, x, w, k):
        ctx.save_for_backward(x, w)
        ctx.k = k
        MyFn.log.append(("needs", tuple(ctx.needs_input_grad), torch.is_grad_enabled()))
        return x * w * k

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        MyFn.log.append(("backward", tuple(g.shape)))
        gx = g * w * ctx.k if ctx.needs_input_grad[0] else None
        gw = g * x * ctx.k if ctx.needs_input_grad[1] else None
        return gx, gw, None


def test_custom_function_forward_backward():
    MyFn.log.clear()
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0])
    y = MyFn.apply(x, w, 2.0)
    np.testing.assert_array_equal(arr(y), [6.0, 16.0])
    assert y.requires_grad and not y.is_leaf
    assert MyFn.log[0] == ("needs", (True, False, False), False)  # forward runs without recording
    y.sum().backward()
    assert MyFn.log[1] == ("backward", (2,))
    np.testing.assert_array_equal(arr(x.grad), [6.0, 8.0])
    assert w.grad is None


def test_custom_function_node_name_and_repr():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = MyFn.apply(x, torch.ones(2), 1.0)
    assert type(y.grad_fn).__name__ == "MyFnBackward"
    assert y.grad_fn.name() == "MyFnBackward"
    # PyTorch's custom-Function nodes are Python classes of module torch.autograd.function.
    assert repr(y.grad_fn).startswith("<torch.autograd.function.MyFnBackward object at 0x")
    assert repr(y) == "tensor([1., 2.], grad_fn=<MyFnBackward>)"
    acc, nr = y.grad_fn.next_functions[0]
    assert type(acc).__name__ == "AccumulateGrad" and nr == 0 and acc.variable is x
    assert y.grad_fn.next_functions[1] == (None, 0)


def test_custom_function_without_inputs_requiring_grad_is_not_recorded():
    y = MyFn.apply(torch.ones(2), torch.ones(2), 3.0)
    assert y.grad_fn is None and not y.requires_grad


def test_custom_function_with_create_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(arr(g), [3.0, 12.0])
    assert g.requires_grad
    (g2,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(arr(g2), [6.0, 12.0])


def test_custom_function_multiple_outputs():
    class SplitScale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = torch.tensor([1.0, 1.0], requires_grad=True)
    a, b = SplitScale.apply(x)
    assert a.grad_fn is b.grad_fn
    (a.sum() + 10 * b.sum()).backward()
    np.testing.assert_array_equal(arr(x.grad), [32.0, 32.0])


def test_custom_function_in_larger_graph():
    x = torch.tensor([0.5, -1.0], requires_grad=True)
    w = torch.tensor([2.0, 3.0], requires_grad=True)
    y = MyFn.apply(x.exp(), w, 1.0).sum()
    y.backward()
    np.testing.assert_allclose(arr(x.grad), np.exp([0.5, -1.0]) * [2.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(arr(w.grad), np.exp([0.5, -1.0]), rtol=1e-6)


# --------------------------------------------------------------------------
# Graph structure
# --------------------------------------------------------------------------

def test_next_functions_of_mul_by_scalar():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    nf = y.grad_fn.next_functions
    assert isinstance(nf, tuple) and len(nf) == 2
    acc, nr = nf[0]
    assert type(acc).__name__ == "AccumulateGrad" and nr == 0
    assert repr(acc).startswith("<AccumulateGrad object at 0x")
    assert acc.variable is x
    assert nf[1] == (None, 0)
    assert y.grad_fn.name() == "MulBackward0"


def test_next_functions_of_reflected_mul_puts_tensor_first():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    nf = (2 * x).grad_fn.next_functions
    assert type(nf[0][0]).__name__ == "AccumulateGrad"
    assert nf[1] == (None, 0)


def test_next_functions_share_accumulate_grad_and_chain():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.ones(2)
    y = x * x
    (a, _), (b, _) = y.grad_fn.next_functions
    assert a is b
    h = x * 2
    z = h + 1
    assert z.grad_fn.next_functions[0][0] is h.grad_fn
    assert z.grad_fn.next_functions[1] == (None, 0)
    assert (x * w).grad_fn.next_functions[1] == (None, 0)
    assert x.grad_fn is None and x.is_leaf


def test_cross_entropy_graph_structure():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]], requires_grad=True)
    loss = F.cross_entropy(logits, torch.tensor([1, 2]))
    assert node_name(loss) == "NllLossBackward0"
    assert type(loss.grad_fn.next_functions[0][0]).__name__ == "LogSoftmaxBackward0"
    inner = loss.grad_fn.next_functions[0][0].next_functions
    assert type(inner[0][0]).__name__ == "AccumulateGrad" and inner[0][0].variable is logits


def test_cross_entropy_next_functions_exclude_target():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]], requires_grad=True)
    loss = F.cross_entropy(logits, torch.tensor([1, 2]))
    assert len(loss.grad_fn.next_functions) == 1


def test_vector_matmul_graph_structure():
    # PyTorch records 1-D @ 2-D as unsqueeze, mm, squeeze; tracegrad records one matmul node with
    # PyTorch's outer name whose edges lead straight to the operands (documented divergence).
    x = torch.ones(3, requires_grad=True)
    m = torch.ones(2, 3, requires_grad=True)
    y = x @ m.T
    assert node_name(y) == "SqueezeBackward4"
    assert [type(n).__name__ for n, _ in y.grad_fn.next_functions] == ["AccumulateGrad", "PermuteBackward0"]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(m.grad.numpy(), np.ones((2, 3)))


# --------------------------------------------------------------------------
# Very deep graphs
# --------------------------------------------------------------------------

def test_100k_multiplication_chain_backward():
    x = torch.ones(1, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    y.sum().backward()
    expected = float(np.float64(np.float32(1.0001)) ** 100_000)
    assert x.grad.item() == pytest.approx(expected, rel=2e-3)
    assert x.grad.item() == pytest.approx(y.item(), rel=1e-4)


class _Marker:
    """An object kept alive only by a hook stored in a graph node."""


def _free_and_check(make_head):
    """Build a deep graph whose first node holds a hook, delete it, and check it was freed quietly."""
    marker = _Marker()
    alive = weakref.ref(marker)
    y = make_head(marker)
    del marker
    gc.collect()
    assert alive() is not None  # the graph keeps the hook (and the marker) alive
    errors = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda info: errors.append(info.exc_type)
    try:
        del y
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert errors == []
    assert alive() is None


def test_100k_addition_chain_backward_and_free():
    x = torch.tensor(1.0, requires_grad=True)

    def build(marker):
        y = x * 1
        y.register_hook(lambda g, m=marker: None)
        for _ in range(100_000):
            y = y + x
        y.backward(retain_graph=True)
        assert x.grad.item() == 100_001.0
        assert y.item() == 100_001.0
        return y

    # Deleting the head of a 100,000-node graph frees it without recursing.
    _free_and_check(build)


def test_deep_saved_graph_is_freed_on_delete():
    x = torch.tensor([0.5], requires_grad=True)

    def build(marker):
        y = x.sin()
        y.register_hook(lambda g, m=marker: None)
        for _ in range(100_000):
            y = y.sin()
        return y

    _free_and_check(build)


# --------------------------------------------------------------------------
# Dtypes of gradients
# --------------------------------------------------------------------------

def test_float64_seed_into_float32_graph():
    x = torch.ones(3, requires_grad=True)
    y = x * 2
    y.backward(torch.tensor([1.0, 2.0, 3.0], dtype=float))
    assert x.grad.dtype == torch.float32
    np.testing.assert_array_equal(arr(x.grad), [2.0, 4.0, 6.0])


def test_int_seed_into_float32_graph():
    x = torch.ones(3, requires_grad=True)
    (x * 2).backward(torch.tensor([1, 2, 3]))
    assert x.grad.dtype == torch.float32
    np.testing.assert_array_equal(arr(x.grad), [2.0, 4.0, 6.0])


def test_mixed_dtype_gradients():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    c = a * b
    assert c.dtype == torch.float64
    c.sum().backward()
    assert a.grad.dtype == torch.float32 and b.grad.dtype == torch.float64
    np.testing.assert_array_equal(arr(a.grad), [3.0, 4.0])
    np.testing.assert_array_equal(arr(b.grad), [1.0, 2.0])


def test_gradient_through_dtype_cast():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(torch.float64)
    assert node_name(y) == "ToCopyBackward0" and y.dtype == torch.float64
    (y ** 2).sum().backward()
    assert x.grad.dtype == torch.float32
    np.testing.assert_array_equal(arr(x.grad), [2.0, 4.0])
    d = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    (d.float() * 3).sum().backward()
    assert d.grad.dtype == torch.float64 and d.grad.item() == 3.0


def test_float32_plus_0d_float64_stays_float32_and_grads_keep_dtype():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    s = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    y = a * s
    assert y.dtype == torch.float32
    y.sum().backward()
    assert s.grad.dtype == torch.float64 and s.grad.shape == ()
    assert s.grad.item() == 3.0


# --------------------------------------------------------------------------
# Broadcasting gradients
# --------------------------------------------------------------------------

def test_broadcast_column_times_row():
    a_np = np.array([[1.0], [2.0], [3.0]])
    b_np = np.array([[1.0, -1.0, 2.0, 0.5]])
    a = torch.tensor(a_np, requires_grad=True)
    b = torch.tensor(b_np, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4)
    np.testing.assert_allclose(arr(a.grad), np.full((3, 1), b_np.sum()))
    np.testing.assert_allclose(arr(b.grad), np.full((1, 4), a_np.sum()))


def test_broadcast_scalar_tensor_times_vector():
    s = torch.tensor(2.0, requires_grad=True)
    v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (s * v).sum().backward()
    assert s.grad.shape == torch.Size([])
    assert s.grad.item() == 6.0
    np.testing.assert_array_equal(arr(v.grad), [2.0, 2.0, 2.0])


def test_broadcast_bias_and_weighted_upstream():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    bias = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    weights = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ((x + bias) * weights).sum().backward()
    np.testing.assert_allclose(arr(bias.grad), [5.0, 7.0, 9.0])
    np.testing.assert_allclose(arr(x.grad), arr(weights))


def test_broadcast_leading_dims_and_keepdim():
    x = torch.ones(2, 3, 4, requires_grad=True)
    y = torch.ones(4, requires_grad=True)
    z = torch.ones(3, 1, requires_grad=True)
    (x * y * z).sum().backward()
    np.testing.assert_array_equal(arr(y.grad), np.full(4, 6.0))
    np.testing.assert_array_equal(arr(z.grad), np.full((3, 1), 8.0))
    m = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (m / m.sum(1, keepdim=True)).sum().backward()
    np.testing.assert_allclose(arr(m.grad), np.zeros((2, 2)), atol=1e-7)


def test_expand_gradient_sums():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.expand(3, 2)
    assert node_name(y) == "ExpandBackward0"
    (y * torch.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [6.0, 6.0])


# --------------------------------------------------------------------------
# Indexing gradients
# --------------------------------------------------------------------------

def test_repeated_integer_indices_accumulate():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [3.0, 0.0, 1.0, 0.0])
    x.grad = None
    (x[torch.tensor([1, 1, 3])] * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [0.0, 11.0, 0.0, 100.0])


def test_boolean_mask_gradient():
    x = torch.tensor([1.0, -2.0, 3.0, -4.0], requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(arr(y), [1.0, 3.0])
    (y * 2).sum().backward()
    np.testing.assert_array_equal(arr(x.grad), [2.0, 0.0, 2.0, 0.0])


def test_basic_index_and_slice_gradients():
    m = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    (m[:, 1].sum() + m[1, 2] * 10 + m[0, ::2].sum() + m[..., -1].sum()).backward()
    np.testing.assert_array_equal(arr(m.grad), [[1.0, 1.0, 2.0], [0.0, 1.0, 11.0]])


def test_advanced_index_pairs_gradient():
    m = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = m[[0, 1, 0], [2, 0, 2]]
    np.testing.assert_array_equal(arr(y), [3.0, 4.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(arr(m.grad), [[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])


# --------------------------------------------------------------------------
# max / min
# --------------------------------------------------------------------------

def test_max_with_ties_distributes_evenly():
    t = torch.tensor([1.0, 3.0, 3.0], requires_grad=True)
    t.max().backward()
    np.testing.assert_array_equal(arr(t.grad), [0.0, 0.5, 0.5])
    t.grad = None
    t.amax().backward()
    np.testing.assert_array_equal(arr(t.grad), [0.0, 0.5, 0.5])


def test_min_with_ties_distributes_evenly():
    u = torch.tensor([1.0, 1.0, 3.0], requires_grad=True)
    u.min().backward()
    np.testing.assert_array_equal(arr(u.grad), [0.5, 0.5, 0.0])
    u.grad = None
    torch.amin(u).backward()
    np.testing.assert_array_equal(arr(u.grad), [0.5, 0.5, 0.0])


def test_max_over_dim_returns_values_and_indices():
    m = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]], requires_grad=True)
    r = m.max(1)
    values, indices = r
    assert r.values is values and r.indices is indices
    assert repr(r) == ("torch.return_types.max(\nvalues=tensor([3., 2.], grad_fn=<MaxBackward0>),\n"
                       "indices=tensor([1, 0]))")
    assert indices.dtype == torch.int64
    values.sum().backward()
    np.testing.assert_array_equal(arr(m.grad), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_min_over_dim_keepdim_repr():
    m = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]])
    r = torch.min(m, dim=1, keepdim=True)
    assert repr(r) == ("torch.return_types.min(\nvalues=tensor([[1.],\n        [1.]]),\n"
                       "indices=tensor([[0],\n        [2]]))")
    r0 = torch.max(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), 0)
    assert repr(r0) == "torch.return_types.max(\nvalues=tensor([7., 5.]),\nindices=tensor([1, 0]))"


def test_maximum_ties_split_gradient():
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = torch.tensor([1.0, 0.0, 5.0], requires_grad=True)
    torch.maximum(a, c).sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(arr(c.grad), [0.5, 0.0, 1.0])


def test_subgradients_at_kinks():
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a.clamp(1.0, 2.0).sum().backward()
    np.testing.assert_array_equal(arr(a.grad), [1.0, 1.0, 0.0])
    r = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    r.relu().sum().backward()
    np.testing.assert_array_equal(arr(r.grad), [0.0, 1.0, 0.0])
    p = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    p.abs().sum().backward()
    np.testing.assert_array_equal(arr(p.grad), [-1.0, 0.0, 1.0])
    q0 = torch.zeros(3, requires_grad=True)
    q0.norm().backward()
    np.testing.assert_array_equal(arr(q0.grad), [0.0, 0.0, 0.0])


def test_norm_gradient():
    q = torch.tensor([0.0, 1.0, 4.0], requires_grad=True)
    q.norm().backward()
    np.testing.assert_allclose(arr(q.grad), np.array([0.0, 1.0, 4.0]) / np.sqrt(17.0), rtol=1e-6)


# --------------------------------------------------------------------------
# matmul gradients
# --------------------------------------------------------------------------

_rng = np.random.default_rng(0)


def _pair(*shapes):
    return [_rng.standard_normal(s) for s in shapes]


def test_matmul_1d_1d_gradient():
    a_np, b_np = _pair((4,), (4,))
    a, b = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    y = a @ b
    assert y.shape == torch.Size([]) and node_name(y) == "DotBackward0"
    y.backward()
    np.testing.assert_allclose(arr(a.grad), b_np)
    np.testing.assert_allclose(arr(b.grad), a_np)


def test_matmul_2d_1d_and_1d_2d_gradient():
    m_np, v_np, g_np = _pair((3, 4), (4,), (3,))
    m, v = torch.tensor(m_np, requires_grad=True), torch.tensor(v_np, requires_grad=True)
    y = m @ v
    assert node_name(y) == "MvBackward0"
    y.backward(torch.tensor(g_np))
    np.testing.assert_allclose(arr(m.grad), np.outer(g_np, v_np))
    np.testing.assert_allclose(arr(v.grad), m_np.T @ g_np)
    u_np, g2_np = _pair((3,), (4,))
    u = torch.tensor(u_np, requires_grad=True)
    m.grad = None
    z = u @ m
    z.backward(torch.tensor(g2_np))
    np.testing.assert_allclose(arr(u.grad), m_np @ g2_np)
    np.testing.assert_allclose(arr(m.grad), np.outer(u_np, g2_np))


def test_matmul_2d_2d_gradient():
    a_np, b_np, g_np = _pair((2, 3), (3, 4), (2, 4))
    a, b = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    y = a @ b
    assert node_name(y) == "MmBackward0"
    y.backward(torch.tensor(g_np))
    np.testing.assert_allclose(arr(a.grad), g_np @ b_np.T)
    np.testing.assert_allclose(arr(b.grad), a_np.T @ g_np)


def test_matmul_batched_gradients():
    a_np, b_np, g_np = _pair((5, 2, 3), (5, 3, 4), (5, 2, 4))
    a, b = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    y = torch.matmul(a, b)
    assert y.shape == (5, 2, 4) and node_name(y) == "UnsafeViewBackward0"
    y.backward(torch.tensor(g_np))
    np.testing.assert_allclose(arr(a.grad), g_np @ b_np.transpose(0, 2, 1))
    np.testing.assert_allclose(arr(b.grad), a_np.transpose(0, 2, 1) @ g_np)


def test_matmul_broadcast_batch_gradient_sums_over_batch():
    a_np, w_np, g_np = _pair((5, 2, 3), (3, 4), (5, 2, 4))
    a, w = torch.tensor(a_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    (a @ w).backward(torch.tensor(g_np))
    assert w.grad.shape == (3, 4)
    np.testing.assert_allclose(arr(w.grad), np.einsum("bij,bik->jk", a_np, g_np))
    np.testing.assert_allclose(arr(a.grad), g_np @ w_np.T)


# --------------------------------------------------------------------------
# Node names (each expected name printed by PyTorch 2.13)
# --------------------------------------------------------------------------

NODE_NAMES = [
    ("x + 2", "AddBackward0"), ("2 + x", "AddBackward0"), ("x + x", "AddBackward0"),
    ("x - 2", "SubBackward0"), ("2 - x", "RsubBackward1"), ("x - x", "SubBackward0"), ("-x", "NegBackward0"),
    ("x * 2", "MulBackward0"), ("2 * x", "MulBackward0"), ("x * x", "MulBackward0"),
    ("x / 2", "DivBackward0"), ("2 / x", "MulBackward0"), ("x / x", "DivBackward0"),
    ("x ** 2", "PowBackward0"), ("x ** x", "PowBackward1"), ("2 ** x", "PowBackward2"), ("x ** 0.5", "PowBackward0"),
    ("torch.pow(x, 2)", "PowBackward0"), ("torch.pow(2, x)", "PowBackward2"),
    ("x.add(1)", "AddBackward0"), ("x.mul(2)", "MulBackward0"), ("x.sub(1)", "SubBackward0"),
    ("x.div(2)", "DivBackward0"), ("torch.add(x, 1)", "AddBackward0"), ("torch.mul(x, 2)", "MulBackward0"),
    ("x.sum()", "SumBackward0"), ("m.sum()", "SumBackward0"), ("x.sum(0)", "SumBackward1"),
    ("m.sum(1)", "SumBackward1"), ("m.sum(-1)", "SumBackward1"), ("m.sum(dim=(0, 1))", "SumBackward1"),
    ("m.sum(1, keepdim=True)", "SumBackward1"),
    ("x.mean()", "MeanBackward0"), ("m.mean()", "MeanBackward0"), ("m.mean(0)", "MeanBackward1"),
    ("x @ x", "DotBackward0"), ("torch.matmul(x, x)", "DotBackward0"), ("x.dot(x)", "DotBackward0"),
    ("m @ x", "MvBackward0"), ("x @ m.T", "SqueezeBackward4"), ("m @ m.T", "MmBackward0"),
    ("m.mm(m.t())", "MmBackward0"), ("b @ m.T", "UnsafeViewBackward0"),
    ("b @ b.transpose(1, 2)", "UnsafeViewBackward0"),
    ("m.T", "PermuteBackward0"), ("m.mT", "TransposeBackward0"), ("m.t()", "TBackward0"), ("x.t()", "TBackward0"),
    ("m.transpose(0, 1)", "TransposeBackward0"), ("m.permute(1, 0)", "PermuteBackward0"),
    ("m.reshape(3, 2)", "ViewBackward0"), ("m.view(3, 2)", "ViewBackward0"), ("m.view(-1)", "ViewBackward0"),
    ("m.flatten()", "ViewBackward0"), ("x.reshape(3, 1)", "ViewBackward0"),
    ("m.unsqueeze(0)", "UnsqueezeBackward0"), ("m.unsqueeze(0).squeeze()", "SqueezeBackward0"),
    ("m.unsqueeze(0).squeeze(0)", "SqueezeBackward1"),
    ("m.expand(2, 2, 3)", "ExpandBackward0"), ("x.expand(2, 3)", "ExpandBackward0"),
    ("x[0]", "SelectBackward0"), ("x[1:]", "SliceBackward0"), ("m[0]", "SelectBackward0"),
    ("m[:, 1]", "SelectBackward0"), ("m[None]", "UnsqueezeBackward0"), ("m[0, 1]", "SelectBackward0"),
    ("m[..., 0]", "SelectBackward0"), ("x[torch.tensor([0, 2])]", "IndexBackward0"),
    ("x[[0, 0]]", "IndexBackward0"), ("x[x > 1]", "IndexBackward0"),
    ("torch.cat([x, x])", "CatBackward0"), ("torch.stack([x, x])", "StackBackward0"),
    ("x.to(torch.float64)", "ToCopyBackward0"), ("x.double()", "ToCopyBackward0"), ("x.clone()", "CloneBackward0"),
    ("x.exp()", "ExpBackward0"), ("torch.exp(x)", "ExpBackward0"), ("x.log()", "LogBackward0"),
    ("x.sin()", "SinBackward0"), ("x.cos()", "CosBackward0"), ("x.tanh()", "TanhBackward0"),
    ("torch.tanh(x)", "TanhBackward0"), ("x.sigmoid()", "SigmoidBackward0"), ("torch.sigmoid(x)", "SigmoidBackward0"),
    ("F.sigmoid(x)", "SigmoidBackward0"), ("x.relu()", "ReluBackward0"), ("F.relu(x)", "ReluBackward0"),
    ("torch.relu(x)", "ReluBackward0"), ("x.sqrt()", "SqrtBackward0"), ("x.abs()", "AbsBackward0"),
    ("x.neg()", "NegBackward0"), ("x.square()", "PowBackward0"), ("x.reciprocal()", "ReciprocalBackward0"),
    ("x.rsqrt()", "RsqrtBackward0"), ("x.log1p()", "Log1PBackward0"), ("x.expm1()", "Expm1Backward0"),
    ("x.sign()", "SignBackward0"),
    ("x.softmax(0)", "SoftmaxBackward0"), ("F.softmax(x, dim=0)", "SoftmaxBackward0"),
    ("x.log_softmax(0)", "LogSoftmaxBackward0"), ("F.log_softmax(x, dim=0)", "LogSoftmaxBackward0"),
    ("x.logsumexp(0)", "LogsumexpBackward0"), ("torch.logsumexp(m, 1)", "LogsumexpBackward0"),
    ("x.norm()", "LinalgVectorNormBackward0"), ("m.norm(dim=1)", "LinalgVectorNormBackward0"),
    ("x.clamp(0, 2)", "ClampBackward1"), ("x.clamp(min=0)", "ClampBackward1"), ("x.clamp(max=2)", "ClampBackward1"),
    ("torch.clamp(x, 0, 2)", "ClampBackward1"),
    ("torch.where(x > 1, x, 0.0)", "WhereBackward0"), ("torch.where(x > 1, x, x * 2)", "WhereBackward0"),
    ("torch.maximum(x, x * 2)", "MaximumBackward0"), ("torch.minimum(x, x * 2)", "MinimumBackward0"),
    ("torch.max(x, x * 2)", "MaximumBackward0"),
    ("x.max()", "MaxBackward1"), ("x.min()", "MinBackward1"), ("x.amax()", "AmaxBackward0"),
    ("x.amin()", "AminBackward0"), ("m.amax(1)", "AmaxBackward0"), ("m.max(1).values", "MaxBackward0"),
    ("m.min(1).values", "MinBackward0"), ("torch.max(m, 1)[0]", "MaxBackward0"),
    ("F.mse_loss(x, torch.zeros(3))", "MseLossBackward0"),
    ("F.binary_cross_entropy(x.sigmoid(), torch.ones(3))", "BinaryCrossEntropyBackward0"),
    ("F.binary_cross_entropy_with_logits(x, torch.ones(3))", "BinaryCrossEntropyWithLogitsBackward0"),
    ("F.cross_entropy(m, torch.tensor([0, 1]))", "NllLossBackward0"),
    ("F.nll_loss(m.log_softmax(1), torch.tensor([0, 1]))", "NllLossBackward0"),
    ("F.softplus(x)", "SoftplusBackward0"),
    ("s * 2", "MulBackward0"), ("x.unsqueeze(1) * x.unsqueeze(0)", "MulBackward0"),
]


@pytest.mark.parametrize("expr, name", NODE_NAMES, ids=[e for e, _ in NODE_NAMES])
def test_node_name(expr, name):
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = torch.ones(2, 3, requires_grad=True)
    b = torch.ones(4, 2, 3, requires_grad=True)
    s = torch.tensor(2.0, requires_grad=True)
    y = eval(expr, {"torch": torch, "F": F, "x": x, "m": m, "b": b, "s": s})
    assert type(y.grad_fn).__name__ == name
    assert repr(y.grad_fn).startswith(f"<{name} object at 0x")


def test_cast_to_same_dtype_records_nothing():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert x.float() is x and x.float().grad_fn is None
