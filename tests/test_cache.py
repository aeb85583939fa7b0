"""Tests of the kernel caches (tracegrad.compiler.cache).

Toy kernels are generated here (``kernel_<hash>(a, out)`` writing ``a + 1``),
each with a unique salt so that every test gets its own module: loaded
modules stay in ``sys.modules`` for the life of the process.  Disk tests use a
``TRACEGRAD_CACHE_DIR`` under pytest's tmp_path.  Subprocesses pay numba's
import (~0.5 s each), so only the tests that need a fresh process use them.
"""

from __future__ import annotations

import hashlib
import json
import linecache
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
import warnings

import numpy as np
import pytest

from tracegrad.compiler import cache as kc

NUMBA_SUFFIXES = (".nbi", ".nbc")


@pytest.fixture(autouse=True)
def _kernels_only(monkeypatch):
    """These tests are about kernels: compiled functions here skip the executor tier."""
    monkeypatch.setenv("TRACEGRAD_TIER", "kernel")


# -- helpers ------------------------------------------------------------------


def toy_source(salt: str | None = None, *, eager: bool = False) -> tuple[str, str]:
    """(source, entry name) of a kernel adding 1 to an array; unique per salt."""
    salt = salt or uuid.uuid4().hex
    entry = "kernel_" + hashlib.sha256(salt.encode()).hexdigest()[:16]
    sig = '"void(float64[::1], float64[::1])", ' if eager else ""
    source = textwrap.dedent(
        f"""\
        # generated toy kernel, salt {salt}
        import numba


        @numba.njit({sig}cache=True)
        def {entry}(a, out):
            for i in range(a.shape[0]):
                out[i] = a[i] + 1.0


        def explode(x):
            raise ValueError("generated line " + str(x))
        """
    )
    return source, entry


def check(f) -> None:
    a = np.arange(5.0)
    out = np.zeros(5)
    f(a, out)
    np.testing.assert_array_equal(out, a + 1.0)


def forget(f) -> None:
    """Drop a loaded kernel module so the next load_kernel runs it again (like a new process)."""
    sys.modules.pop(f.__module__, None)


def numba_files(directory) -> list[str]:
    pyc = os.path.join(directory, "__pycache__")
    if not os.path.isdir(pyc):
        return []
    return sorted(os.path.join(pyc, n) for n in os.listdir(pyc) if n.endswith(NUMBA_SUFFIXES))


def all_files(directory) -> list[str]:
    return sorted(os.path.join(r, n) for r, _, ns in os.walk(directory) for n in ns)


def total_hits(f) -> int:
    return sum(f.stats.cache_hits.values())


def assert_rebuilt_then_cached(source: str, entry: str, warning: str) -> None:
    """Loading over a damaged numba cache warns (`warning`) and recompiles; the recompile
    writes a healthy cache, which the next load then hits silently."""
    with pytest.warns(RuntimeWarning, match=warning):
        g = kc.load_kernel(source, entry)
        check(g)
    assert total_hits(g) == 0
    forget(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = kc.load_kernel(source, entry)
        check(h)
    assert total_hits(h) == 1


def total_misses(f) -> int:
    return sum(f.stats.cache_misses.values())


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """A fresh cache root; returns the effective cache directory (root/numba-<version>)."""
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACEGRAD_CACHE", raising=False)
    directory = kc.cache_dir()
    assert directory.startswith(str(tmp_path / "cache"))
    return directory


# Run in fresh interpreters.  The cache module is loaded from its file so the
# child does not import the tracegrad front end (faster, and independent of it).
CHILD = r"""
import importlib.util, json, os, sys
import numpy as np, warnings
warnings.simplefilter("always")
caught = warnings.catch_warnings(record=True).__enter__()
spec = importlib.util.spec_from_file_location("tg_cache_under_test", sys.argv[1])
kc = importlib.util.module_from_spec(spec); spec.loader.exec_module(kc)
source, entry = sys.argv[2], sys.argv[3]
f = kc.load_kernel(source, entry)
a = np.arange(5.0); out = np.zeros(5); f(a, out)
path = sys.modules[f.__module__].__file__
print(json.dumps({
    "out": out.tolist(),
    "hits": sum(f.stats.cache_hits.values()),
    "misses": sum(f.stats.cache_misses.values()),
    "path": path,
    "mtime_ns": os.stat(path).st_mtime_ns,
    "warnings": [str(w.message) for w in caught],
}))
"""


def child_cmd(source, entry):
    return [sys.executable, "-c", CHILD, kc.__file__, source, entry]


def child_env(cache_root, **extra):
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(cache_root), **extra)
    env.pop("TRACEGRAD_CACHE", None)
    return env


