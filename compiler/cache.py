"""Kernel caches: generated numba modules on disk, compiled objects in memory.

Two layers:

* :func:`load_kernel` turns generated Python source into a callable.  The
  source is written to a real ``.py`` file in the cache directory so that
  numba's ``@njit(cache=True)`` can keep the machine code next to it: a fresh
  process that loads the same source pays numba's one-time start-up and then
  only a few milliseconds per kernel instead of a full compile.
* :class:`KernelCache` is a thread-safe, size-bounded LRU map from any
  hashable key (e.g. a trace signature) to a compiled object, building each
  key once even when several threads ask for it at the same time.

Disk layout (one directory per numba version, so that upgrading numba leaves
the old entries in a directory that can simply be deleted)::

    <cache root>/numba-<version>/
        _tracegrad_kernel_<digest>.py       the generated module, verbatim
        _tracegrad_kernel_<digest>.lock     flock() target, serialises writers
        __pycache__/_tracegrad_kernel_<digest>.<function>-<line>.py311.nbi/.nbc
                                            numba's index and machine code
        __pycache__/<each of those>.sha256  its checksum: numba only gets files
                                            that still match theirs

Environment variables:

``TRACEGRAD_CACHE=0``
    turn the disk cache off (modules go to a private temporary directory that
    is removed at exit).
``TRACEGRAD_CACHE_DIR``
    cache root instead of ``$XDG_CACHE_HOME/tracegrad`` (or
    ``~/.cache/tracegrad``); the per-numba-version subdirectory is still added.
``TRACEGRAD_CACHE_SIZE``
    size limit of the disk cache (default ``512M``): bytes, or a number with
    a ``K``/``M``/``G``/``T`` suffix (powers of 1024); ``unlimited`` turns the
    limit off.  Beyond it the least recently used kernels are deleted, all
    their files at once, until the cache is back under 90% of the limit.
``TRACEGRAD_MEMORY_CACHE_SIZE``
    default size bound of :class:`KernelCache` (256), read when a cache is
    created; ``default_cache.maxsize = n`` changes it for a running process.

This module imports only the standard library, numpy and numba (numba lazily:
importing ``tracegrad`` should not pay numba's start-up).
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import linecache
import operator
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

try:  # POSIX only; elsewhere atomic renames alone keep the files consistent.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "CacheInfo",
    "DiskUsage",
    "KernelCache",
    "bind_module_lifetime",
    "cache_dir",
    "cache_info",
    "clear_cache",
    "default_cache",
    "disk_limit",
    "disk_usage",
    "format_bytes",
    "load_kernel",
    "parse_size",
    "release_unused_kernels",
]

# Every file this module creates starts with this prefix, so that
# ``clear_cache(disk=True)`` can delete exactly ours even in a shared directory.
_PREFIX = "_tracegrad_kernel_"
# Bump when the file format or naming changes: old entries then simply miss.
_FORMAT = "tracegrad-kernel-cache-1"
_DEFAULT_MEMORY_SIZE = 256
_DEFAULT_DISK_LIMIT = 512 * 1024**2
_FALSE_WORDS = {"0", "false", "no", "off"}


# --------------------------------------------------------------------------
# Versions and directories
# --------------------------------------------------------------------------

_versions_cache: tuple[tuple[str, str], ...] | None = None


def _versions() -> tuple[tuple[str, str], ...]:
    """(name, version) pairs that decide whether compiled code is reusable."""
    global _versions_cache
    if _versions_cache is None:
        import llvmlite
        import numba

        try:
            from importlib.metadata import version

            tg = version("tracegrad")
        except Exception:  # not installed (e.g. run from a source tree)
            tg = "unknown"
        _versions_cache = (
            ("format", _FORMAT),
            ("tracegrad", tg),
            ("numba", numba.__version__),
            ("llvmlite", llvmlite.__version__),
            # The full version string (not just 3.11): pickles and bytecode
            # are only guaranteed stable within one build.
            ("python", sys.version),
            ("implementation", sys.implementation.cache_tag or ""),
            # Kernels inline the runtime's scalar functions into their machine code, and
            # numba's cache only watches the kernel's own file: a changed runtime (a fixed
            # floor_divide) must not be served from code compiled against the old one.
            ("runtime", _runtime_digest()),
        )
    return _versions_cache


def _runtime_digest() -> str:
    """Hash of the source of the modules whose functions kernels inline."""
    from tracegrad.compiler import runtime, vecmath  # numba: loaded with the first kernel, not on import

    digest = hashlib.sha256()
    for module in (runtime, vecmath):
        with open(module.__file__, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


def _disk_cache_enabled() -> bool:
    return os.environ.get("TRACEGRAD_CACHE", "1").strip().lower() not in _FALSE_WORDS


def _cache_root() -> str:
    configured = os.environ.get("TRACEGRAD_CACHE_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore relative paths.
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tracegrad")


def cache_dir() -> str | None:
    """The directory of the on-disk kernel cache, or ``None`` when it is off.

    The environment is read on every call, so tests and applications may
    change ``TRACEGRAD_CACHE_DIR`` / ``TRACEGRAD_CACHE`` at run time.  This is
    the *configured* place; if it turns out to be unwritable, kernels go to a
    private temporary directory instead (see :func:`cache_info`).

    >>> os.environ["TRACEGRAD_CACHE_DIR"] = "/path/to/kernels"   # doctest: +SKIP
    >>> cache_dir()                                     # doctest: +SKIP
    '/path/to/kernels/numba-0.68.1'
    """
    if not _disk_cache_enabled():
        return None
    numba_version = dict(_versions())["numba"]
    return os.path.join(_cache_root(), f"numba-{numba_version}")


_private_dir_path: str | None = None
_private_dir_pid: int | None = None
# Configured directories found unwritable in this process (and warned about).
_fallen_back: set[str] = set()


def _private_dir() -> str:
    """A per-process temporary directory, removed at interpreter exit."""
    global _private_dir_path, _private_dir_pid
    # After fork() the child must not share (or, at exit, delete) the
    # parent's directory.
    if _private_dir_path is None or _private_dir_pid != os.getpid():
        path = tempfile.mkdtemp(prefix="tracegrad-kernels-")
        pid = os.getpid()
        _private_dir_path, _private_dir_pid = path, pid

        def _cleanup(path=path, pid=pid):
            if os.getpid() == pid:
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(_cleanup)
    return _private_dir_path


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


_base_hash = None


def _digest(source: str, key: str | None) -> str:
    global _base_hash
    if _base_hash is None:
        # The version part is the same for every kernel: hash it once and copy.
        # JSON keeps the fields unambiguous (no separator can be forged).
        _base_hash = hashlib.sha256(json.dumps(list(_versions())).encode() + b"\0")
    h = _base_hash.copy()
    # A JSON string starts with '"', so the bare separator for None is distinct.
    h.update(b"\0" if key is None else json.dumps(key).encode() + b"\0")
    h.update(source.encode("utf-8"))
    return h.hexdigest()[:32]


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _atomic_write(path: str, data: bytes) -> None:
    """Write *data* to *path* so that readers see the old or the new file, never a part."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f"{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    # os.open (not mkstemp) so the file gets the usual umask-based mode,
    # which matters for caches shared between users.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # No fsync: a file torn by a power loss is caught by the content
        # check on the next load and rewritten, so durability is not needed.
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _warn(message: str) -> None:
    """RuntimeWarning attributed to the first frame outside this module and numba.

    The cache code runs at varying depths (and the dispatcher guards inside
    numba's compile), so a fixed stacklevel would point at library internals.
    """
    numba = sys.modules.get("numba")
    numba_dir = os.path.dirname(numba.__file__) + os.sep if numba is not None else None
    level, frame = 2, sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename == __file__
        or (numba_dir is not None and frame.f_code.co_filename.startswith(numba_dir))
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)


