"""The Jacobian of a graph as one graph: its vjp, batched over every cotangent basis vector.

Reverse mode gets one row of the Jacobian per cotangent: the vjp of a
one-hot cotangent.  Rather than running the vjp once per output element,
:func:`jacobian_graph` maps the adjoint half of the vjp over a batch of
cotangents -- the identity matrix, split among the outputs -- with
:func:`~tracegrad.ir.batching.vmap_graph`.  The forward half runs once and
its residuals are shared by every row, so one call of the result computes
the whole Jacobian.
"""

from __future__ import annotations

import math

import numpy as np

from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.partition import partition
from tracegrad.compiler.passes import optimize
from tracegrad.ir.batching import Batched, vmap_graph
from tracegrad.ir.graph import Graph, GraphBuilder, const_value
from tracegrad.ir.types import is_float
from tracegrad.ir.walk import inline

__all__ = ["jacobian_graph"]


def jacobian_graph(graph: Graph, wrt: list[int], outputs: list[int], verify=None) -> Graph:
    """A graph with `graph`'s inputs whose outputs are the Jacobian blocks of `outputs` with respect to `wrt`.

    Blocks are ordered by output, then by input: the block of output ``o`` and input ``i`` has
    shape ``o.shape + i.shape`` and ``i``'s dtype.  Outputs that are not floating point have zero
    blocks (they carry no derivative).  Guards of `graph` are kept.
    """
    joint, cts = adjoint(graph, wrt, seed="inputs", seed_outputs=list(outputs))
    part = partition(optimize(joint, verify), len(graph.outputs), cts)
    forward, backward = optimize(part.forward, verify), optimize(part.adjoint, verify)

    out = graph.header(f"{graph.name}_jacobian")
    b = GraphBuilder(out)
    env = inline(forward, b, list(out.inputs))
    residuals = [env.get(v.id, v) for v in forward.outputs[len(graph.outputs):]]

    # adjoint() made one cotangent input per floating-point output, in the order of `outputs`.
    seeded = [k for k in outputs if is_float(graph.outputs[k].dtype)]
    sizes = [math.prod(graph.outputs[k].shape) for k in seeded]
    total = sum(sizes)
    rows: dict[int, tuple[int, int]] = {}
    start = 0
    for k, size in zip(seeded, sizes):
        rows[k] = (start, start + size)
        start += size
    grads = []
    if total:
        basis = np.eye(total)
        batch = []
        for k in seeded:
            lo, hi = rows[k]
            v = graph.outputs[k]
            batch.append(Batched(const_value(basis[:, lo:hi].astype(v.dtype).reshape((total,) + v.shape))))
        grads = vmap_graph(backward, b, residuals + batch, total)

    blocks = []
    for k in outputs:
        out_shape = graph.outputs[k].shape
        for j, w in enumerate(wrt):
            x = graph.inputs[w]
            if k not in rows or not total:
                blocks.append(b.broadcast_to(const_value(np.zeros((), x.dtype)), out_shape + x.shape))
                continue
            lo, hi = rows[k]
            block = grads[j]
            if (lo, hi) != (0, total):
                block = b.index(block, spec=(("slice", lo, hi, None),))
            blocks.append(b.reshape(block, shape=out_shape + x.shape))
    out.outputs = blocks
    return optimize(out, verify)
