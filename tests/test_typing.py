"""The public API is annotated, the annotations resolve, py.typed ships, and the namespace is exactly the public one.

A type checker reads a ``py.typed`` package's inline annotations as its
interface, so an unannotated public function is typed ``Any`` for every
user, and a name re-exported by ``tracegrad/__init__.py`` but missing from
its ``__all__`` is private to it.  Several modules shadow builtins on purpose
(``tracegrad.bool`` is a dtype, ``tracegrad.max`` a function), which is why
annotations are also evaluated here: ``bool`` in an annotation must mean the
Python type, never the dtype.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import inspect
import pathlib
import types
import typing

import pytest

import tracegrad
import tracegrad.autograd
import tracegrad.nn.functional as F
from tracegrad import _functions

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Public submodules, the only modules tracegrad.__all__ may name.
PUBLIC_SUBMODULES = {"autograd", "func", "linalg", "nn", "optim", "return_types", "special", "utils"}


def _callables_of_class(prefix: str, cls: type) -> list[tuple[str, typing.Callable]]:
    """The public methods, property accessors, static and class methods a class defines itself."""
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            out += [(f"{prefix}.{name} ({acc.__name__})", acc) for acc in (member.fget, member.fset) if acc]
        elif inspect.isfunction(member):
            out.append((f"{prefix}.{name}", member))
    return out


def _public_api() -> list[tuple[str, typing.Callable]]:
    """Every public function, and every public method of a public class, of the three public namespaces."""
    seen: set[int] = set()
    api = []
    for module in (tracegrad, tracegrad.autograd, F):
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{module.__name__}.{name}"
            if inspect.isfunction(obj):
                entries = [(qualified, obj)]
            elif inspect.isclass(obj) and obj.__module__.startswith("tracegrad"):
                entries = _callables_of_class(qualified, obj)
            else:
                continue
            for entry in entries:
                if id(entry[1]) not in seen:  # aliases (mul/multiply, concat/cat) are checked once
                    seen.add(id(entry[1]))
                    api.append(entry)
    return api


API = _public_api()
API_IDS = [name for name, _ in API]


def _unannotated(fn: typing.Callable) -> list[str]:
    sig = inspect.signature(fn)
    missing = [p.name for p in sig.parameters.values()
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")
               and p.annotation is p.empty]
    if sig.return_annotation is sig.empty:
        missing.append("return")
    return missing


def _leaves(hint: object) -> typing.Iterator[object]:
    """A resolved annotation and everything nested in it (union members, type arguments ...)."""
    yield hint
    for arg in typing.get_args(hint):
        if isinstance(arg, list):  # the parameter list of Callable[[...], R]
            for item in arg:
                yield from _leaves(item)
        else:
            yield from _leaves(arg)


# --------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------

def test_the_api_is_collected():
    names = set(API_IDS)
    for expected in ("tracegrad.tensor", "tracegrad.exp", "tracegrad.Tensor.backward", "tracegrad.Tensor.sum",
                     "tracegrad.Tensor.grad (grad)", "tracegrad.grad", "tracegrad.jit", "tracegrad.trace",
                     "tracegrad.autograd.grad", "tracegrad.autograd.Function.apply",
                     "tracegrad.nn.functional.cross_entropy"):
        assert expected in names
    assert len(API) > 250


@pytest.mark.parametrize("fn", [fn for _, fn in API], ids=API_IDS)
def test_public_callable_is_annotated(fn):
    assert _unannotated(fn) == []


@pytest.mark.parametrize("fn", [fn for _, fn in API], ids=API_IDS)
def test_annotations_resolve_to_python_types(fn):
    """Evaluating the annotations works, and no builtin name resolved to one of tracegrad's same-named objects."""
    hints = typing.get_type_hints(fn)
    assert set(hints) >= {p.name for p in inspect.signature(fn).parameters.values()
                          if p.annotation is not p.empty}
    for name, hint in hints.items():
        for leaf in _leaves(hint):
            assert not isinstance(leaf, tracegrad.dtype), f"{name}: {hint!r} names the dtype {leaf!r}"
            assert not (inspect.isfunction(leaf) or inspect.ismethod(leaf)), f"{name}: {hint!r} names {leaf!r}"


def test_shadowed_builtins_mean_the_builtins():
    assert typing.get_type_hints(tracegrad.Tensor.requires_grad_)["requires_grad"] is bool
    assert typing.get_type_hints(tracegrad.Tensor.sum)["keepdim"] is bool
    assert typing.get_type_hints(tracegrad.Tensor.dim)["return"] is int
    assert typing.get_type_hints(tracegrad.Tensor.__float__)["return"] is float
    assert typing.get_type_hints(tracegrad.allclose)["return"] is bool
    assert typing.get_type_hints(tracegrad.is_floating_point)["return"] is bool
    assert typing.get_type_hints(tracegrad.dtype.is_complex.fget)["return"] is bool
    assert typing.get_type_hints(tracegrad.Tensor.dtype.fget)["return"] is tracegrad.dtype
    assert typing.get_type_hints(tracegrad.Tensor)["_requires_grad"] is bool
    # Generated functions resolve the method's annotations where the method was written.
    assert typing.get_type_hints(tracegrad.sum)["keepdim"] is bool


GENERATED = [name for name in _functions.__all__ if inspect.isfunction(getattr(_functions, name))]


