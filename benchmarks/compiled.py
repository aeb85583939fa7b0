"""Compiled-mode benchmark (the same as ``tracegrad bench``); see ``tracegrad.bench``."""

import sys

from tracegrad.bench import main

if __name__ == "__main__":
    sys.exit(main())
