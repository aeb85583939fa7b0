"""Text rendering of tensors, matching what PyTorch prints for ``repr(t)``.

The layout rules here were established by comparing against PyTorch's output
case by case; the comments record the observed rules that are not obvious
from the documentation of ``torch.set_printoptions``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["format_tensor", "set_printoptions", "get_printoptions"]

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}

_options = dict(_PROFILES["default"], sci_mode=None)

# Dtypes PyTorch treats as the defaults it infers from Python literals, so a
# non-empty tensor of these prints without a dtype suffix.  float32 is also
# what an empty literal becomes, which is why only it stays implicit when empty.
_IMPLICIT_DTYPES = frozenset(map(np.dtype, ("float32", "int64", "bool")))
_EMPTY_IMPLICIT_DTYPE = np.dtype("float32")

_PREFIX = "tensor("

# Scientific notation is chosen when the nonzero finite magnitudes span more
# than this ratio, or leave the band between these bounds.
_SCI_RATIO = 1000.0
_SCI_MAX = 1e8
_SCI_MIN = 1e-4


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None,
                     sci_mode: bool | None = None) -> None:
    """Set the options used by :func:`format_tensor`, like ``torch.set_printoptions``.

    Args:
        precision: digits after the decimal point for floating point values.
        threshold: element count above which the output is summarised with ``...``.
        edgeitems: items kept at the start and end of each summarised dimension.
        linewidth: characters per line before rows are wrapped.
        profile: ``"default"``, ``"short"`` or ``"full"``; applied first, so
            explicit arguments override it.  Unknown names are ignored.
        sci_mode: ``True``/``False`` forces scientific/fixed notation for
            floats, ``None`` lets the values decide.  Like PyTorch, every call
            sets it, so omitting it switches back to automatic.
    """
    if edgeitems is not None and edgeitems < 0:
        # PyTorch accepts these but prints nonsense (elements shown twice).
        raise ValueError(f"edgeitems must be non-negative, got {edgeitems}")
    if profile is not None:
        _options.update(_PROFILES.get(profile, {}))
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _options[name] = value
    _options["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return a copy of the current print options as a dict.

    Keys: ``precision``, ``threshold``, ``edgeitems``, ``linewidth``, ``sci_mode``.
    """
    return dict(_options)


def format_tensor(data: ArrayLike, tail: Iterable[str] = ()) -> str:
    """Render ``data`` as PyTorch's repr of a tensor holding it.

    Args:
        data: array of a boolean, integer or real floating dtype.
        tail: extra suffix items, already formatted, that go after the
            values and after any ``size=``/``dtype=`` item this function
            adds, e.g. ``["grad_fn=<AddBackward0>"]`` or ``["requires_grad=True"]``.

    Returns:
        The text ``tensor(...)`` exactly as PyTorch 2.x prints it under the
        current print options.
    """
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"cannot format arrays of dtype {data.dtype}")
    opts = _options
    suffixes = []

    if data.size == 0:
        body = "[]"
        # A 1-d empty tensor is what ``tensor([])`` builds, so only other
        # shapes need the size spelled out.
        if data.shape != (0,):
            suffixes.append(f"size={_shape_text(data.shape)}")
        if data.dtype != _EMPTY_IMPLICIT_DTYPE:
            suffixes.append(f"dtype=torch.{data.dtype.name}")
    else:
        edge = opts["edgeitems"]
        summarize = data.size > opts["threshold"] and data.ndim > 0
        if summarize and edge == 0:
            body = "[...]"
        else:
            body = _format_values(data, summarize, edge, opts)
        if edge == 0:
            # PyTorch spells out the size whenever edgeitems is 0, summarised
            # or not (even for 0-d tensors).
            suffixes.append(f"size={_shape_text(data.shape)}")
        if data.dtype not in _IMPLICIT_DTYPES:
            suffixes.append(f"dtype=torch.{data.dtype.name}")
    suffixes.extend(tail)

    text = _PREFIX + body
    linewidth = opts["linewidth"]
    line_len = len(text) - text.rfind("\n") - 1
    # PyTorch's measured rule: an item joins the current line only if the
    # line plus the item leaves 4 spare columns (", " and two more) on the
    # line holding values, but only 2 on a line the suffixes started.
    spare = 4
    for item in suffixes:
        if line_len + len(item) + spare > linewidth:
            text += ",\n" + " " * len(_PREFIX) + item
            line_len = len(_PREFIX) + len(item)
            spare = 2
        else:
            text += ", " + item
            line_len += 2 + len(item)
    return text + ")"


