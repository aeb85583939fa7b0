"""Session set-up shared by the test modules."""


def pytest_sessionstart(session):
    """Build (or load) the executor's machine once, before pytest-xdist starts its test processes.

    Otherwise each process finds numba's cache empty on a fresh machine and compiles the same
    machine at the same time as the others, on the same cores.
    """
    if hasattr(session.config, "workerinput"):  # a test process: the controller has built it
        return
    from tracegrad.compiler import executor
    executor.machine()