def _numba_cache_dirs(py_path: str) -> list[str]:
    """Where numba may keep cache files for functions defined in *py_path*."""
    dirs = [os.path.join(os.path.dirname(py_path), "__pycache__")]
    try:  # NUMBA_CACHE_DIR, or the user-wide fallback of an unwritable __pycache__
        from numba.core import caching, config

        sub = caching._CacheLocator.get_suitable_cache_subpath(py_path)
        if config.CACHE_DIR:
            dirs.append(os.path.join(config.CACHE_DIR, sub))
        from numba.misc.appdirs import AppDirs

        dirs.append(os.path.join(AppDirs(appname="numba", appauthor=False).user_cache_dir, sub))
    except Exception:  # numba internals moved: the in-tree directory is the usual one
        pass
    return dirs


def _numba_cache_files(stem: str, dirs, suffix: str = "") -> list[str]:
    # numba names its files "<module file stem>.<qualname>-<line>.pyXY.nbi"
    # and ".<n>.nbc" (with `suffix`: the checksum files beside them).  Its
    # "<name>.tmp.<uid>" files are left alone: they may be another process's
    # write in flight.
    found = []
    for d in dict.fromkeys(dirs):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found.extend(
            os.path.join(d, n)
            for n in names
            if n.startswith(stem + ".") and n.endswith((".nbi" + suffix, ".nbc" + suffix))
        )
    return found


def _remove_files(paths) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Checksums of numba's cache files
# --------------------------------------------------------------------------

# Beside each numba cache file, "<file>.sha256" holds the digest and size of
# the bytes the guarded save left there.  numba trusts its files: a flipped
# byte in the machine code of a .nbc is mapped into memory and run, which
# kills the process (SIGSEGV/SIGABRT) in every later run.  So a file is only
# handed to numba when it still matches its checksum.
_SEAL_SUFFIX = ".sha256"


def _seal_text(data: bytes) -> bytes:
    return f"sha256 {hashlib.sha256(data).hexdigest()} {len(data)}\n".encode()


def _seal_files(paths) -> None:
    """Write the checksum file of each of *paths* whose checksum file is missing or stale.

    Files that vanished meanwhile are skipped, and failures are ignored: a
    file without a valid checksum is discarded on its next load, which costs
    a recompile, never a wrong or crashing load.
    """
    for path in paths:
        seal = path + _SEAL_SUFFIX
        try:
            data = _read_bytes(path)
            if data is None:
                continue
            text = _seal_text(data)
            if _read_bytes(seal) != text:
                _atomic_write(seal, text)
        except OSError:
            pass


def _remove_numba_files(paths) -> None:
    """Delete numba cache files together with their checksum files."""
    paths = list(paths)
    _remove_files(paths)
    _remove_files(p + _SEAL_SUFFIX for p in paths)


class _Vetting(NamedTuple):
    usable: bool  # every file matches its checksum (or there are none): numba may read them
    damage: str | None  # what was wrong, for a warning; None if nothing is known to be damaged


