"""Errors and warnings of eager tracegrad, checked against PyTorch's exact text.

Every expected message below was printed by PyTorch 2.13 (CPU) for the same
program; ``import tracegrad as torch`` must raise the same exception type
with the same text.  tracegrad may append one line of context after
PyTorch's text (the op, the input shapes and the caller's ``file.py:LINE``);
for shape mismatches in elementwise ops and matmul that context is asserted
too.  torch itself is not imported here.
"""
import re
import sys
import warnings

import numpy as np
import pytest

import tracegrad as torch
import tracegrad.nn.functional as F

# The context line is tracegrad's addition; the same file run under PyTorch skips it.
TRACEGRAD = torch.__name__ == "tracegrad"

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
         "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
         "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
         "if you need to access saved tensors after calling backward.")
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
NON_LEAF_GRAD = ("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
                 "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
                 "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor "
                 "by mistake, make sure you access the leaf Tensor instead. See "
                 "github.com/pytorch/pytorch/pull/30531 for more information.")
HINT = ("Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False).")


def version_message(type_string, producer, now, expected=0):
    where = f", which is output 0 of {producer}," if producer else ""
    return (f"one of the variables needed for gradient computation has been modified by an inplace operation: "
            f"{type_string}{where} is at version {now}; expected version {expected} instead. {HINT}")


def _next_line() -> int:
    """Line number of the caller's next line (the line expected in the error context)."""
    return sys._getframe(1).f_lineno + 1


def assert_first_line(excinfo, message):
    """PyTorch's text is the whole first line of the message (tracegrad may add context below)."""
    assert str(excinfo.value).split("\n")[0] == message


def assert_context(excinfo, op, shapes, line):
    """The appended context names the op, each input shape and test_errors.py:LINE of the call."""
    text = str(excinfo.value)
    if not TRACEGRAD:
        return
    assert "\n" in text, f"no context line in {text!r}"
    context = text.split("\n", 1)[1]
    assert op in context, context
    for shape in shapes:
        assert shape in context, context
    assert f"test_errors.py:{line}" in context, context


# --------------------------------------------------------------------------
# backward(): implicit gradient, freed graphs, missing grad_fn
# --------------------------------------------------------------------------

def test_backward_non_scalar_needs_gradient():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("grad can be implicitly created only for scalar outputs")):
        (x * 2).backward()
    assert x.grad is None


def test_autograd_grad_non_scalar_needs_grad_outputs():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("grad can be implicitly created only for scalar outputs")):
        torch.autograd.grad(x * 2, x)


def test_backward_twice_through_saved_tensors():
    x = torch.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=re.escape(FREED)):
        y.backward()
    # The first backward still accumulated.
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_autograd_grad_twice_through_saved_tensors():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    torch.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match=re.escape(FREED)):
        torch.autograd.grad(y, x)


def test_backward_twice_mul_by_python_scalar_is_freed():
    # PyTorch's MulBackward0 keeps the scalar operand as saved state, freed after the first backward.
    x = torch.ones(3, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=re.escape(FREED)):
        y.backward()


@pytest.mark.parametrize("expr, expected", [
    ("x.sum()", [2.0, 2.0, 2.0]),
    ("(x + 2).sum()", [2.0, 2.0, 2.0]),
    ("(-x).sum()", [-2.0, -2.0, -2.0]),
    ("(x - x).sum()", [0.0, 0.0, 0.0]),
    ("x.view(3, 1).sum()", [2.0, 2.0, 2.0]),
    ("x.clone().sum()", [2.0, 2.0, 2.0]),
    ("x.expand(2, 3).sum()", [4.0, 4.0, 4.0]),
    ("torch.cat([x, x]).sum()", [4.0, 4.0, 4.0]),
    ("x[0]", [2.0, 0.0, 0.0]),
])
def test_backward_twice_when_nothing_is_saved(expr, expected):
    # Nodes that save no tensor have nothing to free: PyTorch allows a second backward.
    x = torch.ones(3, requires_grad=True)
    y = eval(expr)
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_mean_backward_twice_saves_nothing():
    x = torch.ones(3, requires_grad=True)
    y = (x + 1).mean()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 / 3] * 3, rtol=1e-6)


def test_backward_on_tensor_without_grad_fn():
    with pytest.raises(RuntimeError,
                       match=re.escape("element 0 of tensors does not require grad and does not have a grad_fn")):
        torch.ones(3).sum().backward()


