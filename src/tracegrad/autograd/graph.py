"""``tracegrad.autograd.graph``: the tape's node classes (PyTorch's module of that name).

The engine itself is ``tracegrad._engine``, below the Tensor class that records into it.
"""

from tracegrad._engine import AccumulateGrad, Node, OpNode, node_class

__all__ = ["Node", "OpNode", "AccumulateGrad", "node_class"]
