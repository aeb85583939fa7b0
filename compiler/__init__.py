"""tracegrad's compiler: from IR graphs to fast code (adjoint derivation, passes, lowering)."""

#: Backends a compiled function can run on.  The numba one is imported on first use, so
#: programs that only use eager mode never import numba.
BACKENDS = ("auto", "numba", "executor", "interpreter")