def test_autograd_grad_on_output_without_grad_fn():
    x = torch.ones(3)
    with pytest.raises(RuntimeError,
                       match=re.escape("element 0 of tensors does not require grad and does not have a grad_fn")):
        torch.autograd.grad(x.sum(), x)


def test_autograd_backward_second_element_without_grad_fn():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError,
                       match=re.escape("element 1 of tensors does not require grad and does not have a grad_fn")):
        torch.autograd.backward([(x * 2).sum(), torch.ones(3).sum()])


def test_backward_under_no_grad_result_has_no_grad_fn():
    x = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError,
                       match=re.escape("element 0 of tensors does not require grad and does not have a grad_fn")):
        y.backward()


# --------------------------------------------------------------------------
# In-place operations
# --------------------------------------------------------------------------

@pytest.mark.parametrize("op", [
    lambda a: a.add_(1), lambda a: a.sub_(1), lambda a: a.mul_(2), lambda a: a.div_(2),
    lambda a: a.zero_(), lambda a: a.fill_(2.0), lambda a: a.copy_(torch.zeros(3)),
    lambda a: a.clamp_(0, 1), lambda a: a.pow_(2),
], ids=["add_", "sub_", "mul_", "div_", "zero_", "fill_", "copy_", "clamp_", "pow_"])
def test_inplace_on_leaf_requiring_grad(op):
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(LEAF_INPLACE)):
        op(a)
    np.testing.assert_array_equal(a.detach().numpy(), [1.0, 1.0, 1.0])
    with torch.no_grad():
        op(a)  # allowed without recording


def test_augmented_assignment_on_leaf_requiring_grad():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(LEAF_INPLACE)):
        a += 1
    with pytest.raises(RuntimeError, match=re.escape(LEAF_INPLACE)):
        a -= 1
    with pytest.raises(RuntimeError, match=re.escape(LEAF_INPLACE)):
        a *= 2


def test_setitem_on_leaf_requiring_grad():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "a view of a leaf Variable that requires grad is being used in an in-place operation.")):
        a[0] = 2.0


def test_saved_input_modified_inplace():
    a = torch.ones(3, requires_grad=True)
    b = a + 1
    c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", "Add", 1))):
        c.sum().backward()


def test_saved_input_modified_twice_reports_version():
    a = torch.ones(3, requires_grad=True)
    b = a + 1
    c = b * b
    b.add_(1)
    b.add_(1)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", "Add", 2))):
        c.sum().backward()


def test_saved_input_pow_modified_inplace():
    a = torch.ones(3, requires_grad=True)
    b = a * 1
    c = b ** 2
    b.add_(1)  # a saved input is named after its grad_fn at the time of the check: now Add, not Mul
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", "Add", 1))):
        c.sum().backward()


@pytest.mark.parametrize("fn, producer", [
    (lambda t: t.exp(), "Exp"), (lambda t: t.sigmoid(), "Sigmoid"), (lambda t: t.tanh(), "Tanh"),
    (lambda t: t.sqrt(), "Sqrt"), (lambda t: t.relu(), "Relu"), (lambda t: t.softmax(0), "Softmax"),
    (lambda t: t.log_softmax(0), "LogSoftmax"),
], ids=["exp", "sigmoid", "tanh", "sqrt", "relu", "softmax", "log_softmax"])
def test_saved_output_modified_inplace(fn, producer):
    a = torch.ones(3, requires_grad=True)
    b = fn(a * 1)
    b.add_(1)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", producer, 1))):
        b.sum().backward()


@pytest.mark.parametrize("modify", [lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.div_(2),
                                    lambda t: t.sub_(1)], ids=["add_", "mul_", "div_", "sub_"])
def test_saved_output_of_sigmoid_modified_by_each_inplace_op(modify):
    a = torch.ones(3, requires_grad=True)
    b = (a + 1).sigmoid()
    modify(b)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", "Sigmoid", 1))):
        b.sum().backward()


def test_saved_output_float64_matrix_modified_inplace():
    a = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    b = a.exp()
    b.mul_(2)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.DoubleTensor [2, 3]]", "Exp", 1))):
        b.sum().backward()


def test_saved_leaf_without_grad_modified_inplace():
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(3)
    c = (a * b).sum()
    b.add_(1)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", None, 1))):
        c.backward()


