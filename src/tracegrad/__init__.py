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

import sys as _sys
import warnings as _warnings

__version__ = "0.1.0"

# Imported in dependency order (Tensor first; the transforms are handed Tensor once they have loaded), which
# an import sorter must not change.
# isort: off
from tracegrad._dtypes import (bool, double, dtype, finfo, float, float16, float32, float64, get_default_dtype, half,
                               iinfo, int, int8, int16, int32, int64, long, promote_types, set_default_dtype, short,
                               uint8)
from tracegrad._tensor import Size, Tensor
from tracegrad._creation import (BoolTensor, DoubleTensor, FloatTensor, Generator, IntTensor, LongTensor, arange,
                                 as_tensor, empty, empty_like, eye, from_numpy, full, full_like, initial_seed,
                                 is_tensor, linspace, logspace, manual_seed, ones, ones_like, rand, rand_like, randint,
                                 randint_like, randn, randn_like, randperm, seed, tensor, zeros, zeros_like)
# Tensor's constructor and numpy protocol call the API built on it, which hands itself down here.
from tracegrad import _numpy_bridge
from tracegrad._creation import legacy_constructor as _legacy_constructor
from tracegrad._tensor import connect_above as _connect_above
_connect_above(_legacy_constructor, _numpy_bridge.ufunc, _numpy_bridge.function)
_numpy_bridge.connect(_sys.modules[__name__])
from tracegrad._functions import (abs, add, all, allclose, amax, amin, any, argmax, argmin, broadcast_to, cat, clamp,
                                  clamp_max, clamp_min, clip, clone, concat, concatenate, cos, count_nonzero, detach,
                                  device, div, gather, remainder, scatter_add, take_along_dim, mv, bmm,
                                  outer, ger, addmm, baddbmm, diag, diag_embed, repeat_interleave,
                                  masked_select,
                                  diagonal, divide, dot, eq, equal, exp, expm1, flatten, ge, greater, greater_equal, gt,
                                  is_floating_point, isfinite, isinf, isnan, le, less, less_equal, log, log1p,
                                  log_softmax, logical_and, logical_not, logical_or, logsumexp, lt, matmul, max,
                                  maximum, mean, min, minimum, mm, mul, multiply, ne, neg, negative, norm, numel,
                                  permute, pow, reciprocal, relu, reshape, rsqrt, sigmoid, sign, sin, softmax, sqrt,
                                  square, squeeze, stack, sub, subtract, sum, swapaxes, t, tanh, trace, transpose,
                                  tril, triu, true_divide, unsqueeze, where, narrow, split, chunk, unbind, movedim,
                                  moveaxis, unflatten, flip, roll, tile, index_select, masked_fill, broadcast_tensors,
                                  broadcast_shapes, erf, erfc, erfinv, lgamma, digamma, polygamma, mvlgamma,
                                  cummax, cummin, aminmax, mode, var, std, var_mean, std_mean,
                                  asin, arcsin, acos, arccos, tan, atan, arctan, sinh, cosh, asinh, arcsinh, acosh,
                                  arccosh, atanh, arctanh, log2, log10, exp2, floor, ceil, trunc, fix, round, frac,
                                  atan2, arctan2, hypot, logaddexp, fmod, xlogy, lerp, addcmul, addcdiv, nan_to_num,
                                  cumsum, cumprod, prod, argsort, sort, msort, topk, kthvalue, median,
                                  scatter, index_add)
from tracegrad._format import get_printoptions, set_printoptions
from tracegrad import autograd, linalg, nn, optim, return_types, special, utils
from tracegrad._contractions import einsum, kron, meshgrid, tensordot
from tracegrad._functions import _method_function

inverse, det, logdet, slogdet, cholesky, svd, qr = (
    _method_function(getattr(Tensor, name))
    for name in ("inverse", "det", "logdet", "slogdet", "cholesky", "svd", "qr"))
del _method_function
from tracegrad._transforms import (CompiledFunction, SelfCheckError, dump_ir, grad, hessian, jacobian,
                                  jit, make_ir, value_and_grad, vjp)
from tracegrad import func  # PyTorch's torch.func, on the transforms above
from tracegrad.optim import train_step  # a whole training step compiled
from tracegrad.ir.dot import to_dot
from tracegrad.compiler.cache import cache_dir, cache_info, clear_cache
from tracegrad._log import configure_from_env as _configure_logging

