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

from numba import typeof

from tracegrad.compiler import cache
from tracegrad.compiler.runners import sample_arguments


def main() -> int:
    """Compile the job read from stdin; 0 on success."""
    job = json.loads(sys.stdin.read())
    fn = cache.load_kernel(job["source"], job["entry"])
    fn.compile(tuple(typeof(a) for a in sample_arguments(job["args"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