@pytest.mark.parametrize("name", GENERATED)
def test_functions_have_names_docstrings_and_typed_input(name):
    fn = getattr(tracegrad, name)
    assert fn.__doc__ and fn.__doc__.strip()
    assert fn.__name__ == fn.__qualname__
    assert "<locals>" not in fn.__qualname__
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name == "input":
        assert params[0].annotation is not inspect.Parameter.empty


def test_method_functions_show_the_methods_signature():
    sig = inspect.signature(tracegrad.sum)
    assert list(sig.parameters) == ["input", "dim", "keepdim", "dtype"]
    assert sig.parameters["dtype"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["input"].annotation == "TensorLike"
    assert sig.return_annotation == "Tensor"
    assert "Sum over" in tracegrad.sum.__doc__
    # Aliases keep their own name and call the method of that name.
    assert tracegrad.clip.__name__ == "clip" and tracegrad.swapaxes.__name__ == "swapaxes"
    assert list(inspect.signature(tracegrad.clip).parameters) == ["input", "min", "max"]
    x = tracegrad.tensor([[1.0, -2.0]])
    assert tracegrad.clip(x, 0.0, 0.5).tolist() == [[0.5, 0.0]]
    assert tracegrad.swapaxes(x, 0, 1).shape == (2, 1)


@pytest.mark.parametrize("name", ["exp", "relu", "neg", "negative", "eq", "greater", "maximum", "logical_or",
                                  "__add__", "__radd__", "__rsub__", "__truediv__", "__eq__", "__and__"])
def test_generated_tensor_methods_are_typed_and_named(name):
    method = getattr(tracegrad.Tensor, name)
    assert method.__doc__ and method.__qualname__.startswith("Tensor.")
    assert _unannotated(method) == []
    assert typing.get_type_hints(method)["return"] is tracegrad.Tensor


def test_signature_with_evaluation_works():
    for _, fn in API:
        inspect.signature(fn, eval_str=True)


# --------------------------------------------------------------------------
# py.typed
# --------------------------------------------------------------------------

def test_py_typed_is_in_the_package():
    marker = importlib.resources.files("tracegrad").joinpath("py.typed")
    assert marker.is_file()


def test_py_typed_is_package_data():
    """The build configuration puts the marker into wheels (an editable install cannot show it)."""
    tomllib = pytest.importorskip("tomllib")
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    config = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    assert "py.typed" in config.get("package-data", {}).get("tracegrad", [])


# --------------------------------------------------------------------------
# The namespace
# --------------------------------------------------------------------------

def test_all_names_exist_once():
    for module in (tracegrad, tracegrad.autograd, F, _functions, tracegrad.nn, tracegrad.optim, tracegrad.nn.init):
        assert len(module.__all__) == len(set(module.__all__)), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_all_names_nothing_private():
    for name in tracegrad.__all__:
        assert not name.startswith("_"), name
        obj = getattr(tracegrad, name)
        if isinstance(obj, types.ModuleType):
            assert name in PUBLIC_SUBMODULES, name


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from tracegrad import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(tracegrad.__all__)


def test_nothing_else_leaks_into_the_namespace():
    """Public attributes outside __all__ can only be submodules (tracegrad.ir once imported, ...)."""
    for name in dir(tracegrad):
        if name.startswith("_") or name in tracegrad.__all__:
            continue
        obj = getattr(tracegrad, name)
        assert isinstance(obj, types.ModuleType) and obj.__name__ == f"tracegrad.{name}", name
    for helper in ("np", "namedtuple", "apply_op", "wrap", "normalize_axes", "return_types_minmax", "OPS",
                   "COMPOSITES", "annotations"):
        assert not hasattr(tracegrad, helper), helper


def test_functional_api_is_exported():
    for name in _functions.__all__:
        assert name in tracegrad.__all__
        assert getattr(tracegrad, name) is getattr(_functions, name)


# What the tutorials, tests and docs use (``torch.X`` with ``import tracegrad as torch``): none may go private.
USED_NAMES = """
    tensor ones zeros randn rand randint arange linspace eye full full_like zeros_like ones_like randn_like
    rand_like empty empty_like from_numpy as_tensor is_tensor numel manual_seed seed initial_seed
    Tensor Size FloatTensor DoubleTensor LongTensor IntTensor BoolTensor
    float float16 float32 float64 double half int int8 int16 int32 int64 long short uint8 bool dtype
    get_default_dtype set_default_dtype set_printoptions get_printoptions
    exp log sin cos tanh sigmoid relu matmul mm dot sum mean max min maximum minimum clamp pow where cat stack
    equal allclose eq add sub mul div amin amax logsumexp softmax log_softmax is_floating_point device
    isnan isinf isfinite
    autograd nn no_grad enable_grad set_grad_enabled inference_mode is_grad_enabled is_inference_mode_enabled
    grad value_and_grad vjp jit jacobian hessian trace dump_ir to_dot cache_dir cache_info clear_cache
""".split()


@pytest.mark.parametrize("name", USED_NAMES)
def test_used_names_stay_public(name):
    assert name in tracegrad.__all__


def test_functional_and_autograd_namespaces():
    for name in F.__all__:
        assert inspect.isfunction(getattr(F, name)), name
    for name in ("backward", "grad", "Function", "FunctionCtx", "no_grad", "Node"):
        assert name in tracegrad.autograd.__all__
