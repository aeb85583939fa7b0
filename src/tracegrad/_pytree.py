"""Argument structures: pytrees of tuples, lists, dicts and namedtuples, and the cache keys of their leaves.

Compiled functions flatten their arguments into leaves (tensors and arrays are the dynamic
ones, traced as graph inputs) and key their traces by the structure and by the value of every
static leaf (Python numbers by their bits, objects by their attributes, never by ``id()``).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import struct
import types

import numpy as np

from tracegrad._tensor import Tensor

__all__ = ["tree_flatten", "tree_unflatten", "tree_paths", "in_tree_of"]


def tree_flatten(x):
    """Leaves of nested tuples/lists/dicts/namedtuples, and a description to rebuild the structure."""
    if isinstance(x, (tuple, list)):
        leaves, defs = [], []
        for item in x:
            sub, d = tree_flatten(item)
            leaves.extend(sub)
            defs.append(d)
        return leaves, (type(x), tuple(defs))
    if isinstance(x, dict):
        keys = sorted(x, key=repr)
        leaves, defs = [], []
        for k in keys:
            sub, d = tree_flatten(x[k])
            leaves.extend(sub)
            defs.append(d)
        return leaves, (dict, tuple(keys), tuple(defs))
    return [x], None


def tree_paths(x, prefix: str) -> list[str]:
    """How each leaf of `x` is reached from `prefix`, in :func:`tree_flatten` order (``"d['a'][0]"``)."""
    if _is_namedtuple(x):
        return [p for name, item in zip(x._fields, x) for p in tree_paths(item, f"{prefix}.{name}")]
    if isinstance(x, (tuple, list)):
        return [p for i, item in enumerate(x) for p in tree_paths(item, f"{prefix}[{i}]")]
    if isinstance(x, dict):
        return [p for k in sorted(x, key=repr) for p in tree_paths(x[k], f"{prefix}[{k!r}]")]
    return [prefix]


def tree_unflatten(treedef, leaves):
    """Inverse of :func:`tree_flatten`."""
    return _build(treedef, iter(leaves))


def _build(d, it):
    # A module-level function, not a recursive closure: a closure that calls itself
    # is a reference cycle, and every call would leave one holding the leaves.
    if d is None:
        return next(it)
    if d[0] is dict:
        return {k: _build(sub, it) for k, sub in zip(d[1], d[2])}
    if _is_namedtuple_type(d[0]):
        return d[0](*[_build(sub, it) for sub in d[1]])
    return d[0](_build(sub, it) for sub in d[1])


def _is_namedtuple_type(cls) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _is_dynamic(leaf) -> bool:
    return isinstance(leaf, (Tensor, np.ndarray, np.generic))


def _leaf_array(leaf) -> np.ndarray:
    if isinstance(leaf, Tensor):
        return leaf._data
    arr = np.asarray(leaf)
    if not arr.dtype.isnative:  # big-endian data on a little-endian machine: the IR knows native dtypes
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


class _NoValueKey(Exception):
    """A static argument holds something whose value cannot be captured in a cache key."""


class _Uncached:
    """Cache key part of a static argument with no value key: equal to nothing, so every call traces."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __repr__(self):
        return f"<{self.what}: traced on every call>"