def test_custom_function_saved_tensor_modified_inplace():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    a = torch.ones(3, requires_grad=True)
    b = a + 1
    c = Square.apply(b)
    b.mul_(3)
    with pytest.raises(RuntimeError, match=re.escape(version_message("[torch.FloatTensor [3]]", "Mul", 1))):
        c.sum().backward()


@pytest.mark.parametrize("op", [
    lambda a: a.add_(1.5), lambda a: a.mul_(torch.ones(3)), lambda a: a.div_(2), lambda a: a.sub_(0.5),
], ids=["add_float", "mul_float_tensor", "div_int", "sub_float"])
def test_inplace_result_type_cannot_be_cast(op):
    a = torch.ones(3, dtype=torch.long)
    with pytest.raises(RuntimeError, match=re.escape("result type Float can't be cast to the desired output type "
                                                     "Long")):
        op(a)
    np.testing.assert_array_equal(a.numpy(), [1, 1, 1])


def test_inplace_augmented_division_of_int_tensor():
    a = torch.ones(3, dtype=torch.long)
    with pytest.raises(RuntimeError, match=re.escape("result type Float can't be cast to the desired output type "
                                                     "Long")):
        a /= 2


def test_inplace_broadcast_shape_mismatch():
    a = torch.ones(3)
    with pytest.raises(RuntimeError, match=re.escape("output with shape [3] doesn't match the broadcast shape "
                                                     "[2, 3]")):
        a.add_(torch.ones(2, 3))
    b = torch.ones(1, 3)
    with pytest.raises(RuntimeError, match=re.escape("output with shape [1, 3] doesn't match the broadcast shape "
                                                     "[2, 3]")):
        b += torch.ones(2, 3)


# --------------------------------------------------------------------------
# Non-leaf .grad warning
# --------------------------------------------------------------------------

def test_grad_of_non_leaf_warns():
    a = torch.ones(3, requires_grad=True)
    b = a * 2
    with pytest.warns(UserWarning, match=re.escape(NON_LEAF_GRAD)):
        g = b.grad
    assert g is None


def test_grad_of_leaf_or_retained_non_leaf_does_not_warn():
    a = torch.ones(3, requires_grad=True)
    b = a * 2
    b.retain_grad()
    b.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])
        np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
        assert torch.ones(2).grad is None


def test_backward_with_create_graph_warns_about_reference_cycle():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match=re.escape(
            "Using backward() with create_graph=True will create a reference cycle between the parameter and its "
            "gradient which can cause a memory leak. We recommend using autograd.grad when creating the graph to "
            "avoid this. If you have to use this function, make sure to reset the .grad fields of your parameters "
            "to None after use to break the cycle and avoid the leak.")):
        (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.detach().numpy(), [3.0, 12.0])


def test_T_of_non_matrix_warns():
    with pytest.warns(UserWarning, match=re.escape(
            "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will "
            "throw an error in a future release. Consider `x.mT` to transpose batches of matrices or "
            "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.")):
        t = torch.ones(3).T
    assert t.shape == (3,)


def test_T_of_matrix_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.ones(2, 3).T.shape == (3, 2)


def test_tensor_of_tensor_warns():
    src = torch.tensor([1.0, 2.0])
    with pytest.warns(UserWarning, match=re.escape(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
            "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).")):
        c = torch.tensor(src)
    assert c.tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------
# Broadcasting and matmul shape errors (with the context line)
# --------------------------------------------------------------------------

