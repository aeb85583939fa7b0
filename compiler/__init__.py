"""tracegrad's compiler: from IR graphs to fast code (adjoint derivation, passes, lowering)."""
