"""``einsum``, ``tensordot`` and ``meshgrid``: written with reshapes, diagonals, sums and matrix products.

Each contraction of two operands becomes one batched matrix product (BLAS in
every tier); there is no op of its own, so every op it uses is already an
op-table entry and compiles and differentiates like any other code.
"""

from __future__ import annotations

import math
import string
import warnings
from collections.abc import Sequence

from tracegrad._dispatch import apply_op
from tracegrad._tensor import Tensor, _as_operand
from tracegrad.ir.ops import OPS

__all__ = ["einsum", "tensordot", "meshgrid", "kron"]


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Sum of products of `operands` over the indices the equation names (NumPy's and PyTorch's notation).

    Letters repeated in one operand take its diagonal; letters missing from the output are summed;
    ``...`` stands for the remaining (broadcast) dimensions.

    >>> import tracegrad as tg
    >>> tg.einsum("ij,j->i", tg.ones(2, 3), tg.tensor([1.0, 2.0, 3.0]))
    tensor([6., 6.])
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [_as_operand(t) for t in operands]
    terms, output = _parse(equation.replace(" ", ""), tensors)
    reduced = []
    for k, (x, term) in enumerate(zip(tensors, terms)):
        x, term = _take_diagonals(x, term)
        others = set(output).union(*(t for j, t in enumerate(terms) if j != k))
        reduced.append(_sum_out(x, term, others))
    x, term = reduced[0]
    for k in range(1, len(reduced)):
        later = set(output).union(*(t for _, t in reduced[k + 1:]))
        x, term = _contract(x, term, *reduced[k], later)
    x, term = _sum_out(x, term, set(output))
    return x.permute(*[term.index(c) for c in output]) if term != output else x


def _parse(equation: str, tensors: list[Tensor]) -> tuple[list[str], str]:
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(tensors):
        more = "more" if len(tensors) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the equation")
    spare = [c for c in string.ascii_letters if c not in equation]
    widest = 0
    for term, x in zip(terms, tensors):
        if "..." in term:
            widest = max(widest, x.ndim - (len(term) - 3))
    ellipsis = "".join(spare[:widest])
    expanded = []
    for k, (term, x) in enumerate(zip(terms, tensors)):
        if "..." in term:
            n = x.ndim - (len(term) - 3)
            term = term.replace("...", ellipsis[widest - n:] if n else "")
        if len(term) != x.ndim or not all(c.isalpha() for c in term):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not match "
                               f"the number of dimensions ({x.ndim}) for operand {k}"
                               + ("" if "..." in terms[k] else " and no ellipsis was given"))
        expanded.append(term)
    if arrow:
        output = rhs.replace("...", ellipsis)
    else:
        counts: dict[str, int] = {}
        for term in expanded:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        output = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis))
    return expanded, output