def _vet_numba_files(stem: str, dirs) -> _Vetting:
    """Delete the numba cache files of *stem* unless each matches its checksum file.

    When one does not, all are deleted with their checksum files (if the
    directory allows) and the result is not usable; ``damage`` then names
    the first bad file.  A file without a checksum (its writer died before
    sealing it, or another process is between numba's write and its seal)
    makes the files unusable too, silently: nothing is known to be damaged,
    and the recompile rewrites it.
    """
    files = _numba_cache_files(stem, dirs)
    damaged, unsealed = [], []
    for path in files:
        try:
            data = _read_bytes(path)
            seal = _read_bytes(path + _SEAL_SUFFIX)
        except OSError as exc:
            damaged.append(f"{os.path.basename(path)}: unreadable ({exc.strerror or exc})")
            continue
        if data is None:
            continue  # removed since listed: numba treats a missing file as a miss
        if seal is None:
            unsealed.append(path)
        elif seal != _seal_text(data):
            other = _foreign_index_version(path, _numba_version()) if path.endswith(".nbi") else None
            if other is not None:  # intact, but from a numba that cannot share it (a copied cache)
                damaged.append(f"{os.path.basename(path)}: written by numba {other}, this is numba {_numba_version()}")
            else:
                damaged.append(f"{os.path.basename(path)}: checksum mismatch")
    orphans = [p[: -len(_SEAL_SUFFIX)] for p in _numba_seal_files(stem, dirs)]
    orphans = [p for p in orphans if not os.path.exists(p)]
    if not damaged and not unsealed:
        _remove_files(p + _SEAL_SUFFIX for p in orphans)
        return _Vetting(True, None)
    _remove_numba_files(files + orphans)
    if not damaged:
        return _Vetting(False, None)
    more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
    return _Vetting(False, f"{damaged[0]}{more}; deleted {len(files)} cache file(s)")


def _numba_version() -> str:
    return dict(_versions())["numba"]


def _numba_seal_files(stem: str, dirs) -> list[str]:
    return _numba_cache_files(stem, dirs, _SEAL_SUFFIX)


# --------------------------------------------------------------------------
# Guarding numba's disk cache
# --------------------------------------------------------------------------


def _foreign_index_version(index_path: str, ours: str | None) -> str | None:
    """The numba version stamped on the index at *index_path*, if it is not *ours*.

    numba starts each ``.nbi`` file with its version string, pickled on its
    own, and treats an index from another version as empty.  None when the
    file is absent, unreadable (the load itself reports those) or current.
    """
    try:
        with open(index_path, "rb") as f:
            version = pickle.load(f)
    except Exception:
        return None
    if not isinstance(version, str) or version == ours:
        return None
    return version


def _guard_dispatcher_cache(dispatcher, stem: str) -> None:
    """Make a bad numba cache file cost a recompile instead of an exception.

    Measured with numba 0.68: a garbage or truncated ``.nbi`` index or
    ``.nbc`` data file makes the first call raise ``UnpicklingError`` /
    ``EOFError``, and a cache written while the module was missing from
    ``sys.modules`` raises ``ModuleNotFoundError: '<dynamic>'`` in every later
    process.  numba does not recover by itself, so the instance's
    ``load_overload`` is wrapped: on any error the module's cache files are
    deleted (with a warning) and ``None`` is returned, which numba treats as a
    miss (it compiles and writes a fresh cache).  An index stamped by another
    numba version is one numba ignores silently and overwrites after
    compiling; that rebuild gets a warning too (see :func:`_foreign_index_version`).
    ``save_overload`` failures (full disk, index replaced by garbage
    meanwhile) only lose the cache entry, never the call.  Only this
    dispatcher instance is touched.

    Errors are not the worst case: a flipped byte in the machine code of a
    ``.nbc`` loads without complaint and crashes the process.  So each save
    is followed by a checksum file beside every file of the function, and
    each load is preceded by :func:`_vet_numba_files`, which deletes the
    function's files (with a warning) unless all match their checksums.
    """
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    save = getattr(cache, "save_overload", None)
    if load is None or save is None or getattr(cache, "_tracegrad_guarded", False):
        return

    # Plain values only in the closures: capturing the dispatcher would make
    # a reference cycle through its own cache object.
    name = dispatcher.py_func.__qualname__
    path = getattr(cache, "cache_path", None)
    dirs = [path] if path else _numba_cache_dirs(dispatcher.py_func.__code__.co_filename)

    cache_file = getattr(cache, "_cache_file", None)
    index_path = getattr(cache_file, "_index_path", None)
    our_version = getattr(cache_file, "_version", None)
    # This function's files ("<stem>.<qualname>-<line>.pyXY.nbi" and its
    # ".<n>.nbc"): a damaged one costs this function's entries only.
    base = os.path.basename(index_path)[: -len(".nbi")] if index_path else stem
    # The shared directory holding the module, whose size limit a save may exceed.
    module_file = dispatcher.py_func.__code__.co_filename
    kernel_dir = os.path.dirname(module_file) if os.path.basename(module_file).startswith(_PREFIX) else None

    def load_overload(sig, target_context):
        vetting = _vet_numba_files(base, dirs)
        if vetting.damage is not None:
            _warn(f"tracegrad: damaged numba cache for {name} in {dirs[0]} ({vetting.damage}); recompiling")
        if not vetting.usable:
            # Even if the files could not be deleted (read-only cache), numba must not read them.
            return None
        try:
            result = load(sig, target_context)
        except Exception as exc:
            files = _numba_cache_files(base, dirs)
            _remove_numba_files(files)
            _warn(
                f"tracegrad: unreadable numba cache for {name} "
                f"in {dirs[0]} ({type(exc).__name__}: {exc}); "
                f"deleted {len(files)} cache file(s) and recompiling"
            )
            return None
        if result is None and index_path is not None:
            # Only on a miss, which a compile follows anyway: one small read.
            other = _foreign_index_version(index_path, our_version)
            if other is not None:
                _warn(
                    f"tracegrad: numba cache for {name} in {dirs[0]} was written by numba {other}, "
                    f"this is numba {our_version}; recompiling and replacing it"
                )
        return result

    def save_overload(sig, data):
        try:
            save(sig, data)
        except Exception as exc:
            _warn(
                f"tracegrad: could not save numba cache for {name} "
                f"({type(exc).__name__}: {exc}); the kernel works but will be recompiled next time"
            )
            return
        written = _numba_cache_files(base, dirs)
        _seal_files(written)
        if kernel_dir is not None:
            _note_disk_write(kernel_dir, written)

    cache.load_overload = load_overload
    cache.save_overload = save_overload
    cache._tracegrad_guarded = True