def test_broadcast_mismatch_add():
    a, b = torch.ones(2, 3), torch.ones(2, 2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a + b
    assert_first_line(ei, "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1")
    assert_context(ei, "add", ["[2, 3]", "[2, 2]"], line)


def test_broadcast_mismatch_mul():
    a, b = torch.ones(3), torch.ones(2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a * b
    assert_first_line(ei, "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0")
    assert_context(ei, "mul", ["[3]", "[2]"], line)


def test_broadcast_mismatch_sub_trailing_dim():
    a, b = torch.ones(4, 3), torch.ones(4)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        torch.sub(a, b)
    assert_first_line(ei, "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1")
    assert_context(ei, "sub", ["[4, 3]", "[4]"], line)


def test_broadcast_mismatch_div_with_grad():
    a = torch.ones(2, 3, requires_grad=True)
    b = torch.ones(3, 2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a / b
    assert_first_line(ei, "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1")
    assert_context(ei, "div", ["[2, 3]", "[3, 2]"], line)


def test_broadcast_mismatch_reports_trailing_dimension_first():
    # Several dimensions mismatch: PyTorch names the last one.
    a, b = torch.ones(2, 3), torch.ones(3, 2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a + b
    assert_first_line(ei, "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1")
    assert_context(ei, "add", ["[2, 3]", "[3, 2]"], line)


def test_broadcast_mismatch_where():
    with pytest.raises(RuntimeError, match=re.escape(
            "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0")):
        torch.where(torch.ones(3) > 0, torch.ones(2), torch.zeros(3))


def test_matmul_2d_2d():
    a, b = torch.ones(2, 3), torch.ones(2, 3)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)")
    assert_context(ei, "matmul", ["[2, 3]"], line)


def test_matmul_function_2d_2d_context():
    a, b = torch.ones(2, 3, requires_grad=True), torch.ones(2, 4)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        torch.matmul(a, b)
    assert_first_line(ei, "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x4)")
    assert_context(ei, "matmul", ["[2, 3]", "[2, 4]"], line)


def test_mm_method_2d_2d():
    with pytest.raises(RuntimeError, match=re.escape("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)")):
        torch.ones(2, 3).mm(torch.ones(2, 3))


def test_matmul_1d_1d():
    a, b = torch.ones(3), torch.ones(2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "inconsistent tensor size, expected tensor [3] and src [2] to have the same number of "
                          "elements, but got 3 and 2 elements respectively")
    assert_context(ei, "matmul", ["[3]", "[2]"], line)


def test_matmul_2d_1d():
    a, b = torch.ones(2, 3), torch.ones(2)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "size mismatch, got input (2), mat (2x3), vec (2)")
    assert_context(ei, "matmul", ["[2, 3]", "[2]"], line)


def test_matmul_1d_2d():
    a, b = torch.ones(3), torch.ones(2, 3)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "mat1 and mat2 shapes cannot be multiplied (1x3 and 2x3)")
    assert_context(ei, "matmul", ["[3]", "[2, 3]"], line)


def test_matmul_batched():
    a, b = torch.ones(4, 2, 3), torch.ones(4, 2, 3)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "Expected size for first two dimensions of batch2 tensor to be: [4, 3] but got: [4, 2].")
    assert_context(ei, "matmul", ["[4, 2, 3]"], line)


def test_matmul_batched_broadcast_mismatch():
    a, b = torch.ones(4, 2, 3), torch.ones(5, 3, 3)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 0")
    assert_context(ei, "matmul", ["[4, 2, 3]", "[5, 3, 3]"], line)


def test_matmul_3d_2d():
    # PyTorch folds the batch into the rows of mat1: (4*2)x3 against 2x3.
    a, b = torch.ones(4, 2, 3), torch.ones(2, 3)
    with pytest.raises(RuntimeError) as ei:
        line = _next_line()
        a @ b
    assert_first_line(ei, "mat1 and mat2 shapes cannot be multiplied (8x3 and 2x3)")
    assert_context(ei, "matmul", ["[4, 2, 3]", "[2, 3]"], line)


def test_matmul_dtype_mismatch_2d():
    with pytest.raises(RuntimeError, match=re.escape("expected m1 and m2 to have the same dtype, but got: "
                                                     "float != double")):
        torch.ones(2, 3) @ torch.ones(3, 2, dtype=torch.float64)


def test_matmul_dtype_mismatch_1d():
    with pytest.raises(RuntimeError, match=re.escape("dot : expected both vectors to have same dtype, but found "
                                                     "Float and Double")):
        torch.ones(3) @ torch.ones(3, dtype=torch.float64)


def test_matmul_0d():
    with pytest.raises(RuntimeError, match=re.escape("both arguments to matmul need to be at least 1D, but they "
                                                     "are 0D and 1D")):
        torch.tensor(2.0) @ torch.ones(3)
    with pytest.raises(RuntimeError, match=re.escape("both arguments to matmul need to be at least 1D, but they "
                                                     "are 1D and 0D")):
        torch.matmul(torch.ones(3), torch.tensor(2.0))


def test_mm_requires_matrices():
    with pytest.raises(RuntimeError, match=re.escape("self must be a matrix")):
        torch.ones(3).mm(torch.ones(3, 3))


