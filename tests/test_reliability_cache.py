"""Reliability of the kernel cache: damaged files, keys, disk size, memory.

Loading a damaged numba cache file can kill the process (numba maps the
machine code it finds into memory and runs it), so the byte-flipping test
damages and loads in a child process, whose exit status it checks.  The
other tests run in process, each with its own cache directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import warnings

import numpy as np
import pytest

from tracegrad.compiler import cache as kc


@pytest.fixture(autouse=True)
def _kernels_only(monkeypatch):
    """These tests are about kernels: compiled functions here skip the executor tier."""
    monkeypatch.setenv("TRACEGRAD_TIER", "kernel")


# One child runs every case: it builds a toy kernel's cache once, keeps a copy
# of its files, and for each case puts the copy back (contents and mtimes, so
# numba would otherwise load it), flips one byte, loads the kernel again as a
# new process would, and calls it.  Each case's result is printed as it
# finishes, so a crash names the case that caused it.
CHILD = r"""
import importlib.util, json, os, sys, warnings
import numpy as np

spec = importlib.util.spec_from_file_location("tg_cache_under_test", sys.argv[1])
kc = importlib.util.module_from_spec(spec); spec.loader.exec_module(kc)
directory = kc.cache_dir()

source = '''
import numba


@numba.njit(cache=True)
def kernel_flip(a, out):
    for i in range(a.shape[0]):
        out[i] = a[i] * 2.0 + 1.0
'''


def files():
    return sorted(os.path.join(r, n) for r, _, ns in os.walk(directory) for n in ns if not n.endswith(".lock"))


def run():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = kc.load_kernel(source, "kernel_flip")
        a = np.arange(5.0); out = np.zeros(5); f(a, out)
    sys.modules.pop(f.__module__)  # the next load runs the module again, as a new process would
    hits = sum(f.stats.cache_hits.values())
    return {"out": out.tolist(), "hits": hits, "warnings": [str(w.message) for w in caught]}


first = run()
snapshot = {}
for p in files():
    with open(p, "rb") as fh:
        snapshot[p] = (fh.read(), os.stat(p).st_mtime_ns)
print(json.dumps({"files": {os.path.relpath(p, directory): len(d) for p, (d, _) in snapshot.items()}}), flush=True)


def restore():
    for p in files():
        if p not in snapshot:
            os.unlink(p)
    for p, (data, mtime) in snapshot.items():
        with open(p, "wb") as fh:
            fh.write(data)
        os.utime(p, ns=(mtime, mtime))