def _guard_module(module, stem: str, persist: bool) -> None:
    try:
        from numba.core.dispatcher import Dispatcher
    except Exception:  # pragma: no cover - numba moved the class
        return
    for value in list(vars(module).values()):
        if not isinstance(value, Dispatcher):
            continue
        cache = getattr(value, "_cache", None)
        if not persist and hasattr(cache, "disable"):
            # Private directory: nobody will read a cache written there, so
            # spare the serialisation (and, with NUMBA_CACHE_DIR set, files
            # left in numba's directory under a random path).
            cache.disable()
        else:
            _guard_dispatcher_cache(value, stem)


# --------------------------------------------------------------------------
# load_kernel
# --------------------------------------------------------------------------

# Serialises the miss path of load_kernel within the process (numba holds a
# global compiler lock anyway, so this costs no parallelism).  Cross-process
# exclusion is the per-key flock.  Must never be taken from inside numba's
# compiler (the cache guards above do not take it), or the two could deadlock.
_load_lock = threading.RLock()


def _exec_module(modname: str, path: str, code, persist: bool):
    import importlib.util

    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: numba pickles references to the module by
    # name into its cache; a name that is not importable in a later process
    # makes every later load of that cache raise ModuleNotFoundError.
    sys.modules[modname] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        if sys.modules.get(modname) is module:
            del sys.modules[modname]
        raise
    _guard_module(module, modname, persist)
    # Set last: other threads treat a module in sys.modules without this mark
    # as still running (see load_kernel).
    module.__tracegrad_ready__ = True
    return module


def _exec_with_retry(modname: str, path: str, source: str, persist: bool = True):
    # Compiled from the string we hold rather than re-read from disk: what
    # runs is exactly what was checked, whatever happens to the file.  The
    # file name makes tracebacks and numba's cache locator point at the file.
    code = compile(source, path, "exec", dont_inherit=True)
    # Before running it, so errors raised while the module runs show its lines too.
    register_lines(path, source)
    if persist:
        # Functions with explicit signatures load numba's cache while the
        # module runs, before the dispatcher guards exist: vet the files now.
        dirs = _numba_cache_dirs(path)
        damage = _vet_numba_files(modname, dirs).damage
        if damage is not None:
            _warn(f"tracegrad: damaged numba cache for kernel module {path} ({damage}); recompiling")
    try:
        return _exec_sealing(modname, path, code, persist)
    except Exception as exc:
        # Functions decorated with explicit signatures compile (and read
        # numba's cache) while the module executes, before the guards can be
        # installed: on failure with cache files present, drop them and retry
        # once.  Without cache files the error is the source's own.
        files = _numba_cache_files(modname, _numba_cache_dirs(path))
        if not files:
            raise
        _remove_numba_files(files)
        _warn(
            f"tracegrad: loading kernel module {path} failed with its numba cache "
            f"({type(exc).__name__}: {exc}); deleted {len(files)} cache file(s) and retrying"
        )
        return _exec_sealing(modname, path, code, persist)


def _file_identity(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _exec_sealing(modname: str, path: str, code, persist: bool):
    """:func:`_exec_module`, then seal the numba cache files the module wrote while running.

    Functions with explicit signatures compile while the module runs, before
    the guards exist, so their saves are unsealed.  Only files written during
    the run are sealed (numba writes by renaming, so a written file is a new
    inode): a file that was there before and failed its check stays unsealed.
    Writers of one key are serialised by the per-key lock the caller holds
    (a read-only directory, loaded without it, takes no writes).
    """
    if not persist:
        return _exec_module(modname, path, code, persist)
    dirs = _numba_cache_dirs(path)
    before = {p: _file_identity(p) for p in _numba_cache_files(modname, dirs)}
    module = _exec_module(modname, path, code, persist)
    _seal_files(p for p in _numba_cache_files(modname, dirs) if _file_identity(p) != before.get(p))
    return module


def register_lines(path: str, source: str) -> None:
    """Make tracebacks and ``linecache`` show `source` for the generated module at `path`."""
    # mtime None marks the entry as not backed by a checkable file, so
    # linecache.checkcache() keeps it even after the file is deleted (private
    # directory at exit, clear_cache(disk=True)).
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)



def _materialise(directory: str, modname: str, data: bytes, *, warn: bool) -> str:
    """Make ``directory/modname.py`` hold exactly *data*; return its path.

    An existing file with the right contents is left alone (its mtime and
    numba's files next to it stay valid).  Raises OSError if the directory
    cannot be created or written.
    """
    path = os.path.join(directory, modname + ".py")
    existing = _read_bytes(path)
    if existing == data:
        return path
    if existing is not None and warn:
        # A crash mid-write by an older version, a disk error, a user edit:
        # the name promises these exact contents, so restore them.
        _warn(
            f"tracegrad: kernel cache entry {path} is corrupt "
            f"({len(existing)} bytes, expected {len(data)}); rewriting it"
        )
    os.makedirs(directory, exist_ok=True)
    _atomic_write(path, data)
    return path


def _lock(lock_path: str) -> int | None:
    """Take an exclusive ``flock`` on *lock_path*; return the fd to pass to :func:`_unlock`.

    The lock file is never deleted: removing it would let a waiter lock an
    unlinked inode while a newcomer locks a fresh file.  The kernel releases
    the lock if the holder dies.  Raises OSError if the file cannot be created.
    """
    if fcntl is None:  # pragma: no cover - Windows: atomic renames only
        return None
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the lock


class _Unwritable(Exception):
    """The shared directory cannot take the entry (wraps the OSError)."""