# --------------------------------------------------------------------------
# Shapes: reshape, cat, stack, expand, dims
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape, text", [
    ((4, 2), "shape '[4, 2]' is invalid for input of size 6"),
    ((5,), "shape '[5]' is invalid for input of size 6"),
    ((-1, 4), "shape '[-1, 4]' is invalid for input of size 6"),
])
def test_reshape_invalid_size(shape, text):
    x = torch.ones(2, 3)
    with pytest.raises(RuntimeError, match=re.escape(text)):
        x.reshape(*shape)
    with pytest.raises(RuntimeError, match=re.escape(text)):
        x.view(shape)


def test_cat_size_mismatch():
    with pytest.raises(RuntimeError, match=re.escape(
            "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 "
            "in the list.")):
        torch.cat([torch.ones(2, 3), torch.ones(2, 4)])
    with pytest.raises(RuntimeError, match=re.escape(
            "Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3 for tensor number 1 "
            "in the list.")):
        torch.cat([torch.ones(2, 3), torch.ones(3, 4)], dim=1)


def test_cat_rank_mismatch():
    with pytest.raises(RuntimeError, match=re.escape("Tensors must have same number of dimensions: got 2 and 1")):
        torch.cat([torch.ones(2, 3), torch.ones(3)])


def test_stack_size_mismatch():
    with pytest.raises(RuntimeError, match=re.escape(
            "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [3, 3] at entry 1")):
        torch.stack([torch.ones(2, 3), torch.ones(3, 3)])


def test_expand_mismatch():
    with pytest.raises(RuntimeError, match=re.escape(
            "The expanded size of the tensor (4) must match the existing size (2) at non-singleton dimension 0.  "
            "Target sizes: [4, 3].  Tensor sizes: [2, 3]")):
        torch.ones(2, 3).expand(4, 3)


def test_permute_wrong_length():
    with pytest.raises(RuntimeError, match=re.escape(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
            "ordering of dimensions i.e. input.dim() = 2 is not equal to len(dims) = 1")):
        torch.ones(2, 3).permute(0)


def test_t_of_3d():
    with pytest.raises(RuntimeError, match=re.escape("t() expects a tensor with <= 2 dimensions, but self is 3D")):
        torch.ones(2, 2, 2).t()


@pytest.mark.parametrize("call, text", [
    (lambda x: x.sum(2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.softmax(2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.transpose(0, 2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.size(2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.unsqueeze(4), "Dimension out of range (expected to be in range of [-3, 2], but got 4)"),
], ids=["sum", "softmax", "transpose", "size", "unsqueeze"])
def test_dimension_out_of_range(call, text):
    with pytest.raises(IndexError, match=re.escape(text)):
        call(torch.ones(2, 3))


def test_max_over_empty_dimension():
    with pytest.raises(IndexError, match=re.escape("max(): Expected reduction dim 0 to have non-zero size.")):
        torch.ones(0, 3).max(0)


# --------------------------------------------------------------------------
# Indexing
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape, key, text", [
    ((3,), 5, "index 5 is out of bounds for dimension 0 with size 3"),
    ((3,), -4, "index -4 is out of bounds for dimension 0 with size 3"),
    ((2, 3), (1, 3), "index 3 is out of bounds for dimension 1 with size 3"),
    ((3,), (0, 0), "too many indices for tensor of dimension 1"),
])
def test_index_out_of_bounds(shape, key, text):
    x = torch.ones(*shape)
    with pytest.raises(IndexError, match=re.escape(text)):
        x[key]


def test_index_tensor_out_of_bounds():
    with pytest.raises(IndexError, match=re.escape("index 5 is out of bounds for dimension 0 with size 3")):
        torch.ones(3)[torch.tensor([0, 5])]


def test_index_with_float_tensor():
    with pytest.raises(IndexError, match=re.escape("tensors used as indices must be long, int, byte or bool tensors")):
        torch.ones(3)[torch.tensor([0.0])]


def test_boolean_mask_shape_mismatch():
    with pytest.raises(IndexError, match=re.escape(
            "The shape of the mask [2] at index 0 does not match the shape of the indexed tensor [3] at index 0")):
        torch.ones(3)[torch.tensor([True, False])]


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------

def test_item_of_many_elements():
    with pytest.raises(RuntimeError, match=re.escape("a Tensor with 3 elements cannot be converted to Scalar")):
        torch.ones(3).item()
    with pytest.raises(RuntimeError, match=re.escape("a Tensor with 0 elements cannot be converted to Scalar")):
        torch.ones(0).item()


def test_int_float_of_many_elements():
    with pytest.raises(ValueError, match=re.escape("only one element tensors can be converted to Python scalars")):
        int(torch.ones(3))
    with pytest.raises(ValueError, match=re.escape("only one element tensors can be converted to Python scalars")):
        float(torch.ones(3))


def test_numpy_of_tensor_requiring_grad():
    text = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(text)):
        x.numpy()
    with pytest.raises(RuntimeError, match=re.escape(text)):
        (x * 2).numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 1.0, 1.0])