class _Identity:
    """Key part equal only to the same object; holding it keeps the object's id from being reused."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return type(other) is _Identity and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)

    def __repr__(self):
        return f"<the same {type(self.obj).__name__}>"


_SCALAR_TYPES = (bool, int, str, bytes, type(None), type(Ellipsis), range, np.dtype)
_KEY_BUDGET = 10_000  # objects visited per static argument before giving up on a value key


def _float_bits(v: float) -> bytes:
    # By bits, not by ==: -0.0 must not reuse a trace made for 0.0 (1/x differs), and every
    # NaN must reuse the one trace made for NaN (NaN != NaN would trace on every call).
    return b"nan" if v != v else struct.pack("<d", v)


def _value_key(v, budget: list[int], path: tuple):
    """A hashable key equal for two values iff a trace made for one is valid for the other.

    Containers are keyed by their contents, objects by identity plus their attributes (so
    a mutated attribute traces anew); raises :class:`_NoValueKey` when that is impossible.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _NoValueKey("too large to compare by value")
    t = type(v)
    if t is float or t is np.float64:
        return (float, _float_bits(float(v)))
    if isinstance(v, _SCALAR_TYPES):
        return (t, v)
    if isinstance(v, complex):
        return (complex, _float_bits(v.real), _float_bits(v.imag))
    if isinstance(v, slice):  # not hashable before Python 3.12
        return (slice,) + tuple(_value_key(e, budget, path) for e in (v.start, v.stop, v.step))
    if isinstance(v, np.generic):
        return (t, v.tobytes())
    if isinstance(v, Tensor):
        # A tensor inside a static object is read like a closed-over tensor: the trace guards it.
        return (Tensor, _Identity(v))
    if isinstance(v, np.ndarray):
        return (np.ndarray, v.shape, v.dtype.str, hashlib.blake2b(np.ascontiguousarray(v).tobytes(),
                                                                  digest_size=16).digest())
    if isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type, enum.Enum)):
        return (t, v)
    if getattr(t, "keyed_by_identity", False):
        return (t, _Identity(v))  # a compiled function: its attributes are its own cache, which every call changes
    if id(v) in path:
        return ("cycle", path.index(id(v)))
    path = path + (id(v),)
    if isinstance(v, (tuple, list)):
        return (t, tuple(_value_key(x, budget, path) for x in v))
    if isinstance(v, (set, frozenset)):
        return (t, frozenset(_value_key(x, budget, path) for x in v))
    if isinstance(v, dict):
        return (t, frozenset((_value_key(k, budget, path), _value_key(x, budget, path)) for k, x in v.items()))
    if isinstance(v, functools.partial):
        return (t, _value_key(v.func, budget, path), _value_key(v.args, budget, path),
                _value_key(v.keywords, budget, path))
    attrs = getattr(v, "__dict__", None)
    if attrs is None:
        slots = [name for cls in t.__mro__ for name in _slot_names(cls)
                 if name not in ("__weakref__", "__dict__") and hasattr(v, name)]
        attrs = {name: getattr(v, name) for name in slots} if slots else None
    by_identity = t.__eq__ is object.__eq__
    if attrs is None:
        if t.__hash__ is None:
            raise _NoValueKey("unhashable and without attributes")
        # Opaque but hashable: its own equality decides, as for any dictionary key.
        return (t, v)
    if not by_identity and t.__hash__ is not None:
        return (t, v, _value_key(attrs, budget, path))
    # Identity objects: the object itself (held, so its id is not reused) and a snapshot of
    # its attributes; objects with value equality but no hash: the snapshot alone.
    return (t, _Identity(v) if by_identity else None, _value_key(attrs, budget, path))


def _slot_names(cls) -> tuple:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _key_repr(part) -> str:
    """A static argument's key part as the value it stands for (for the cache log)."""
    if isinstance(part, tuple) and len(part) == 2 and part[0] is float:
        return "nan" if part[1] == b"nan" else repr(struct.unpack("<d", part[1])[0])
    if isinstance(part, tuple) and part:
        return repr(part[-1])
    return repr(part)


def _static_key(leaf):
    """Cache key of a non-array argument leaf: by value (floats by bits), never by a reusable ``id()``."""
    if type(leaf) in (bool, int, str, type(None)):
        return (type(leaf), leaf)
    try:
        return _value_key(leaf, [_KEY_BUDGET], ())
    except (_NoValueKey, RecursionError):
        return _Uncached(f"a {type(leaf).__name__} that cannot be compared by value (too large, too deep, or "
                         f"unhashable without attributes)")


def in_tree_of(args, kwargs):
    """The structure of a call's arguments (the second part of :func:`tree_flatten`)."""
    return tree_flatten((tuple(args), dict(kwargs)))[1]