def run_child(source, entry, cache_root):
    proc = subprocess.run(
        child_cmd(source, entry), env=child_env(cache_root), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- load_kernel: basics ------------------------------------------------------


def test_result_file_written_once_and_reused(disk):
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    check(f)
    path = sys.modules[f.__module__].__file__
    assert os.path.dirname(path) == disk
    assert os.path.basename(path).startswith("_tracegrad_kernel_")
    with open(path, encoding="utf-8") as fh:
        assert fh.read() == source
    mtime = os.stat(path).st_mtime_ns

    # Same process, same source: the very same function, nothing touched.
    assert kc.load_kernel(source, entry) is f

    # Reloading the module (as a new process would) reuses the file as is
    # and finds numba's machine code on disk instead of compiling.
    assert numba_files(disk), "numba wrote no cache next to the module"
    forget(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = kc.load_kernel(source, entry)
    assert g is not f
    check(g)
    assert os.stat(path).st_mtime_ns == mtime
    assert total_hits(g) == 1 and total_misses(g) == 0


def test_key_and_versions_select_the_module(disk):
    source, entry = toy_source()
    f, g, h = (kc.load_kernel(source, entry, key=k) for k in (None, "a", "b"))
    assert len({f.__module__, g.__module__, h.__module__}) == 3
    assert kc.load_kernel(source, entry, key="a") is g
    assert len([p for p in os.listdir(disk) if p.endswith(".py")]) == 3


def test_missing_entry_and_broken_source(disk):
    source, entry = toy_source()
    with pytest.raises(AttributeError, match="defines no 'kernel_nope'"):
        kc.load_kernel(source, "kernel_nope")

    bad = "import numba\n\ndef kernel_bad(:\n    pass\n"
    with pytest.raises(SyntaxError):
        kc.load_kernel(bad, "kernel_bad")
    failing = "import numba\nraise ImportError('generated module failed')\n"
    with pytest.raises(ImportError, match="generated module failed"):
        kc.load_kernel(failing, "kernel_x")
    # A failed module is not left half-initialised in sys.modules.
    assert kc._PREFIX + kc._digest(failing, None) not in sys.modules


def test_fresh_process_loads_from_disk_cache(tmp_path):
    source, entry = toy_source()
    root = tmp_path / "cache"
    first = run_child(source, entry, root)
    assert first["out"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (first["hits"], first["misses"]) == (0, 1) and first["warnings"] == []
    directory = os.path.dirname(first["path"])
    files = numba_files(directory)
    assert any(p.endswith(".nbi") for p in files) and any(p.endswith(".nbc") for p in files)
    stamps = {p: os.stat(p).st_mtime_ns for p in files}

    second = run_child(source, entry, root)
    assert second["out"] == first["out"]
    # numba loaded the machine code: a cache hit, no compile, nothing rewritten.
    assert (second["hits"], second["misses"]) == (1, 0)
    assert second["path"] == first["path"] and second["mtime_ns"] == first["mtime_ns"]
    assert {p: os.stat(p).st_mtime_ns for p in numba_files(directory)} == stamps


# -- load_kernel: damaged files ----------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_module_file_is_rewritten(disk, damage):
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    path = sys.modules[f.__module__].__file__
    data = source.encode()
    bad = {"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage]
    with open(path, "wb") as fh:
        fh.write(bad)
    forget(f)
    with pytest.warns(RuntimeWarning, match="corrupt") as record:
        g = kc.load_kernel(source, entry)
    assert record[0].filename == __file__  # blamed on the caller, not on cache.py
    check(g)
    with open(path, "rb") as fh:
        assert fh.read() == data


def reseal(paths) -> None:
    """Make the checksum files of *paths* match their contents, as if numba had written them."""
    kc._seal_files(paths)


@pytest.mark.parametrize("resealed", [False, True], ids=["checksum-fails", "checksum-passes"])
@pytest.mark.parametrize(
    "eager, which",
    [(False, ".nbi"), (False, ".nbc"), (False, "both"), (True, "both")],
    ids=["lazy-index", "lazy-data", "lazy-both", "eager-both"],
)
def test_garbage_numba_cache_is_discarded(disk, eager, which, resealed):
    source, entry = toy_source(eager=eager)
    f = kc.load_kernel(source, entry)
    check(f)
    files = numba_files(disk)
    assert len(files) == 2
    damaged = [p for p in files if which == "both" or p.endswith(which)]
    for p in damaged:
        with open(p, "wb") as fh:
            fh.write(os.urandom(300))
    forget(f)
    if not resealed:
        # The checksum files catch it before numba reads anything.
        assert_rebuilt_then_cached(source, entry, "damaged numba cache.*checksum mismatch")
        return
    # Files that match their checksums but that numba cannot read (what a numba
    # changing its format without a version bump would leave): lazily typed
    # functions read the cache at the first call (caught by the guard on the
    # dispatcher); eagerly typed ones while the module runs (caught by
    # load_kernel, which retries once).
    reseal(damaged)
    expected = "failed with its numba cache" if eager else "unreadable numba cache"
    assert_rebuilt_then_cached(source, entry, expected)


def test_failing_numba_cache_save_only_costs_the_cache(disk, monkeypatch):
    from numba.core import caching

    def full_disk(self, key, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", full_disk)
    f = kc.load_kernel(*toy_source())
    with pytest.warns(RuntimeWarning, match="could not save numba cache.*No space left"):
        check(f)
    check(f)  # compiled and usable; only the disk copy is missing
    assert numba_files(disk) == []


def test_cache_written_without_sys_modules_is_recovered(disk):
    # The failure mode that registering in sys.modules avoids: a module run
    # without being in sys.modules gets a numba cache that refers to the
    # module '<dynamic>', and loading that cache in any later process raises
    # ModuleNotFoundError (the writing process itself is not affected).
    # Produce such a cache here, then load through tracegrad in a new process.
    import importlib.util

    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    path = sys.modules[f.__module__].__file__
    forget(f)
    for p in numba_files(disk):
        os.unlink(p)
    spec = importlib.util.spec_from_file_location(f.__module__, path)
    rogue = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rogue)  # deliberately NOT in sys.modules
    check(getattr(rogue, entry))
    assert numba_files(disk)
    # Sealed as if tracegrad's guarded save had written them: what is tested is
    # the recovery from a cache that is intact but cannot be loaded.
    reseal(numba_files(disk))

    child = run_child(source, entry, os.path.dirname(disk))
    assert child["out"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert child["misses"] == 1
    assert any("numba cache" in w and "ModuleNotFoundError" in w for w in child["warnings"]), child["warnings"]
    # ... and the cache it rewrote is healthy.
    forget(f)
    h = kc.load_kernel(source, entry)
    check(h)
    assert total_hits(h) == 1


# -- load_kernel: directories -------------------------------------------------


def _unwritable_root(tmp_path):
    """A cache root that cannot be written, even by root."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        (ro / "probe").write_text("x")
    except OSError:
        return ro  # permissions are enforced (not root)
    # Root ignores permission bits: use a path below a regular file instead,
    # which can never be created.
    os.unlink(ro / "probe")
    os.chmod(ro, 0o700)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    return blocker / "sub"


def test_unwritable_dir_falls_back_with_one_warning(tmp_path, monkeypatch):
    root = _unwritable_root(tmp_path)
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(root))
    monkeypatch.delenv("TRACEGRAD_CACHE", raising=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fs = [kc.load_kernel(*toy_source()) for _ in range(2)]
        ours = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(ours) == 1, [str(w.message) for w in caught]
        assert str(root) in str(ours[0].message)
        for f in fs:
            check(f)
            assert not sys.modules[f.__module__].__file__.startswith(str(root))
        assert kc.KernelCache().info().disk_dir is None
    finally:
        if root.name == "readonly":
            os.chmod(root, 0o700)


def test_read_only_dir_with_entry_is_used(disk, monkeypatch):
    # A directory where the lock file cannot be created (read-only mount,
    # cache baked into an image): existing entries are still used as they
    # are; only missing ones fall back.  Simulated by failing the lock,
    # since root can write anywhere.
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    check(f)
    path = sys.modules[f.__module__].__file__
    forget(f)

    def no_lock(lock_path):
        raise PermissionError(13, "Permission denied", lock_path)

    monkeypatch.setattr(kc, "_lock", no_lock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = kc.load_kernel(source, entry)
    check(g)
    assert sys.modules[g.__module__].__file__ == path and total_hits(g) == 1

    with pytest.warns(RuntimeWarning, match="not writable") as record:
        h = kc.load_kernel(*toy_source())
    assert disk in str(record[0].message)
    check(h)
    assert os.path.dirname(sys.modules[h.__module__].__file__) != disk


def test_errors_of_the_module_are_not_taken_for_unwritable_dirs(disk):
    source = "import numba\nopen('/nonexistent/tracegrad/file')\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FileNotFoundError):
            kc.load_kernel(source, "kernel_x")


def test_threads_loading_one_kernel(disk):
    # Eager compile keeps the module running for a while: other threads
    # must wait for it rather than pick up the half-initialised module.
    source, entry = toy_source(eager=True)
    start = threading.Barrier(4)
    results, errors = [], []

    def worker():
        start.wait()
        try:
            results.append(kc.load_kernel(source, entry))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r is results[0] for r in results)
    check(results[0])


def test_cache_disabled_writes_nothing(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(root))
    monkeypatch.setenv("TRACEGRAD_CACHE", "0")
    assert kc.cache_dir() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = kc.load_kernel(*toy_source())
    check(f)
    assert not root.exists()
    path = sys.modules[f.__module__].__file__
    assert os.path.exists(path) and not path.startswith(str(tmp_path))
    assert numba_files(os.path.dirname(path)) == []  # no point caching in a private dir
    assert kc.cache_info().disk_dir is None


def test_processes_racing_on_one_key(tmp_path):
    # Eagerly typed, so the compile happens inside load_kernel, under the
    # per-key file lock: exactly one process compiles, the others must find
    # its numba cache, however the processes interleave.
    source, entry = toy_source(eager=True)
    root = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            child_cmd(source, entry), env=child_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["out"] == [1.0, 2.0, 3.0, 4.0, 5.0] for r in results)
    assert not any(r["warnings"] for r in results), results
    assert len({r["path"] for r in results}) == 1
    assert len({r["mtime_ns"] for r in results}) == 1  # written once
    files = all_files(root)
    assert [f for f in files if f.endswith(".py")] == [results[0]["path"]]
    assert not [f for f in files if "tmp" in os.path.basename(f)], files
    assert len([f for f in files if f.endswith(".nbi")]) == 1
    assert sorted(r["misses"] for r in results) == [0, 0, 1]
    assert sorted(r["hits"] for r in results) == [0, 1, 1]


# -- linecache and clear_cache ------------------------------------------------


def test_linecache_has_the_source(disk):
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    module = sys.modules[f.__module__]
    path = module.__file__
    os.unlink(path)  # tracebacks must not depend on the file surviving
    linecache.checkcache()
    assert linecache.getlines(path) == source.splitlines(True)
    try:
        module.explode(3)
    except ValueError:
        text = traceback.format_exc()
    assert path in text and 'raise ValueError("generated line " + str(x))' in text


def test_clear_cache_disk(disk):
    f = kc.load_kernel(*toy_source())
    check(f)
    assert os.listdir(disk)
    kc.default_cache.put(("k",), 1)
    kc.clear_cache()
    assert kc.cache_info()[:5] == (0, 0, 0, 0, 0)
    assert os.listdir(disk)
    kc.clear_cache(disk=True)
    assert all_files(disk) == []
    info = kc.cache_info()
    assert info.disk_dir == disk and info.entries == 0


# -- KernelCache ----------------------------------------------------------------


def test_lru_eviction_and_counts():
    c = kc.KernelCache(maxsize=3)
    for k in "abc":
        c.put((k,), k.upper())
    assert c.get(("a",)) == "A"  # a is now the most recent
    c.put(("d",), "D")  # evicts b, the least recently used
    assert ("b",) not in c and ("a",) in c
    assert c.get(("b",)) is None
    assert c.get_or_create(("c",), lambda: 1 / 0) == "C"
    assert c.get_or_create(("e",), lambda: "E") == "E"  # evicts a (c was just used)
    assert ("a",) not in c and len(c) == 3
    info = c.info()
    assert (info.entries, info.hits, info.misses, info.compiles, info.evictions) == (3, 2, 2, 1, 2)
    assert c.maxsize == 3
    c.clear()
    assert c.info()[:5] == (0, 0, 0, 0, 0) and len(c) == 0


def test_size_from_environment(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_MEMORY_CACHE_SIZE", "2")
    assert kc.KernelCache().maxsize == 2
    assert kc.KernelCache(5).maxsize == 5
    monkeypatch.setenv("TRACEGRAD_MEMORY_CACHE_SIZE", "lots")
    with pytest.warns(RuntimeWarning, match="TRACEGRAD_MEMORY_CACHE_SIZE"):
        assert kc.KernelCache().maxsize == 256
    monkeypatch.delenv("TRACEGRAD_MEMORY_CACHE_SIZE")
    assert kc.KernelCache().maxsize == 256
    none = kc.KernelCache(0)
    assert none.get_or_create("k", lambda: 1) == 1 and len(none) == 0
    with pytest.raises(ValueError):
        kc.KernelCache(-1)


def test_get_or_create_builds_once_across_threads():
    c = kc.KernelCache()
    calls = []
    start = threading.Barrier(8)

    def factory():
        calls.append(threading.get_ident())
        time.sleep(0.05)  # keep the others waiting on the per-key lock
        return object()

    results = [None] * 8

    def worker(i):
        start.wait()
        results[i] = c.get_or_create(("shared", "key"), factory)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    info = c.info()
    assert info.compiles == 1 and info.hits + info.misses == 8 and info.misses == 1
    assert c._key_locks == {}  # per-key locks do not pile up


def test_get_or_create_failures_and_recursion():
    c = kc.KernelCache()

    def boom():
        raise KeyError("nope")

    with pytest.raises(KeyError):
        c.get_or_create("k", boom)
    assert "k" not in c
    assert c.get_or_create("k", lambda: 2) == 2  # a later call may build it

    with pytest.raises(RuntimeError, match="its own key"):
        c.get_or_create("r", lambda: c.get_or_create("r", lambda: 1))
    # Factories may use the cache for other keys.
    assert c.get_or_create("outer", lambda: c.get_or_create("inner", lambda: 5) + 1) == 6


# -- damaged and foreign numba caches -------------------------------------------


@pytest.mark.parametrize("which", [".nbi", ".nbc"])
def test_truncated_numba_cache_is_discarded(disk, which):
    # A write cut short (full disk, killed process, copy interrupted): half
    # of a valid pickle, which fails differently from random bytes (EOF or
    # a truncated frame rather than a bad opcode).
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    check(f)
    (path,) = [p for p in numba_files(disk) if p.endswith(which)]
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    forget(f)
    assert_rebuilt_then_cached(source, entry, "damaged numba cache.*checksum mismatch")


def _simulate_numba_version(monkeypatch, version: str) -> None:
    """Make this process look like it runs numba `version` to numba's cache and to ours.

    numba stamps its index with ``numba.__version__`` (read when a cached
    function is defined); tracegrad derives its directory and module digests
    from the versions it memoised, which are reset so they are read again.
    """
    import numba

    monkeypatch.setattr(numba, "__version__", version)
    monkeypatch.setattr(kc, "_versions_cache", None)
    monkeypatch.setattr(kc, "_base_hash", None)


def test_numba_upgrade_uses_a_fresh_directory(disk, monkeypatch):
    # After an upgrade nothing on disk is reused or touched: the new version
    # compiles into its own directory (no warning: nothing was damaged), and
    # going back finds the old entries intact.
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    check(f)
    before = {p: os.stat(p).st_mtime_ns for p in all_files(disk)}
    forget(f)

    with monkeypatch.context() as m:
        _simulate_numba_version(m, "0.0.0+simulated")
        upgraded = kc.cache_dir()
        assert upgraded != disk and upgraded.endswith("numba-0.0.0+simulated")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = kc.load_kernel(source, entry)
            check(g)
        assert os.path.dirname(sys.modules[g.__module__].__file__) == upgraded
        assert g.__module__ != f.__module__
        assert total_misses(g) == 1 and numba_files(upgraded)
        forget(g)

    assert kc.cache_dir() == disk
    assert {p: os.stat(p).st_mtime_ns for p in all_files(disk)} == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = kc.load_kernel(source, entry)
        check(h)
    assert total_hits(h) == 1


def test_numba_index_of_another_version_is_rebuilt_with_a_warning(disk):
    # The same module path with an index stamped by another numba (a cache
    # copied between machines, a numba rebuilt without a version bump):
    # numba would silently ignore it and overwrite it; we say so.
    source, entry = toy_source()
    f = kc.load_kernel(source, entry)
    check(f)
    (index,) = [p for p in numba_files(disk) if p.endswith(".nbi")]
    with open(index, "rb") as fh:
        pickle.load(fh)  # numba's version stamp, pickled on its own
        rest = fh.read()
    with open(index, "wb") as fh:
        fh.write(pickle.dumps("0.0.0+other") + rest)
    forget(f)
    with pytest.warns(RuntimeWarning, match=r"written by numba 0\.0\.0\+other") as record:
        g = kc.load_kernel(source, entry)
        check(g)
    assert record[0].filename == __file__
    assert total_misses(g) == 1
    # The recompile replaced the index: the next process loads it silently.
    forget(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = kc.load_kernel(source, entry)
        check(h)
    assert total_hits(h) == 1


def test_maxsize_can_be_changed_at_run_time():
    c = kc.KernelCache(maxsize=4)
    for k in range(4):
        c.put(k, str(k))
    assert c.get(0) == "0"  # 0 is now the most recent, 1 the least
    c.maxsize = 2  # shrinking evicts at once, least recently used first
    assert len(c) == 2 and 0 in c and 3 in c and c.info().evictions == 2
    c.maxsize = 5
    for k in range(10, 14):
        c.put(k, str(k))
    assert len(c) == 5 and c.maxsize == 5
    for bad, error in ((-1, ValueError), (2.5, TypeError), ("3", TypeError)):
        with pytest.raises(error):
            c.maxsize = bad
    assert c.maxsize == 5 and len(c) == 5  # a rejected value changes nothing
    c.maxsize = np.int64(1)  # any integer type
    assert c.maxsize == 1 and len(c) == 1
    c.maxsize = 0
    c.put("x", 1)
    assert len(c) == 0


def test_default_cache_takes_its_size_from_the_environment(monkeypatch):
    # default_cache is made when the module is imported: load a second copy
    # of the module file, as a new process would (numba is not imported).
    import importlib.util

    monkeypatch.setenv("TRACEGRAD_MEMORY_CACHE_SIZE", "3")
    spec = importlib.util.spec_from_file_location("tg_cache_size_probe", kc.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert fresh.default_cache.maxsize == 3
    for k in range(5):
        fresh.default_cache.get_or_create(k, lambda k=k: k)
    info = fresh.cache_info()
    assert (info.entries, info.compiles, info.evictions) == (3, 5, 2)


def _kernel_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith(kc._PREFIX)}


def test_evicted_kernel_is_rebuilt_from_disk(disk, monkeypatch):
    # A real compiled function through a cache bounded to two kernels: the
    # bound holds, and a kernel needed again after its eviction is rebuilt
    # from the disk cache (its module forgotten, as in a new process)
    # without compiling and with the right results.
    import tracegrad as tg

    kernels = kc.KernelCache(maxsize=2)
    monkeypatch.setattr(kc, "default_cache", kernels)
    salt = 1.0 + uuid.uuid4().int % 10**6 / 10**7  # a constant no other test's kernel has
    scales = [salt + k for k in range(3)]

    def make(scale):
        return lambda x: tg.tanh(x) * scale

    x = np.linspace(-2.0, 2.0, 9)
    modules = []
    for scale in scales:
        before = _kernel_modules()
        np.testing.assert_allclose(tg.jit(make(scale))(x), np.tanh(x) * scale, rtol=1e-6)
        (new,) = _kernel_modules() - before
        modules.append(new)
        assert len(kernels) <= 2
    info = kernels.info()
    assert (info.entries, info.compiles, info.evictions) == (2, 3, 1)
    assert kernels.maxsize == 2

    # Still cached: a new function with the same graph reuses the kernel.
    np.testing.assert_allclose(tg.jit(make(scales[2]))(x), np.tanh(x) * scales[2], rtol=1e-6)
    assert kernels.info().compiles == 3

    # Evicted: rebuilt, from numba's machine code on disk.
    sys.modules.pop(modules[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(tg.jit(make(scales[0]))(x), np.tanh(x) * scales[0], rtol=1e-6)
    info = kernels.info()
    assert (info.entries, info.compiles, info.evictions) == (2, 4, 2)
    # Only the module's own functions: the runtime helpers it imports are not cached.
    dispatchers = [v for v in vars(sys.modules[modules[0]]).values()
                   if hasattr(v, "stats") and v.py_func.__module__ == modules[0]]
    assert dispatchers
    assert sum(total_hits(d) for d in dispatchers) == 1
    assert sum(total_misses(d) for d in dispatchers) == 0


# -- threads --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["grad", "jit"])
def test_threads_calling_one_function_with_mixed_shapes(disk, monkeypatch, mode):
    # Eight threads call one compiled function, each cycling through three
    # shapes from a different starting point, so that every key is asked
    # for by several threads at once: every result is right and every key
    # is traced and compiled exactly once.
    import tracegrad as tg

    kernels = kc.KernelCache()
    monkeypatch.setattr(kc, "default_cache", kernels)
    c = 1.0 + uuid.uuid4().int % 10**6 / 10**7  # fresh kernels, not ones an earlier test left
    if mode == "grad":
        f = tg.grad(lambda x: (tg.sin(x) * x).sum() * c)

        def expected(x):
            return (np.cos(x) * x + np.sin(x)) * c
    else:
        f = tg.jit(lambda x: tg.tanh(x) * c + x * x)

        def expected(x):
            return np.tanh(x) * c + x * x

    shapes = [(7,), (3, 4), (2, 3, 5)]
    n_threads, rounds = 8, 9
    start = threading.Barrier(n_threads)
    failures = []

    def worker(k):
        rng = np.random.default_rng(k)
        start.wait()
        try:
            for i in range(rounds):
                x = rng.normal(size=shapes[(i + k) % len(shapes)])
                got = f(x)
                assert got.shape == x.shape
                np.testing.assert_allclose(got, expected(x), rtol=1e-6, atol=1e-12)
        except BaseException as exc:  # reported below, from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]
    info = f.cache_info()
    assert (info.traces, info.misses) == (3, 3)
    assert info.hits <= n_threads * rounds - 3  # hits are counted without a lock: may lose some
    assert kernels.info().compiles == 3 and len(kernels) == 3


def test_cache_key_covers_the_inlined_runtime(monkeypatch):
    """Kernels inline compiler/runtime.py's functions, so its source is part of what makes code reusable."""
    versions = dict(kc._versions())
    assert versions["runtime"] == kc._runtime_digest()
    monkeypatch.setattr(kc, "_versions_cache", None)
    monkeypatch.setattr(kc, "_runtime_digest", lambda: "another-runtime")
    assert dict(kc._versions())["runtime"] == "another-runtime"


def test_the_same_graph_from_other_lines_reuses_the_compiled_kernel(disk):
    import tracegrad as tg

    def first(x):
        return (tg.sin(x) * x).sum()

    def second(x):  # the same computation on other lines, under another name
        y = tg.sin(x)
        return (y * x).sum()
    x = np.linspace(0.0, 1.0, 7)
    a, b = tg.grad(first), tg.grad(second)
    want = a(x)
    kc.default_cache.clear()  # as in a new process: only the disk cache is left
    np.testing.assert_array_equal(b(x), want)
    texts = [next(iter(g._cache.values()))[0].kernel_source()["graph"] for g in (a, b)]
    assert texts[0] != texts[1]  # each kernel's text cites its own lines...
    modules = [f for f in os.listdir(disk) if f.startswith("_tracegrad_kernel_") and f.endswith(".py")]
    assert len(modules) == 1, modules  # ...and both run one compiled module