def _take_diagonals(x: Tensor, term: str) -> tuple[Tensor, str]:
    """`x` with each letter repeated in `term` replaced by the diagonal of its dimensions (as the last one)."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = x.diagonal(0, i, j)
        term = term[:i] + term[i + 1:j] + term[j + 1:] + c
    return x, term


def _sum_out(x: Tensor, term: str, keep: set[str]) -> tuple[Tensor, str]:
    axes = tuple(k for k, c in enumerate(term) if c not in keep)
    if not axes:
        return x, term
    return x.sum(axes), "".join(c for c in term if c in keep)


def _contract(a: Tensor, ta: str, b: Tensor, tb: str, later: set[str]) -> tuple[Tensor, str]:
    """The product of two operands summed over their shared letters not needed `later`: one matmul."""
    a, ta = _sum_out(a, ta, later | set(tb))
    b, tb = _sum_out(b, tb, later | set(ta))
    batch = [c for c in ta if c in tb and c in later]
    summed = [c for c in ta if c in tb and c not in later]
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    size = {**dict(zip(tb, b.shape)), **dict(zip(ta, a.shape))}
    for c in summed:
        if a.shape[ta.index(c)] != b.shape[tb.index(c)]:
            raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                               f"{list(a.shape)} and {list(b.shape)} differ at subscript '{c}'")
    a_batch = [a.shape[ta.index(c)] for c in batch]
    b_batch = [b.shape[tb.index(c)] for c in batch]
    k = math.prod(size[c] for c in summed)
    left = a.permute(*[ta.index(c) for c in batch + a_only + summed]).reshape(
        *a_batch, math.prod(size[c] for c in a_only), k)
    right = b.permute(*[tb.index(c) for c in batch + summed + b_only]).reshape(
        *b_batch, k, math.prod(size[c] for c in b_only))
    product = left @ right
    shape = list(product.shape[:len(batch)]) + [size[c] for c in a_only] + [size[c] for c in b_only]
    return product.reshape(*shape), "".join(batch + a_only + b_only)


def tensordot(a: Tensor, b: Tensor, dims: int | Sequence[Sequence[int]] | Sequence[int] = 2) -> Tensor:
    """Sum of products over the last `dims` dimensions of `a` and the first of `b`, or over the pairs of
    dimensions ``dims = (dims_of_a, dims_of_b)``.

    >>> import tracegrad as tg
    >>> tg.tensordot(tg.ones(2, 3), tg.ones(3, 4), dims=1).shape
    torch.Size([2, 4])
    """
    a, b = _as_operand(a), _as_operand(b)
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        pairs = (list(range(a.ndim - dims, a.ndim)), list(range(dims)))
    else:
        first, second = dims
        pairs = ([first] if isinstance(first, int) else list(first), [second] if isinstance(second, int)
                 else list(second))
    if len(pairs[0]) != len(pairs[1]):
        raise RuntimeError("both dimension lists should have same length")
    letters = iter(string.ascii_letters)
    ta = [next(letters) for _ in range(a.ndim)]
    tb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(*pairs):
        tb[j % b.ndim] = ta[i % a.ndim]
    shared = {ta[i % a.ndim] for i in pairs[0]}
    out = [c for c in ta if c not in shared] + [c for c in tb if c not in shared]
    return einsum(f"{''.join(ta)},{''.join(tb)}->{''.join(out)}", a, b)


def meshgrid(*tensors: Tensor | Sequence[Tensor], indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 1-D tensors: with ``indexing="ij"`` output k varies along dimension k; with
    ``"xy"`` the first two dimensions are swapped (NumPy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    vectors = [_as_operand(t) for t in tensors]
    for t in vectors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    vectors = [t.reshape(-1) for t in vectors]
    order = list(range(len(vectors)))
    if indexing == "xy" and len(vectors) >= 2:
        order[0], order[1] = 1, 0
    shape = [vectors[k].shape[0] for k in order]
    grids = []
    for k, t in enumerate(vectors):
        at = order.index(k)
        grids.append(t.reshape(*[-1 if d == at else 1 for d in range(len(vectors))]).expand(*shape))
    return tuple(grids)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: block (i, j, ...) of the result is ``input[i, j, ...] * other`` (the
    operand with fewer dimensions gets leading ones).

    >>> import tracegrad as tg
    >>> tg.kron(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 10.0]))
    tensor([ 1., 10.,  2., 20.])
    """
    a, b = _as_operand(input), _as_operand(other)
    nd = max(a.ndim, b.ndim)
    a_shape = (1,) * (nd - a.ndim) + tuple(a.shape)
    b_shape = (1,) * (nd - b.ndim) + tuple(b.shape)
    # a's axes interleaved with b's: a (a0, 1, a1, 1, ...) times b (1, b0, 1, b1, ...).
    spread_a = a.reshape(*(n for k in a_shape for n in (k, 1)))
    spread_b = b.reshape(*(n for k in b_shape for n in (1, k)))
    result = tuple(m * n for m, n in zip(a_shape, b_shape))
    return apply_op(OPS["reshape"], (spread_a * spread_b,), {"shape": result}, "UnsafeViewBackward0")