_configure_logging()
# numpy's floating-point warnings (inf * 0, overflow, ...) from tracegrad's own numpy
# calls are silenced, as PyTorch is silent: NaN and inf are values, and
# tg.autograd.detect_anomaly() finds where they start.  A filter keyed on the module
# costs nothing per op, unlike an np.errstate around every op (0.9 us each); the
# user's own numpy calls keep numpy's warnings.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tracegrad(\.|$)",
                         message=r"(overflow|invalid value|divide by zero|underflow) encountered")
from tracegrad.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tracegrad._grad_mode import is_inference_mode_enabled
from tracegrad._anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled

# Spelled out (not built from the submodules' lists) so that type checkers, which read a py.typed
# package's re-exports as private unless listed here, see the public names.
__all__ = [
    # dtypes (bool, int and float are dtypes here, as in PyTorch)
    "dtype", "bool", "double", "float", "float16", "float32", "float64", "half", "int", "int8", "int16", "int32",
    "int64", "long", "short", "uint8", "get_default_dtype", "set_default_dtype", "promote_types", "finfo", "iinfo",
    # tensors and their factories
    "Tensor", "Size", "BoolTensor", "DoubleTensor", "FloatTensor", "IntTensor", "LongTensor", "tensor",
    "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "eye", "arange", "linspace", "logspace", "rand",
    "randn", "randint", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
    "randint_like",
    "manual_seed", "seed", "initial_seed", "Generator", "randperm", "is_tensor", "numel",
    # the functional API
    "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt", "neg", "negative",
    "sign", "square", "reciprocal", "rsqrt", "logical_not", "sum", "mean", "amax", "amin", "argmax", "argmin",
    "norm", "all", "any", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "swapaxes", "t",
    "clamp", "clip", "clamp_min", "clamp_max", "softmax", "log_softmax", "logsumexp", "broadcast_to", "mm",
    "dot", "clone", "detach", "diagonal", "trace", "tril", "triu", "narrow", "split", "chunk", "unbind", "movedim",
    "moveaxis", "unflatten", "flip", "roll", "tile", "index_select", "masked_fill", "broadcast_tensors",
    "broadcast_shapes", "erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma", "mvlgamma", "cummax", "cummin",
    "aminmax", "mode", "var", "std", "var_mean", "std_mean",
    "asin", "arcsin", "acos", "arccos", "tan", "atan", "arctan", "sinh", "cosh", "asinh", "arcsinh", "acosh", "arccosh",
    "atanh", "arctanh", "log2", "log10", "exp2", "floor", "ceil", "trunc", "fix", "round", "frac", "atan2",
    "arctan2", "hypot", "logaddexp", "fmod", "xlogy", "lerp", "addcmul", "addcdiv", "nan_to_num", "cumsum",
    "cumprod", "prod", "argsort", "sort", "msort", "topk", "kthvalue", "median", "scatter", "index_add",
    "add", "mul", "multiply", "div", "divide", "true_divide", "remainder", "count_nonzero", "gather", "scatter_add",
    "take_along_dim", "mv", "bmm", "outer", "ger", "addmm", "baddbmm", "diag", "diag_embed", "repeat_interleave",
    "masked_select", "einsum", "tensordot", "meshgrid", "kron", "inverse", "det", "logdet", "slogdet", "cholesky",
    "svd", "qr",
    "eq", "ne", "lt", "less",
    "le", "less_equal", "gt", "greater", "ge", "greater_equal", "logical_and", "logical_or", "sub", "subtract",
    "pow", "maximum", "minimum", "matmul", "where", "cat", "concat", "concatenate", "stack", "max", "min",
    "allclose", "equal", "isnan", "isinf", "isfinite", "is_floating_point", "device",
    # printing
    "get_printoptions", "set_printoptions",
    # autograd
    "autograd", "func", "linalg", "nn", "optim", "return_types", "special", "utils", "no_grad", "enable_grad",
    "set_grad_enabled",
    "inference_mode", "is_grad_enabled",
    "is_inference_mode_enabled", "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "set_anomaly_enabled",
    # compiled mode
    "make_ir", "grad", "value_and_grad", "vjp", "jit", "jacobian", "hessian", "dump_ir", "to_dot", "cache_dir",
    "CompiledFunction", "SelfCheckError", "train_step",
    "cache_info", "clear_cache",
]
