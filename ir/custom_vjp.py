"""The op-table entry ``custom_vjp``: a call of a sub-graph whose vjp is another sub-graph.

A custom ``autograd.Function`` traced inside a compiled function becomes one
node: its attr `fwd` computes the output from the inputs; `bwd` takes the
inputs and the output's cotangent and returns one gradient per input.  Running,
differentiating and batching the node means running, replaying and batching
those graphs, so the entry is defined here, above the interpreter and the
batching transformation, and :func:`~tracegrad.ir.ops.register_op` adds it to
the table when the package is imported.
"""

from __future__ import annotations

import numpy as np

from .batching import batch_graph
from .graph import GraphBuilder
from .interpret import interpret
from .ops import Op, Sample, ShapeError, _batch_size, _u, register_op
from .types import TensorType
from .walk import replay

__all__ = ["CUSTOM_VJP"]


def _custom_impl(*xs, fwd, bwd):
    return interpret(fwd, list(xs))[0]


def _custom_rule(types, fwd, bwd):
    want = [v.type for v in fwd.inputs]
    if list(types) != want:
        raise ShapeError(f"custom_vjp: inputs {list(types)} do not match its forward graph's {want}")
    return fwd.outputs[0].type


def _vjp_custom(E, ctx, g):
    return tuple(replay(ctx.attrs["bwd"], E, list(ctx.args) + [g]))


def _custom_samples(rng, dtype):
    # x * x with the backward 2 * x * g, built as graphs.
    t = TensorType(np.dtype(dtype), (3,))
    f = GraphBuilder()
    x = f.input(t)
    f.graph.outputs = [f.mul(x, x)]
    f.graph.name = "square_fwd"
    b = GraphBuilder()
    xb, gb = b.input(t), b.input(t)
    b.graph.outputs = [b.mul(b.mul(xb, 2.0), gb)]
    b.graph.name = "square_bwd"
    return [Sample((_u(rng, (3,), dtype),), {"fwd": f.graph, "bwd": b.graph}, note="square")]


def _batch_custom_vjp(E, name, args, batched, attrs):
    """sub-graphs batched (the backward sums shared inputs' gradients over the rows)"""
    n = _batch_size(E, args, batched)
    fwd = batch_graph(attrs["fwd"], batched, n)
    # The backward reads the inputs and the output's cotangent, which has a batch axis like the output.
    shared = [k for k, flag in enumerate(batched) if not flag]
    bwd = batch_graph(attrs["bwd"], tuple(batched) + (True,), n, sum_rows=shared)
    return E.custom_vjp(*args, fwd=fwd, bwd=bwd)


CUSTOM_VJP = Op("custom_vjp", arity=None, attrs=("fwd", "bwd"), kind="other", impl=_custom_impl,
                type_rule=_custom_rule, vjp=_vjp_custom, saves=("all",), node_name="CustomFunctionBackward",
                samples=_custom_samples, promote="keep", batch=_batch_custom_vjp,
                doc="call of the sub-graph fwd whose vjp is the sub-graph bwd (custom autograd.Function)")
register_op(CUSTOM_VJP)