def _load_shared(directory: str, modname: str, source: str, data: bytes):
    """Load through the shared cache directory; raise _Unwritable if it cannot be used.

    Only file-system preparation maps to _Unwritable: an OSError raised while
    the generated module runs is the module's own and propagates.
    """
    path = os.path.join(directory, modname + ".py")
    try:
        os.makedirs(directory, exist_ok=True)
        fd = _lock(os.path.join(directory, modname + ".lock"))
    except OSError as exc:
        # Read-only directory: still usable if the entry is already there
        # (e.g. a cache baked into an image); otherwise the caller falls back.
        try:
            usable = _read_bytes(path) == data
        except OSError:
            usable = False
        if not usable:
            raise _Unwritable(exc) from exc
        return _exec_with_retry(modname, path, source), path
    try:
        _mark_used(os.path.join(directory, modname + ".lock"))
        # Under the lock: check/rewrite the file and run the module (which
        # compiles the functions that have explicit signatures), so processes
        # racing on one key write it once and the later ones find numba's cache.
        try:
            path = _materialise(directory, modname, data, warn=True)
        except OSError as exc:
            raise _Unwritable(exc) from exc
        return _exec_with_retry(modname, path, source), path
    finally:
        _unlock(fd)


def load_kernel(source: str, entry: str, *, key: str | None = None) -> Callable:
    """Return the function *entry* defined by the module text *source*.

    *source* is a complete module that imports numba itself and decorates its
    functions with ``@numba.njit(cache=True, ...)``.  It is written (once) to
    ``<cache_dir()>/_tracegrad_kernel_<digest>.py``, where the digest covers
    the source, *key* and the tracegrad, numba, llvmlite and Python versions,
    and is imported under that module name, so numba caches the machine code
    next to it and later processes skip compiling.  Loading the same source
    again in one process returns the already loaded function.

    A corrupt entry (file contents differ from *source*) is rewritten and an
    unreadable numba cache is discarded, each with a ``RuntimeWarning``; an
    unwritable cache directory falls back to a private temporary directory
    with one ``RuntimeWarning`` per process.

    >>> src = '''
    ... import numba
    ... @numba.njit(cache=True)
    ... def kernel_1a2b(a, out):
    ...     for i in range(a.shape[0]):
    ...         out[i] = a[i] + 1.0
    ... '''
    >>> f = load_kernel(src, "kernel_1a2b")        # doctest: +SKIP
    >>> a = np.zeros(3); out = np.empty(3); f(a, out); out   # doctest: +SKIP
    array([1., 1., 1.])
    """
    modname = _PREFIX + _digest(source, key)
    # The module is in sys.modules while it runs (see _exec_module), so a
    # module found there is only usable once marked ready.
    module = sys.modules.get(modname)
    if getattr(module, "__tracegrad_ready__", False) is not True:
        with _load_lock:
            _release_unused_modules()
            module = sys.modules.get(modname)
            if getattr(module, "__tracegrad_ready__", False) is not True:
                module = _load_module(modname, source)
    try:
        return getattr(module, entry)
    except AttributeError:
        raise AttributeError(
            f"generated kernel module {getattr(module, '__file__', modname)} defines no {entry!r}"
        ) from None


def _load_module(modname: str, source: str):
    data = source.encode("utf-8")
    directory = cache_dir()
    module = path = None
    if directory is not None:
        try:
            module, path = _load_shared(directory, modname, source, data)
            _fallen_back.discard(directory)
        except _Unwritable as exc:
            cause = exc.__cause__
            if directory not in _fallen_back:
                _fallen_back.add(directory)
                _warn(
                    f"tracegrad: kernel cache directory {directory} is not writable "
                    f"({getattr(cause, 'strerror', None) or cause}); compiled kernels will not be kept across "
                    f"processes (set TRACEGRAD_CACHE_DIR to a writable directory, or "
                    f"TRACEGRAD_CACHE=0 to silence this)"
                )
    if module is None:
        # Private directory: this process only, so no file lock is needed
        # (threads are serialised by _load_lock).
        path = _materialise(_private_dir(), modname, data, warn=False)
        module = _exec_with_retry(modname, path, source, persist=False)
    return module


# --------------------------------------------------------------------------
# Releasing kernels no longer used
# --------------------------------------------------------------------------

# A loaded kernel module is never freed by itself: numba registers a
# finalizer per dispatcher that holds its compiled overloads, whose
# environment holds the module's globals, which hold the dispatcher; and the
# target context's table of user functions refers to the same environment.
# Both are process-wide roots, so each kernel kept about 1 MB for the life of
# the process.  Modules whose every owner (see bind_module_lifetime) has been
# collected are released here: numba's own dispatcher clean-up is run and the
# compiled overloads dropped, which breaks the cycle.
_module_owners: dict[str, int] = {}
_unused_modules: list[str] = []
# Reentrant: _drop_owner runs from garbage collection, which may start while
# this very thread holds the lock.
_owners_lock = threading.RLock()


def bind_module_lifetime(owner, function) -> None:
    """Tie the kernel module defining *function* (from :func:`load_kernel`) to the life of *owner*.

    Once every owner bound to a module has been garbage collected, the module
    is released at the next kernel load: removed from ``sys.modules`` and
    ``linecache``, and its compiled code dropped from numba's tables.  A
    function from it that someone still holds keeps working: numba loads its
    machine code from the disk cache again (or recompiles) on the next call.
    """
    modname = getattr(function, "__module__", None)
    if not isinstance(modname, str) or not modname.startswith(_PREFIX):
        return
    with _owners_lock:
        _module_owners[modname] = _module_owners.get(modname, 0) + 1
    weakref.finalize(owner, _drop_owner, modname)


def _drop_owner(modname: str) -> None:
    # Runs inside garbage collection, possibly in the middle of a numba
    # compile: only record the module; the release happens at a safe point.
    with _owners_lock:
        left = _module_owners.get(modname, 0) - 1
        if left > 0:
            _module_owners[modname] = left
            return
        _module_owners.pop(modname, None)
        _unused_modules.append(modname)