def test_bool_of_many_elements():
    text = "Boolean value of Tensor with more than one value is ambiguous"
    with pytest.raises(RuntimeError, match=re.escape(text)):
        bool(torch.ones(3))
    with pytest.raises(RuntimeError, match=re.escape(text)):
        if torch.ones(3) > 0:
            pass


def test_len_and_iter_of_0d():
    with pytest.raises(TypeError, match=re.escape("len() of a 0-d tensor")):
        len(torch.tensor(1.0))
    with pytest.raises(TypeError, match=re.escape("iteration over a 0-d tensor")):
        iter(torch.tensor(1.0))


def test_invert_of_float_tensor():
    with pytest.raises(TypeError, match=re.escape(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors")):
        ~torch.ones(3)


def test_from_numpy_of_list():
    with pytest.raises(TypeError, match=re.escape("expected np.ndarray (got list)")):
        torch.from_numpy([1, 2])


def test_tensor_of_ragged_list():
    with pytest.raises(ValueError, match=re.escape("expected sequence of length 2 at dim 1 (got 1)")):
        torch.tensor([[1, 2], [3]])


# --------------------------------------------------------------------------
# requires_grad, retain_grad, hooks, .grad assignment
# --------------------------------------------------------------------------

def test_requires_grad_false_on_non_leaf():
    b = torch.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=re.escape(
            "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a "
            "subgraph that doesn't require differentiation use var_no_grad = var.detach().")):
        b.requires_grad = False
    assert b.requires_grad


def test_requires_grad_true_on_non_leaf():
    b = torch.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=re.escape("you can only change requires_grad flags of leaf variables.")):
        b.requires_grad = True


def test_requires_grad_on_int_tensor_at_creation():
    text = "Only Tensors of floating point and complex dtype can require gradients"
    with pytest.raises(RuntimeError, match=re.escape(text)):
        torch.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(text)):
        torch.ones(2, dtype=torch.long, requires_grad=True)


def test_requires_grad_on_int_tensor_method_and_attribute():
    with pytest.raises(RuntimeError, match=re.escape("only Tensors of floating point dtype can require gradients")):
        torch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match=re.escape("only Tensors of floating point dtype can require gradients")):
        torch.tensor([True]).requires_grad_()
    t = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match=re.escape(
            "only Tensors of floating point and complex dtype can require gradients")):
        t.requires_grad = True
    assert not t.requires_grad


def test_retain_grad_without_requires_grad():
    with pytest.raises(RuntimeError, match=re.escape("can't retain_grad on Tensor that has requires_grad=False")):
        torch.ones(3).retain_grad()


def test_register_hook_without_requires_grad():
    with pytest.raises(RuntimeError, match=re.escape(
            "cannot register a hook on a tensor that doesn't require gradient")):
        torch.ones(3).register_hook(lambda g: g)


def test_assign_grad_of_wrong_size():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "attempting to assign a gradient of size '[2]' to a tensor of size '[3]'. Please ensure that the "
            "gradient and the tensor are the same size")):
        x.grad = torch.ones(2)


def test_deepcopy_of_non_leaf():
    import copy
    with pytest.raises(RuntimeError, match=re.escape(
            "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the "
            "moment.  If you were attempting to deepcopy a module, this may be because of a "
            "torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001")):
        copy.deepcopy(torch.ones(3, requires_grad=True) * 2)


# --------------------------------------------------------------------------
# autograd.grad inputs, backward gradients
# --------------------------------------------------------------------------