def offsets(name, data):
    size = len(data)
    spots = [0, size // 2, size - 1]
    if name.endswith(".nbc"):
        spots += [size * k // 6 for k in range(6)] + [8000]
        # The object code numba maps into memory: flipping its section header
        # offset or section name index used to abort or crash every later process.
        elf = data.find(b"\x7fELF")
        if elf >= 0:
            spots += [elf + 0x28, elf + 0x3c]
    return sorted({o for o in spots if o < size})


restore()
print(json.dumps({"case": "pristine", **run()}), flush=True)
cases = [(os.path.relpath(p, directory), o) for p, (d, _) in snapshot.items() for o in offsets(p, d)]
for name, offset in cases:
    restore()
    (path,) = [p for p in snapshot if os.path.relpath(p, directory) == name]
    data = bytearray(snapshot[path][0])
    data[offset] ^= 0xFF
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, ns=(snapshot[path][1],) * 2)
    print(json.dumps({"case": [name, offset], "start": True}), flush=True)
    damaged = run()
    again = run()  # the rebuilt entry is healthy: loaded silently
    print(json.dumps({"case": [name, offset], **damaged, "again": again}), flush=True)
"""


def _kind(name: str) -> str:
    for suffix in (".nbi.sha256", ".nbc.sha256", ".nbi", ".nbc", ".py"):
        if name.endswith(suffix):
            return suffix
    return name


def test_a_flipped_byte_in_any_cache_file_is_rebuilt_with_a_warning(tmp_path):
    expected = (np.arange(5.0) * 2.0 + 1.0).tolist()
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("TRACEGRAD_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, kc.__file__], env=env, capture_output=True, text=True,
                          timeout=600)
    sizes = json.loads(proc.stdout.splitlines()[0])["files"] if proc.stdout else {}
    # Every kind of file the cache writes is damaged (the empty lock file has no bytes to flip).
    assert sorted({_kind(n) for n in sizes}) == [".nbc", ".nbc.sha256", ".nbi", ".nbi.sha256", ".py"], proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()[1:]]
    started = [r["case"] for r in lines if r.get("start")]
    assert proc.returncode == 0, f"exit status {proc.returncode} after damaging {started[-1:]}: {proc.stderr[-2000:]}"
    pristine, results = lines[0], [r for r in lines[1:] if not r.get("start")]
    # The copy put back is loaded from the cache, silently.
    assert (pristine["out"], pristine["hits"], pristine["warnings"]) == (expected, 1, [])
    assert len(results) == len(started) >= 20
    for r in results:
        name, offset = r["case"]
        assert r["out"] == expected, r
        kind = _kind(name)
        if kind != ".py":  # a damaged module file is rewritten as it was, and numba's cache of it stays valid
            assert r["hits"] == 0, r  # damaged numba files are never loaded
        wanted = "is corrupt" if kind == ".py" else "damaged numba cache"
        assert any(wanted in w for w in r["warnings"]), (name, offset, r["warnings"])
        assert (r["again"]["out"], r["again"]["hits"], r["again"]["warnings"]) == (expected, 1, []), r


# -- kernel keys and constants -------------------------------------------------


def test_large_constant_outputs_do_not_leak_between_functions(tmp_path, monkeypatch):
    # A kernel binds its large constants (more than 64 elements) as arguments, so the
    # in-memory key must cover their data even when they are returned as they are.
    import tracegrad as tg

    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    x = np.arange(3.0)
    w1, w2 = np.linspace(0.0, 1.0, 100), np.linspace(5.0, 7.0, 100)
    first = tg.jit(lambda x: (x * 2.0, w1))(x)
    second = tg.jit(lambda x: (x * 2.0, w2))(x)
    np.testing.assert_array_equal(first[1], w1)
    np.testing.assert_array_equal(second[1], w2)
    np.testing.assert_array_equal(second[0], x * 2.0)
    # The same data under another name is the same kernel: no new compile.
    compiles = tg.cache_info().compiles
    third = tg.jit(lambda x: (x * 2.0, w2.copy()))(x)
    np.testing.assert_array_equal(third[1], w2)
    assert tg.cache_info().compiles == compiles


def test_large_constant_aux_does_not_leak_between_functions(tmp_path, monkeypatch):
    import tracegrad as tg

    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    x = np.arange(3.0)
    w1, w2 = np.linspace(0.0, 1.0, 100), np.linspace(5.0, 7.0, 100)
    (v1, aux1), g1 = tg.value_and_grad(lambda x: ((x * x).sum(), {"w": w1}), has_aux=True)(x)
    (v2, aux2), g2 = tg.value_and_grad(lambda x: ((x * x).sum(), {"w": w2}), has_aux=True)(x)
    np.testing.assert_array_equal(aux1["w"], w1)
    np.testing.assert_array_equal(aux2["w"], w2)
    assert float(v2) == 5.0
    np.testing.assert_array_equal(g2, 2.0 * x)


# -- size limit of the disk cache ------------------------------------------------


def _toy(salt: str) -> tuple[str, str]:
    entry = f"kernel_{salt}"
    source = (f"import numba\n\n\n@numba.njit(cache=True)\ndef {entry}(a, out):\n"
              f"    for i in range(a.shape[0]):\n        out[i] = a[i] * 2.0 + 1.0\n")
    return source, entry


def _load_and_call(source: str, entry: str) -> str:
    """Load (forgetting any loaded copy first, as a new process would), check the result; return the module name."""
    f = kc.load_kernel(source, entry)
    a, out = np.arange(4.0), np.zeros(4)
    f(a, out)
    np.testing.assert_array_equal(out, a * 2.0 + 1.0)
    sys.modules.pop(f.__module__)
    return f.__module__


def _kernel_files(directory: str, module: str) -> list[str]:
    return sorted(os.path.join(r, n) for r, _, ns in os.walk(directory) for n in ns if n.startswith(module + "."))


def _age(paths, seconds_ago: int) -> None:
    when = int((time.time() - seconds_ago) * 1e9)
    for p in paths:
        os.utime(p, ns=(when, when))


def test_disk_cache_keeps_under_its_limit_by_evicting_least_recently_used_kernels(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEGRAD_CACHE_SIZE", "unlimited")
    directory = kc.cache_dir()
    salt = uuid.uuid4().hex[:8]
    kernels = {name: _toy(f"{name}_{salt}") for name in "abcd"}
    modules = {name: _load_and_call(*kernels[name]) for name in "abc"}
    files = {name: _kernel_files(directory, m) for name, m in modules.items()}
    # Module, lock, numba's index and data, and their two checksums.
    assert all(len(fs) == 6 for fs in files.values()), files
    size = {name: sum(os.path.getsize(p) for p in fs) for name, fs in files.items()}
    # Last used: a three hours ago, b two, c one; then b is used again.
    for hours, name in zip((3, 2, 1), "abc"):
        _age(files[name], 3600 * hours)
    _load_and_call(*kernels["b"])
    # The limit holds three kernels; the fourth pushes it over, and eviction goes
    # below 90% of it: the least recently used kernel, a, goes, all its files.
    monkeypatch.setenv("TRACEGRAD_CACHE_SIZE", str(int(sum(size.values()) * 1.2)))
    modules["d"] = _load_and_call(*kernels["d"])
    assert _kernel_files(directory, modules["a"]) == []
    for name in "bcd":
        assert len(_kernel_files(directory, modules[name])) == 6, name
    usage = kc.disk_usage()
    assert usage.kernels == 3 and usage.bytes <= kc.disk_limit()
    # An evicted kernel is simply compiled again.
    assert _load_and_call(*kernels["a"]) == modules["a"]
    assert len(_kernel_files(directory, modules["a"])) == 6


def test_cache_size_is_read_with_units_and_a_bad_value_warns(monkeypatch):
    assert kc.parse_size("1048576") == 1 << 20
    assert [kc.parse_size(t) for t in ("512K", "1.5M", "2G", "64MB", "3GiB")] == [
        512 << 10, 3 << 19, 2 << 30, 64 << 20, 3 << 30]
    assert kc.parse_size("unlimited") is None
    monkeypatch.delenv("TRACEGRAD_CACHE_SIZE", raising=False)
    assert kc.disk_limit() == 512 << 20
    monkeypatch.setenv("TRACEGRAD_CACHE_SIZE", f"12 parsecs {uuid.uuid4().hex}")
    with pytest.warns(RuntimeWarning, match="ignoring TRACEGRAD_CACHE_SIZE='12 parsecs"):
        assert kc.disk_limit() == 512 << 20


def test_cache_info_counts_every_file_on_disk(tmp_path, monkeypatch, capsys):
    from tracegrad.__main__ import main

    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACEGRAD_CACHE_SIZE", raising=False)
    for name in "xy":
        _load_and_call(*_toy(f"{name}_{uuid.uuid4().hex[:8]}"))
    paths = [os.path.join(r, n) for r, _, ns in os.walk(kc.cache_dir()) for n in ns]
    total = sum(os.path.getsize(p) for p in paths)
    assert total > 20_000  # numba's files are most of it
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"kernels: 2 ({len(paths)} files, {kc.format_bytes(total)} on disk" in out, out
    assert "size limit: 512.0 MiB" in out


def test_cache_clear_reports_what_it_could_not_delete(tmp_path, monkeypatch, capsys):
    from tracegrad.__main__ import main

    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    _load_and_call(*_toy(f"z_{uuid.uuid4().hex[:8]}"))
    directory = kc.cache_dir()
    before = sorted(os.path.join(r, n) for r, _, ns in os.walk(directory) for n in ns)
    unlink = os.unlink

    def read_only(path, *args, **kwargs):
        # Permission bits do not stop root: refuse as a read-only directory would.
        if str(path).startswith(directory):
            raise PermissionError(13, "Permission denied", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", read_only)
    assert main(["cache", "clear"]) == 1
    captured = capsys.readouterr()
    assert "cleared" not in captured.out
    assert f"could not delete {len(before)} file(s)" in captured.err and directory in captured.err
    assert "Permission denied" in captured.err
    monkeypatch.setattr(os, "unlink", unlink)
    assert main(["cache", "clear"]) == 0
    assert f"cleared {directory} ({len(before)} files deleted)" in capsys.readouterr().out
    assert [n for r, _, ns in os.walk(directory) for n in ns] == []


# -- memory of kernels no longer used -------------------------------------------


def _module_dispatchers(modname: str) -> list:
    from numba.core.dispatcher import Dispatcher

    return [v for v in vars(sys.modules[modname]).values() if isinstance(v, Dispatcher)]


def test_dropped_kernels_release_their_compiled_code(tmp_path, monkeypatch):
    # numba keeps a loaded kernel module alive for good (its dispatcher finalizer and
    # its target context's table of user functions hold the compiled overloads, whose
    # environment holds the module): every kernel ever compiled stayed in memory.
    # Once no cache or trace holds a kernel, its module must be released.
    import gc
    import weakref

    import tracegrad as tg

    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    kernels = kc.KernelCache(maxsize=2)
    monkeypatch.setattr(kc, "default_cache", kernels)
    f = tg.jit(lambda x, c: x * c + 1.0)
    f.max_keys = 2
    x = np.arange(4.0)
    # Integer constants no other test's kernel has (a float that changes becomes a traced input,
    # so it would not make a kernel per value).
    salt = 10**6 + uuid.uuid4().int % 10**9
    scales = [salt + k for k in range(5)]
    modules, dispatchers = [], []
    for scale in scales:
        before = set(sys.modules)
        np.testing.assert_allclose(f(x, scale), x * scale + 1.0)
        (new,) = {m for m in set(sys.modules) - before if m.startswith(kc._PREFIX)}
        modules.append(new)
        dispatchers.append([weakref.ref(d) for d in _module_dispatchers(new)])
    gc.collect()
    # The last two kernels are held (by the kernel cache and by f's two traces); the
    # first three were dropped by both.  Releases happen at the next kernel load, or now
    # (at least the third; kernels other tests dropped may be released here too):
    assert kc.release_unused_kernels() >= 1
    gc.collect()  # the module and its dispatchers form a cycle
    released = [m not in sys.modules and all(r() is None for r in refs) for m, refs in zip(modules, dispatchers)]
    assert released == [True, True, True, False, False]
    targetctx = _module_dispatchers(modules[-1])[0].targetctx
    assert not [fn for fn in targetctx._defns if getattr(fn, "__module__", None) in modules[:3]]
    # A released kernel needed again is simply loaded again (from numba's disk cache).
    np.testing.assert_allclose(f(x, scales[0]), x * scales[0] + 1.0)
    np.testing.assert_allclose(f(x, scales[4]), x * scales[4] + 1.0)


def test_a_released_kernel_function_still_held_keeps_working(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))

    class Owner:
        pass

    source, entry = _toy(f"held_{uuid.uuid4().hex[:8]}")
    fn = kc.load_kernel(source, entry)
    owner = Owner()
    kc.bind_module_lifetime(owner, fn)
    a, out = np.arange(3.0), np.zeros(3)
    fn(a, out)
    del owner
    kc.load_kernel(*_toy(f"other_{uuid.uuid4().hex[:8]}"))  # a load releases what was dropped
    assert fn.__module__ not in sys.modules and not fn.overloads
    out[:] = 0.0
    fn(a, out)  # numba loads its machine code again
    np.testing.assert_array_equal(out, a * 2.0 + 1.0)


@pytest.mark.parametrize("state", ["damaged", "unsealed"])
def test_numba_files_that_cannot_be_verified_or_deleted_are_not_loaded(tmp_path, monkeypatch, state):
    # A read-only cache cannot drop a bad file: numba must still not read it.
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    source, entry = _toy(f"ro_{state}_{uuid.uuid4().hex[:8]}")
    module = _load_and_call(source, entry)
    pycache = os.path.join(kc.cache_dir(), "__pycache__")
    (data,) = [os.path.join(pycache, n) for n in os.listdir(pycache) if n.endswith(".nbc")]
    if state == "damaged":
        with open(data, "wb") as fh:
            fh.write(b"\0" * 300)  # numba would fail to unpickle it, and say so
    else:
        for n in os.listdir(pycache):
            if n.endswith(".sha256"):
                os.unlink(os.path.join(pycache, n))
    monkeypatch.setattr(kc, "_remove_files", lambda paths: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = kc.load_kernel(source, entry)
        a, out = np.arange(4.0), np.zeros(4)
        f(a, out)
    np.testing.assert_array_equal(out, a * 2.0 + 1.0)
    assert f.__module__ == module
    assert sum(f.stats.cache_hits.values()) == 0
    messages = [str(w.message) for w in caught]
    assert not any("unreadable numba cache" in m for m in messages), messages
    if state == "damaged":
        assert any("damaged numba cache" in m and "checksum mismatch" in m for m in messages), messages
    else:
        assert not any("numba cache for" in m and "damaged" in m for m in messages), messages