def release_unused_kernels() -> int:
    """Release now the kernel modules whose owners are all gone (otherwise done at the next kernel load).

    Returns how many modules were released.  See :func:`bind_module_lifetime`.
    """
    with _load_lock:
        return _release_unused_modules()


def _release_unused_modules() -> int:
    """Release the modules queued by :func:`_drop_owner`; the caller holds ``_load_lock``.  Returns how many."""
    if not _unused_modules:
        return 0
    try:
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.dispatcher import Dispatcher
    except Exception:  # pragma: no cover - numba moved them: keep the modules
        return 0
    # numba's lock: no compile in another thread may use the tables changed here.
    with global_compiler_lock:
        with _owners_lock:
            # A module loaded again for a new owner meanwhile stays.
            names = [m for m in dict.fromkeys(_unused_modules) if not _module_owners.get(m)]
            _unused_modules.clear()
            modules = [m for m in (sys.modules.pop(name, None) for name in names) if m is not None]
        for module in modules:
            linecache.cache.pop(getattr(module, "__file__", None), None)
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher):
                    try:
                        value._make_finalizer()()  # what numba does when a dispatcher dies
                        value._reset_overloads()
                    except Exception:  # pragma: no cover - numba internals changed: only memory is lost
                        pass
    return len(modules)


# --------------------------------------------------------------------------
# Size limit of the disk cache
# --------------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_UNLIMITED_WORDS = {"unlimited", "none", "inf"}
_SIZE_PATTERN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
# Eviction goes below the limit by this factor, so that a full cache is not
# scanned again at every new kernel.
_EVICT_TO = 0.9


def parse_size(text: str) -> int | None:
    """Bytes in *text*: ``"1048576"``, ``"512K"``, ``"1.5G"``, ``"64MB"``, ``"2GiB"``; None for ``"unlimited"``.

    Suffixes are powers of 1024.  Raises ValueError for anything else.

    >>> parse_size("512M"), parse_size("1.5k"), parse_size("unlimited")
    (536870912, 1536, None)
    """
    if text.strip().lower() in _UNLIMITED_WORDS:
        return None
    match = _SIZE_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (expected bytes, or a number with K, M, G or T)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


_limit_warned: set[str] = set()


def disk_limit() -> int | None:
    """The size limit of the disk cache in bytes (``$TRACEGRAD_CACHE_SIZE``, default 512 MiB); None if unlimited.

    An unreadable value is reported once with a ``RuntimeWarning`` and the
    default is used.
    """
    raw = os.environ.get("TRACEGRAD_CACHE_SIZE")
    if raw is None or raw.strip() == "":
        return _DEFAULT_DISK_LIMIT
    try:
        return parse_size(raw)
    except ValueError as exc:
        if raw not in _limit_warned:
            _limit_warned.add(raw)
            _warn(f"tracegrad: ignoring TRACEGRAD_CACHE_SIZE={raw!r} ({exc}); "
                  f"using {format_bytes(_DEFAULT_DISK_LIMIT)}")
        return _DEFAULT_DISK_LIMIT


def format_bytes(n: float) -> str:
    """*n* bytes for people: ``"812 bytes"``, ``"5.9 MiB"``."""
    if n < 1024:
        return f"{n:.0f} bytes"
    units = ["KiB", "MiB", "GiB", "TiB"]
    n /= 1024
    while n >= 1024 and len(units) > 1:
        n /= 1024
        units.pop(0)
    return f"{n:.1f} {units[0]}"


def _mark_used(lock_path: str) -> None:
    """Record a use of the kernel owning *lock_path*: eviction goes by the newest mtime of its files."""
    try:
        os.utime(lock_path)
    except OSError:
        pass  # read-only cache: its kernels simply look older


class DiskUsage(NamedTuple):
    """What the disk cache holds (see :func:`disk_usage`)."""

    directory: str | None
    kernels: int
    files: int
    bytes: int
    limit: int | None
    other_versions: int
    other_versions_bytes: int


class _Kernel:
    __slots__ = ("paths", "size", "last_use")

    def __init__(self):
        self.paths: list[str] = []
        self.size = 0
        self.last_use = 0


def _scan(directory: str) -> tuple[dict[str, _Kernel], int, int]:
    """The kernels under *directory* by module name, and the count and bytes of every file there."""
    kernels: dict[str, _Kernel] = {}
    files = size = 0
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue  # deleted meanwhile
            files += 1
            size += st.st_size
            if name.startswith(_PREFIX):
                kernel = kernels.setdefault(name.split(".", 1)[0], _Kernel())
                kernel.paths.append(path)
                kernel.size += st.st_size
                kernel.last_use = max(kernel.last_use, st.st_mtime_ns)
    return kernels, files, size


def _version_dirs(directory: str) -> list[str]:
    """The directories of other numba versions next to *directory* (same cache root)."""
    root, own = os.path.split(directory)
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return [os.path.join(root, n) for n in sorted(names)
            if n.startswith("numba-") and n != own and os.path.isdir(os.path.join(root, n))]


def disk_usage() -> DiskUsage:
    """Kernels, files and bytes of the disk cache in use, counting every file under it.

    Numba's index and machine-code files, checksums and locks are included;
    ``other_versions`` counts the directories left by other numba versions
    under the same root (they share the size limit).

    >>> disk_usage()                      # doctest: +SKIP
    DiskUsage(directory='/home/me/.cache/tracegrad/numba-0.68.1', kernels=153,
              files=765, bytes=6184960, limit=536870912, other_versions=0, other_versions_bytes=0)
    """
    directory = cache_dir()
    limit = disk_limit()
    if directory is None:
        return DiskUsage(None, 0, 0, 0, limit, 0, 0)
    kernels, files, size = _scan(directory)
    others = _version_dirs(directory)
    return DiskUsage(directory, len(kernels), files, size, limit, len(others), sum(_scan(d)[2] for d in others))