def test_autograd_grad_unused_input():
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "The differentiated Tensor at index 1 appears to not have been used in the graph. Set allow_unused=True "
            "if this is the desired behavior.")):
        torch.autograd.grad((a * 2).sum(), [a, b])
    with pytest.raises(RuntimeError, match=re.escape(
            "The differentiated Tensor at index 0 appears to not have been used in the graph. Set allow_unused=True "
            "if this is the desired behavior.")):
        torch.autograd.grad((a * 2).sum(), b)


def test_autograd_grad_input_not_requiring_grad():
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(3)
    with pytest.raises(RuntimeError, match=re.escape("One of the differentiated Tensors does not require grad")):
        torch.autograd.grad((a * 2).sum(), [a, b])


def test_backward_gradient_of_wrong_shape():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of "
            "torch.Size([3]).")):
        (a * 2).backward(torch.ones(2))
    m = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "Mismatch in shape: grad_output[0] has a shape of torch.Size([3, 2]) and output[0] has a shape of "
            "torch.Size([2, 3]).")):
        (m * 2).backward(torch.ones(3, 2))


def test_autograd_grad_grad_output_of_wrong_shape():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of "
            "torch.Size([3]).")):
        torch.autograd.grad(a * 2, a, torch.ones(2))


# --------------------------------------------------------------------------
# Reductions, clamp, where
# --------------------------------------------------------------------------

def test_mean_of_int_tensor():
    with pytest.raises(RuntimeError, match=re.escape(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
            "Got: Long")):
        torch.tensor([1, 2]).mean()


def test_clamp_without_bounds():
    with pytest.raises(RuntimeError, match=re.escape("torch.clamp: At least one of 'min' or 'max' must not be None")):
        torch.ones(3).clamp()


def test_where_with_float_condition():
    with pytest.raises(RuntimeError, match=re.escape(
            "where expected condition to be a boolean tensor, but got a tensor with dtype Float")):
        torch.where(torch.ones(3), torch.ones(3), torch.zeros(3))


# --------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------

def test_cross_entropy_target_out_of_bounds():
    with pytest.raises(IndexError, match=re.escape("Target 3 is out of bounds.")):
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(IndexError, match=re.escape("Target -1 is out of bounds.")):
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, -1]))
    with pytest.raises(IndexError, match=re.escape("Target 3 is out of bounds.")):
        F.nll_loss(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_cross_entropy_batch_size_mismatch():
    with pytest.raises(ValueError, match=re.escape("Expected input batch_size (2) to match target batch_size (3).")):
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1, 2]))


def test_nll_loss_float_target():
    with pytest.raises(RuntimeError, match=re.escape("expected target dtype to be Long or Byte, but got Float")):
        F.nll_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))


def test_mse_loss_size_mismatch_warns():
    with pytest.warns(UserWarning, match=re.escape(
            "Using a target size (torch.Size([3, 1])) that is different to the input size (torch.Size([3])). This "
            "will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.")):
        loss = F.mse_loss(torch.zeros(3), torch.ones(3, 1))
    assert loss.item() == 1.0
    with pytest.warns(UserWarning, match=re.escape(
            "Using a target size (torch.Size([3])) that is different to the input size (torch.Size([2, 3])).")):
        F.mse_loss(torch.zeros(2, 3), torch.zeros(3))


def test_mse_loss_same_size_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(torch.zeros(3), torch.zeros(3))


def test_bce_with_logits_size_mismatch():
    with pytest.raises(ValueError, match=re.escape(
            "Target size (torch.Size([3, 1])) must be the same as input size (torch.Size([3]))")):
        F.binary_cross_entropy_with_logits(torch.zeros(3), torch.zeros(3, 1))


def test_bce_size_mismatch():
    with pytest.raises(ValueError, match=re.escape(
            "Using a target size (torch.Size([3, 1])) that is different to the input size (torch.Size([3])) is "
            "deprecated. Please ensure they have the same size.")):
        F.binary_cross_entropy(torch.zeros(3), torch.zeros(3, 1))


def test_bce_input_out_of_range():
    with pytest.raises(RuntimeError, match=re.escape("all elements of input should be between 0 and 1")):
        F.binary_cross_entropy(torch.full((3,), 2.0), torch.zeros(3))


def test_invalid_reduction():
    with pytest.raises(ValueError, match=re.escape("foo is not a valid value for reduction")):
        F.mse_loss(torch.zeros(3), torch.zeros(3), reduction="foo")
