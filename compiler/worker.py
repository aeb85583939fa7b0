"""A compile worker: ``python -m tracegrad.compiler.worker`` reads one kernel job on stdin.

The job (JSON: ``source``, ``entry``, ``args``) names a generated kernel
module and, per flat array argument, its dtype and whether it is writeable.  The worker loads the
module through the kernel cache and has numba compile the entry for those
argument types, which writes the machine code into the disk cache, where the
process that asked loads it without compiling.  Exit status 0 means done.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    """Compile the job read from stdin; 0 on success."""
    import numpy as np
    from numba import typeof

    from tracegrad.compiler import cache
    job = json.loads(sys.stdin.read())
    fn = cache.load_kernel(job["source"], job["entry"])
    samples = []
    for dtype, writeable in job["args"]:
        a = np.zeros(1, np.dtype(dtype))
        a.setflags(write=writeable)
        samples.append(a)
    samples += [np.zeros(1, np.int64), np.zeros(1, np.int64)]  # extents, status word
    fn.compile(tuple(typeof(a) for a in samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
