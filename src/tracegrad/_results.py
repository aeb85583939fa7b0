"""Named tuples printed as PyTorch prints its ``torch.return_types`` (``torch.return_types.svd(U=..., ...)``)."""

from __future__ import annotations

import collections


def result_type(kind: str, fields: tuple[str, ...], doc: str) -> type:
    """A named tuple type called `kind` with `fields`, whose repr is PyTorch's for ``torch.return_types.<kind>``.

    >>> Pair = result_type("aminmax", ("min", "max"), "(min, max)")
    >>> Pair(1, 2)
    torch.return_types.aminmax(
    min=1,
    max=2)
    """
    base = collections.namedtuple(kind, fields)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"torch.return_types.{kind}(\n" + ",\n".join(f"{f}={getattr(self, f)!r}" for f in fields) + ")"
    return type(kind, (base,), {"__repr__": __repr__, "__slots__": (), "__qualname__": kind,
                                "__module__": "tracegrad.return_types", "__doc__": doc})