# Per cache directory: bytes believed to be on disk since this process last
# scanned it.  Other processes' writes are not seen until the next scan, which
# happens when this estimate passes the limit, and at least every
# _RESCAN_EVERY saves.
_disk_estimate: dict[str, list[int]] = {}
_RESCAN_EVERY = 64
_evict_lock = threading.Lock()


def _note_disk_write(directory: str, paths) -> None:
    """Account for new files in *directory* and evict old kernels if the limit is passed."""
    limit = disk_limit()
    if limit is None:
        return
    added = 0
    for path in paths:
        for p in (path, path + _SEAL_SUFFIX):
            try:
                added += os.stat(p).st_size
            except OSError:
                pass
    with _evict_lock:
        state = _disk_estimate.get(directory)
        if state is not None:
            state[0] += added
            state[1] += 1
            if state[0] <= limit and state[1] < _RESCAN_EVERY:
                return
        _disk_estimate[directory] = [_enforce_limit(directory, limit), 0]


def _enforce_limit(directory: str, limit: int) -> int:
    """Delete least recently used kernels of *directory* (and of other numba versions' directories)
    until they take at most ``_EVICT_TO * limit`` bytes; return the bytes left.

    A kernel whose lock another process holds (it is loading or writing it) is
    skipped.  Deleting a kernel this process has loaded is harmless: its code
    is in memory, and a later load recompiles it.
    """
    kernels, _, total = _scan(directory)
    for other in _version_dirs(directory):
        more, _, size = _scan(other)
        kernels.update({f"{other}/{name}": k for name, k in more.items()})
        total += size
    if total <= limit:
        return total
    target = int(limit * _EVICT_TO)
    for kernel in sorted(kernels.values(), key=lambda k: k.last_use):
        if total <= target:
            break
        total -= _evict(kernel)
    return total


