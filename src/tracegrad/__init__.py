"""tracegrad: gradients of numerical Python functions.

Eager mode follows PyTorch's autograd (``import tracegrad as torch`` runs
PyTorch autograd tutorials unchanged); compiled mode traces a function into
an SSA IR, derives its adjoint and lowers both to kernels.

>>> import tracegrad as tg
>>> x = tg.ones(2, 2, requires_grad=True)
>>> y = x + 2
>>> y
tensor([[3., 3.],
        [3., 3.]], grad_fn=<AddBackward0>)
"""

from __future__ import annotations

__version__ = "0.1.0"

from tracegrad import _dtypes
from tracegrad._dtypes import (bool, double, dtype, float, float16, float32, float64, get_default_dtype, half,
                               int, int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from tracegrad._tensor import Size, Tensor
from tracegrad._creation import (BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, arange, as_tensor,
                                 empty, empty_like, eye, from_numpy, full, full_like, initial_seed, is_tensor,
                                 linspace, manual_seed, numel, ones, ones_like, rand, rand_like, randint,
                                 randint_like, randn, randn_like, seed, tensor, zeros, zeros_like)
from tracegrad._functions import *  # noqa: F401,F403  (the functional API)
from tracegrad._functions import max, min, pow  # names that shadow builtins, exported on purpose
from tracegrad._format import get_printoptions, set_printoptions
from tracegrad import autograd, nn
from tracegrad._trace import trace
from tracegrad._transforms import _bind_tensor, dump_ir, grad, hessian, jacobian, jit, value_and_grad, vjp
_bind_tensor()
from tracegrad.ir.dot import to_dot
from tracegrad.compiler.cache import cache_dir, cache_info, clear_cache
from tracegrad._log import configure_from_env as _configure_logging

_configure_logging()
from tracegrad.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tracegrad.autograd.grad_mode import is_inference_mode_enabled


def is_floating_point(input: Tensor) -> "bool":
    """True for tensors of a floating dtype."""
    return input.is_floating_point()


def device(spec="cpu"):
    """The CPU device (tracegrad runs on the CPU only)."""
    from tracegrad._tensor import _CPU
    if str(spec) != "cpu":
        raise RuntimeError(f"tracegrad runs on the CPU only, got device {spec!r}")
    return _CPU