def _shape_text(shape: Sequence[int]) -> str:
    return str(tuple(int(n) for n in shape))


def _format_values(data: np.ndarray, summarize: bool, edge: int, opts: dict[str, Any]) -> str:
    """Render the bracketed values (or the bare scalar for 0-d data)."""
    cut = [False] * data.ndim
    shown = data
    if summarize:
        picks = []
        for axis, n in enumerate(data.shape):
            if n > 2 * edge:
                cut[axis] = True
                picks.append(np.r_[0:edge, n - edge:n])
            else:
                picks.append(np.arange(n))
        shown = data[np.ix_(*picks)]

    strings, width = _element_strings(shown, opts)
    if data.ndim == 0:
        return strings[0]
    strings = [s.rjust(width) for s in strings]

    ndim = data.ndim
    # Rows start after "tensor(" and one "[" per dimension.  PyTorch fits
    # as many entries of width + len(", ") as go into the columns from that
    # start to the line width, plus one (measured).
    row_col = len(_PREFIX) + ndim
    per_line = max(1, (opts["linewidth"] - row_col + 1) // (width + 2))
    row_break = ",\n" + " " * row_col
    shape = shown.shape

    def block(depth: int, start: int) -> str:
        n = shape[depth]
        if depth == ndim - 1:
            items = strings[start:start + n]
            if cut[depth]:
                items.insert(edge, " ...")
            lines = [", ".join(items[i:i + per_line])
                     for i in range(0, len(items), per_line)]
            return "[" + row_break.join(lines) + "]"
        stride = math.prod(shape[depth + 1:])
        children = [block(depth + 1, start + i * stride) for i in range(n)]
        if cut[depth]:
            children.insert(edge, "...")
        # Blocks of higher dimensions are set apart by more blank lines.
        sep = ",\n" + "\n" * (ndim - depth - 2) + " " * (len(_PREFIX) + depth + 1)
        return "[" + sep.join(children) + "]"

    return block(0, 0)


def _element_strings(shown: np.ndarray, opts: dict[str, Any]) -> tuple[list[str], int]:
    """Format the elements of ``shown`` (flattened, C order) without padding.

    Returns the strings and the column width they are to be padded to.
    """
    if shown.dtype.kind != "f":
        strings = [str(v) for v in shown.ravel().tolist()]
        return strings, max(map(len, strings))

    values = shown.astype(np.float64, copy=False).ravel()
    finite = np.isfinite(values)
    # Only nonzero finite values decide the notation and the column width:
    # "nan", "inf" and "-0." are padded to the column but never widen it.
    counted = finite & (values != 0)
    magnitudes = np.abs(values[counted])
    if magnitudes.size == 0:
        # Whole-number style even when scientific notation is forced.
        spec, dot = ".0f", "."
    else:
        finite_values = values[finite]
        whole = bool(np.all(finite_values == np.round(finite_values)))
        largest = float(magnitudes.max())
        smallest = float(magnitudes.min())
        sci = opts["sci_mode"]
        if sci is None:
            sci = (largest / smallest > _SCI_RATIO or largest > _SCI_MAX
                   or (not whole and smallest < _SCI_MIN))
        precision = opts["precision"]
        if sci:
            spec, dot = f".{precision}e", ""
        elif whole:
            spec, dot = ".0f", "."
        else:
            spec, dot = f".{precision}f", ""

    if dot:
        # Whole-number style marks finite values with a trailing dot ("2.")
        # but leaves nan/inf bare.
        strings = [format(v, spec) + dot if ok else format(v, spec)
                   for v, ok in zip(values.tolist(), finite.tolist())]
    else:
        strings = [format(v, spec) for v in values.tolist()]
    # With nothing to measure PyTorch still lays rows out as if entries were
    # one character wide.
    width = max((len(strings[i]) for i in np.flatnonzero(counted).tolist()),
                default=1)
    return strings, width