def _evict(kernel: _Kernel) -> int:
    """Delete all files of *kernel* unless another process holds its lock; return the bytes freed."""
    locks = [p for p in kernel.paths if p.endswith(".lock")]
    fd = None
    if locks and fcntl is not None:
        try:
            fd = os.open(locks[0], os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if fd is not None:
                os.close(fd)
            return 0  # in use (or gone): leave it
    freed = 0
    try:
        # The lock file last, so that a process arriving meanwhile still serialises on it.
        for path in sorted(kernel.paths, key=lambda p: p.endswith(".lock")):
            try:
                size = os.stat(path).st_size
                os.unlink(path)
                freed += size
            except OSError:
                pass
    finally:
        _unlock(fd)
    return freed


# --------------------------------------------------------------------------
# In-memory cache
# --------------------------------------------------------------------------


class CacheInfo(NamedTuple):
    """Statistics of a :class:`KernelCache` (see :meth:`KernelCache.info`)."""

    entries: int
    hits: int
    misses: int
    compiles: int
    evictions: int
    disk_dir: str | None


def _env_size() -> int:
    raw = os.environ.get("TRACEGRAD_MEMORY_CACHE_SIZE")
    if raw is None or raw.strip() == "":
        return _DEFAULT_MEMORY_SIZE
    try:
        value = int(raw)
        if value < 0:
            raise ValueError
    except ValueError:
        _warn(
            f"tracegrad: ignoring TRACEGRAD_MEMORY_CACHE_SIZE={raw!r} "
            f"(expected a non-negative integer); using {_DEFAULT_MEMORY_SIZE}"
        )
        return _DEFAULT_MEMORY_SIZE
    return value


class KernelCache:
    """A thread-safe LRU map from hashable keys to compiled objects.

    Hits are one plain ``dict.get`` plus a recency stamp, with no lock: all
    changes to the dict happen under one lock, and a reader can only see an
    entry or its absence (absence sends it down the locked miss path).  The
    recency stamp comes from ``itertools.count``, whose ``next`` is atomic;
    eviction scans for the oldest stamp, which costs O(size) but only when a
    new entry is inserted into a full cache, i.e. next to a compile.

    ``get_or_create`` builds each key once even when many threads ask at
    once: builders of one key queue on a per-key lock, and the factory runs
    outside the main lock so different keys build in parallel (and factories
    may use the cache themselves).

    ``maxsize`` defaults to ``$TRACEGRAD_MEMORY_CACHE_SIZE`` or 256; 0 keeps
    nothing.  It may be reassigned at run time (``default_cache.maxsize =
    64``); shrinking evicts at once.  Statistics are exact except that hits counted concurrently from
    several threads may, rarely, lose an increment (the hit path takes no lock).

    >>> c = KernelCache(maxsize=2)
    >>> c.get_or_create(("add", "f8"), lambda: "compiled add")
    'compiled add'
    >>> c.get_or_create(("add", "f8"), lambda: 1 / 0)   # cached: factory not called
    'compiled add'
    >>> c.info()[:5]
    (1, 1, 1, 1, 0)
    """

    def __init__(self, maxsize: int | None = None):
        # key -> [value, recency stamp]; the list lets hits update the stamp
        # in place without touching the dict.
        self._entries: dict[Hashable, list] = {}
        self._clock = itertools.count()
        self._lock = threading.Lock()
        self._maxsize = 0
        self.maxsize = _env_size() if maxsize is None else maxsize
        # key -> [per-key lock, number of threads using it, building thread]
        self._key_locks: dict[Hashable, list] = {}
        self._hits = 0
        self._misses = 0
        self._compiles = 0
        self._evictions = 0

    @property
    def maxsize(self) -> int:
        """The size bound; assigning a smaller one evicts the least recently used entries at once.

        >>> c = KernelCache(maxsize=3)
        >>> c.put("a", 1); c.put("b", 2); c.put("c", 3)
        >>> c.maxsize = 1
        >>> len(c), "c" in c
        (1, True)
        """
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        try:
            size = operator.index(value)
        except TypeError:
            raise TypeError(f"maxsize must be an integer, got {value!r}") from None
        if size < 0:
            raise ValueError(f"maxsize must be >= 0, got {size}")
        with self._lock:
            self._maxsize = size
            self._evict_to(size)

    # -- lookups ------------------------------------------------------------

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value cached for *key* (refreshing its recency), else *default*.

        >>> c = KernelCache(); c.put("k", 1); c.get("k"), c.get("other", 0)
        (1, 0)
        """
        entry = self._entries.get(key)
        if entry is not None:
            entry[1] = next(self._clock)
            self._hits += 1
            return entry[0]
        self._misses += 1
        return default

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    # -- insertion ----------------------------------------------------------

    def put(self, key: Hashable, value: Any) -> None:
        """Store *value* under *key*, evicting the least recently used entry if full."""
        with self._lock:
            self._insert(key, value)

    def _insert(self, key, value) -> None:
        # Caller holds self._lock.
        if self._maxsize == 0:
            return
        entries = self._entries
        if key not in entries:
            self._evict_to(self._maxsize - 1)
        entries[key] = [value, next(self._clock)]

    def _evict_to(self, size: int) -> None:
        # Caller holds self._lock.
        entries = self._entries
        while len(entries) > size:
            oldest = min(entries, key=lambda k: entries[k][1])
            del entries[oldest]
            self._evictions += 1

    def get_or_create(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The value for *key*, calling ``factory()`` to build it on a miss.

        Concurrent calls for the same key build it once; the others wait and
        get the same object.  If the factory raises, nothing is cached and the
        exception propagates (a waiting thread then tries itself).

        >>> c = KernelCache()
        >>> c.get_or_create(("mul", 3), lambda: [3])
        [3]
        """
        entry = self._entries.get(key)
        if entry is not None:  # fast path: no lock
            entry[1] = next(self._clock)
            self._hits += 1
            return entry[0]

        me = threading.get_ident()
        with self._lock:
            slot = self._key_locks.get(key)
            if slot is None:
                slot = self._key_locks[key] = [threading.Lock(), 0, None]
            elif slot[2] == me:
                raise RuntimeError(f"KernelCache.get_or_create: factory for {key!r} asked for its own key")
            slot[1] += 1
        try:
            with slot[0]:
                entry = self._entries.get(key)
                if entry is not None:  # another thread built it while we waited
                    entry[1] = next(self._clock)
                    self._hits += 1
                    return entry[0]
                with self._lock:
                    self._misses += 1
                    self._compiles += 1
                slot[2] = me
                try:
                    value = factory()
                finally:
                    slot[2] = None
                with self._lock:
                    self._insert(key, value)
                return value
        finally:
            with self._lock:
                slot[1] -= 1
                if slot[1] == 0 and self._key_locks.get(key) is slot:
                    del self._key_locks[key]

    # -- maintenance --------------------------------------------------------

    def info(self) -> CacheInfo:
        """Counters and the disk directory in use (``None`` if off or unwritable).

        ``misses`` counts lookups that found nothing, ``compiles`` the factory
        calls made by :meth:`get_or_create`.

        >>> KernelCache().info().entries
        0
        """
        directory = cache_dir()
        if directory in _fallen_back:
            directory = None
        return CacheInfo(len(self._entries), self._hits, self._misses, self._compiles, self._evictions, directory)

    def clear(self) -> None:
        """Drop every entry and reset the counters (builds in flight still finish)."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = self._compiles = self._evictions = 0

    def __repr__(self) -> str:
        i = self.info()
        return (
            f"KernelCache(maxsize={self.maxsize}, entries={i.entries}, hits={i.hits}, "
            f"misses={i.misses}, compiles={i.compiles}, evictions={i.evictions})"
        )


default_cache = KernelCache()
"""The process-wide :class:`KernelCache` behind :func:`cache_info` and :func:`clear_cache`."""


def cache_info() -> CacheInfo:
    """Statistics of the default in-memory cache and the disk directory in use.

    >>> cache_info()                       # doctest: +SKIP
    CacheInfo(entries=3, hits=120, misses=3, compiles=3, evictions=0,
              disk_dir='/home/me/.cache/tracegrad/numba-0.68.1')
    """
    return default_cache.info()


def clear_cache(disk: bool = False) -> int:
    """Empty the default in-memory cache; with ``disk=True`` also delete the
    tracegrad files (modules, locks, numba's cache files of our modules and
    their checksums, leftover temporaries) from :func:`cache_dir`.

    Returns the number of files deleted.  Raises ``OSError`` naming the
    directory, how many files could not be deleted and why (a read-only
    cache, for instance); the files it could delete are gone.

    Kernels already loaded in this process keep working: their modules stay
    in ``sys.modules``, so loading the same source again returns them.  Do
    not run it while other processes compile into the same directory: it
    also deletes their lock files.

    >>> clear_cache(disk=True)             # doctest: +SKIP
    12
    """
    default_cache.clear()
    release_unused_kernels()
    if not disk:
        return 0
    directory = cache_dir()
    if directory is None:
        return 0
    deleted, failures = 0, []
    for d in (directory, os.path.join(directory, "__pycache__")):
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        except OSError as exc:
            failures.append((d, exc))
            continue
        for name in names:
            if not name.startswith(_PREFIX):
                continue
            try:
                os.unlink(os.path.join(d, name))
                deleted += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                failures.append((os.path.join(d, name), exc))
    try:
        os.rmdir(os.path.join(directory, "__pycache__"))
    except OSError:
        pass  # not empty (someone else's files) or absent
    if failures:
        path, exc = failures[0]
        raise OSError(
            getattr(exc, "errno", None) or 0,
            f"could not delete {len(failures)} file(s) of the kernel cache in {directory} "
            f"(first: {path}: {exc.strerror or exc}); deleted {deleted}",
        )
    return deleted
