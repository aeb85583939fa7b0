"""Memory: graphs, traces and kernels die with their last reference, and loops do not grow.

Memory held by a reference cycle (a node keeping its own output alive, a
closure referring to itself) is only returned when the cyclic garbage
collector happens to run, which for long-lived objects can be many steps
later; with large activations or constants that is the difference between a
flat memory profile and a saw-tooth.  So most tests here switch the collector
off (the ``no_gc`` fixture) and check with weak references that objects are
freed the moment their last reference goes, and with a collection at the end
that nothing was left in cycles.  When a cycle is found, the failure message
names its members (``Tensor -> ExpBackward -> tuple -> (back)``).

The long-run counterpart, resident memory over 10,000 training steps, is
``benchmarks/memory.py``.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import tracemalloc
import types
import weakref
from collections import Counter

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd.graph import AccumulateGrad
from tracegrad.compiler import cache as kc

F = tg.nn.functional


# -- helpers ----------------------------------------------------------------------


@contextlib.contextmanager
def refcounting_only():
    """Collect everything so far, then keep the cyclic collector off until the block ends.

    pytest keeps the last failure (an expected one too) in sys.last_value, a cycle
    through its traceback; when a later failure replaces it inside the block, it
    would count as this test's garbage, so it is dropped first.
    """
    enabled = gc.isenabled()
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def no_gc():
    """Reference counting only for the whole test."""
    with refcounting_only():
        yield


@pytest.fixture
def kernels(monkeypatch):
    """A private in-memory kernel cache, so a test sees (and may clear) only its own kernels."""
    fresh = kc.KernelCache(maxsize=32)
    monkeypatch.setattr(kc, "default_cache", fresh)
    return fresh


def _describe(obj) -> str:
    if isinstance(obj, types.FunctionType):
        return f"function {obj.__qualname__}"
    if isinstance(obj, types.CellType):
        return "cell"
    return type(obj).__name__


def _shortest_cycle(start, members: dict) -> list | None:
    """A shortest reference path from `start` back to itself through `members` (id -> object)."""
    parent = {id(start): None}
    frontier = [start]
    while frontier:
        following = []
        for obj in frontier:
            for ref in gc.get_referents(obj):
                if ref is start:
                    path = [obj]
                    while parent[id(path[-1])] is not None:
                        path.append(parent[id(path[-1])])
                    return path[::-1]
                if id(ref) in members and id(ref) not in parent:
                    parent[id(ref)] = obj
                    following.append(ref)
        frontier = following
    return None


def cycles() -> list[str]:
    """Run a full collection; describe the reference cycles it had to break (empty if none).

    Each distinct cycle is reported once, as its members' types in reference
    order.  Must run with the collector disabled (``no_gc``), or the garbage
    may have been collected already.
    """
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    if len(garbage) > 5000:  # describing is quadratic; the count says enough
        found = [f"{len(garbage)} objects in cycles: {Counter(map(_describe, garbage)).most_common(8)}"]
    else:
        members = {id(o): o for o in garbage}
        seen, found = set(), []
        for obj in garbage:
            path = _shortest_cycle(obj, members)
            if path is None or frozenset(map(id, path)) in seen:
                continue
            seen.add(frozenset(map(id, path)))
            found.append(" -> ".join(map(_describe, path)) + " -> (back)")
    del garbage
    gc.collect()  # the saved garbage is only referenced by cycles now
    return sorted(Counter(found).elements())


def grad_fns(t) -> list:
    """Every grad_fn node reachable from tensor `t`, except the leaves' accumulators (owned by the leaves)."""
    found, stack, seen = [], [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if not isinstance(node, AccumulateGrad):
            found.append(node)
        stack.extend(n for n, _ in node.next_functions)
    return found


def alive(refs) -> list:
    return [r() for r in refs if r() is not None]


def mlp_data(seed: int = 0):
    """A small version of the benchmark's mlp: inputs, labels and four float32 parameters."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=8)
    params = [(rng.normal(size=(6, 5)) * 0.3).astype(np.float32), np.zeros(5, np.float32),
              (rng.normal(size=(5, 3)) * 0.3).astype(np.float32), np.zeros(3, np.float32)]
    return x, y, params


def mlp_loss(x, y):
    x, y = tg.tensor(x), tg.tensor(y)

    def loss(w1, b1, w2, b2):
        return F.cross_entropy(tg.matmul(tg.tanh(tg.matmul(x, w1) + b1), w2) + b2, y)
    return loss


# -- eager --------------------------------------------------------------------------


def test_eager_backward_frees_saved_activations(no_gc):
    x, y, params = mlp_data()
    w1, b1, w2, b2 = (tg.tensor(p, requires_grad=True) for p in params)
    h = tg.tanh(tg.matmul(tg.tensor(x), w1) + b1)
    z = tg.matmul(h, w2) + b2
    loss = F.cross_entropy(z, tg.tensor(y))
    nodes = [weakref.ref(n) for n in grad_fns(loss)]
    assert len(nodes) >= 5
    # h is read by the backward of both matmul (as a tensor) and tanh (its array).
    activation = [weakref.ref(h), weakref.ref(h.detach().numpy())]
    del h, z
    assert len(alive(activation)) == 2  # the graph holds what backward will read...
    loss.backward()
    assert alive(activation) == []  # ... and lets go of it once backward has run,
    assert w1.grad is not None
    del loss
    assert alive(nodes) == []  # and the nodes go with the last output.
    assert cycles() == []


def test_eager_graph_without_backward_is_freed_with_its_output(no_gc):
    x, y, params = mlp_data()
    ps = [tg.tensor(p, requires_grad=True) for p in params]
    loss = mlp_loss(x, y)(*ps)
    nodes = [weakref.ref(n) for n in grad_fns(loss)]
    saved = weakref.ref(loss.grad_fn)
    del loss
    assert saved() is None and alive(nodes) == []
    assert all(p.grad is None for p in ps)
    assert cycles() == []


class _SquareSavingInput(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class _ExpSavingOutput(tg.autograd.Function):
    """PyTorch's documented custom Function example: backward reads the saved output."""

    @staticmethod
    def forward(ctx, x):
        result = x.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, g):
        (result,) = ctx.saved_tensors
        return g * result


def _eager_cases():
    x, y, params = mlp_data()
    loss_fn = mlp_loss(x, y)
    ps = [tg.tensor(p, requires_grad=True) for p in params]
    w = tg.tensor(np.linspace(-1.0, 1.0, 6), requires_grad=True)

    def train_step():
        for p in ps:
            p.grad = None
        loss_fn(*ps).backward()
        with tg.no_grad():
            for p in ps:
                p -= 0.1 * p.grad

    def retain_graph():
        loss = (w * w).sum()
        loss.backward(retain_graph=True)
        loss.backward()

    def double_backward():
        (g,) = tg.autograd.grad((w ** 3).sum(), w, create_graph=True)
        g.sum().backward()

    def hooks_and_retain_grad():
        h = w * 2
        h.retain_grad()
        h.register_hook(lambda g: g * 3)
        (h * h).sum().backward()

    def view_in_place():
        h = w * 2
        h[1:4].mul_(3)
        h.sum().backward()

    def no_grad_forward():
        with tg.no_grad():
            loss_fn(*ps)

    return {
        "train_step": train_step,
        "forward_only": lambda: loss_fn(*ps),
        "retain_graph": retain_graph,
        "double_backward": double_backward,
        "hooks_and_retain_grad": hooks_and_retain_grad,
        "view_in_place": view_in_place,
        "no_grad_forward": no_grad_forward,
        "function_saving_input": lambda: _SquareSavingInput.apply(w).sum().backward(),
        "function_saving_output_backward": lambda: _ExpSavingOutput.apply(w).sum().backward(),
        "function_saving_output_forward_only": lambda: _ExpSavingOutput.apply(w).sum(),
    }


@pytest.mark.parametrize("case", list(_eager_cases()))
def test_eager_steps_make_no_reference_cycles(no_gc, case):
    step = _eager_cases()[case]
    for _ in range(5):
        step()
    assert cycles() == []


# -- compiled functions ---------------------------------------------------------------


def _square_sum(x):
    return (x * x).sum() * 0.5


def _sine(x):
    return tg.sin(x) * 1.5 + x


TRANSFORMS = {
    "grad": lambda backend: tg.grad(_square_sum, backend=backend),
    "value_and_grad": lambda backend: tg.value_and_grad(_square_sum, backend=backend),
    "jit": lambda backend: tg.jit(_sine, backend=backend),
}


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_deleting_a_compiled_function_frees_its_traces(kernels, transform, backend):
    # Compiling happens with the collector on: numba's compiler leaves
    # cyclic garbage of its own, some of it (frames) referring to our objects.
    f = TRANSFORMS[transform](backend)
    arguments = [np.linspace(-1.0, 1.0, 5), np.ones((2, 3)), tg.tensor(np.arange(4.0))]
    for a in arguments:
        f(a)
    assert f.cache_info().traces == 3
    with refcounting_only():
        graphs = [weakref.ref(g) for a in arguments for g in f.graphs(a).values()]
        lowered = [weakref.ref(entry[0].graph) for entry in kernels._entries.values()]
        assert len(lowered) == (3 if backend == "numba" else 0)
        ref = weakref.ref(f)
        del f
        assert ref() is None
        # The kernels stay in the in-memory cache by design (another function
        # tracing the same graph reuses them); they hold only their own
        # lowered graphs, and go when the cache lets them go.
        assert {id(g) for g in alive(graphs)} <= {id(g) for g in alive(lowered)}
        kernels.clear()
        assert alive(graphs) == [] and alive(lowered) == []


def test_evicted_kernel_is_freed(kernels):
    functions = [tg.jit(lambda x: tg.exp(x) * 0.25, tier="kernel"), tg.jit(lambda x: tg.exp(x) * 0.75, tier="kernel")]
    for f in functions:
        f(np.ones(3))
    with refcounting_only():
        first = weakref.ref(next(iter(kernels._entries.values()))[0].graph)
        del functions[0]  # its trace held the kernel too
        kernels.maxsize = 1  # evicts the least recently used: the first
        assert kernels.info().evictions == 1
        assert first() is None


def test_deleted_trace_frees_its_constants():
    # A closed-over array becomes a constant of the trace; it should go with
    # the function, not wait for the collector.
    big = np.full((64, 64), 0.5)
    f = tg.grad(lambda x: (x * tg.tensor(big)).sum(), backend="interpreter")
    f(np.ones((64, 64)))
    with refcounting_only():
        consts = [weakref.ref(v.const) for g in f.graphs(np.ones((64, 64))).values()
                  for node in g.nodes for v in node.inputs if v.const is not None and v.const.size > 1]
        assert consts
        del f
        assert alive(consts) == []
        assert cycles() == []


# -- compiled training loops -----------------------------------------------------------


def _regression_loss(x, y):
    """The mlp with a squared-error loss: fewer nodes than cross-entropy, so a cold compile is quicker."""
    x, target = tg.tensor(x), tg.tensor(np.eye(3, dtype=np.float32)[y])

    def loss(w1, b1, w2, b2):
        return ((tg.matmul(tg.tanh(tg.matmul(x, w1) + b1), w2) + b2 - target) ** 2).mean()
    return loss


def _compiled_cases():
    x, y, params = mlp_data(1)
    loss = _regression_loss(x, y)
    grad = tg.grad(loss, argnums=(0, 1, 2, 3))
    value_and_grad = tg.value_and_grad(loss, argnums=(0, 1, 2, 3))
    jit = tg.jit(loss)
    arrays = [p.copy() for p in params]
    tensors = [tg.tensor(p, requires_grad=True) for p in params]
    lr = np.float32(0.1)

    def sgd_grad():
        grads = grad(*arrays)
        arrays[:] = [p - lr * g for p, g in zip(arrays, grads)]

    def sgd_value_and_grad():
        _, grads = value_and_grad(*arrays)
        arrays[:] = [p - lr * g for p, g in zip(arrays, grads)]

    def sgd_jit_backward():
        for t in tensors:
            t.grad = None
        jit(*tensors).backward()
        with tg.no_grad():
            for t in tensors:
                t -= lr * t.grad

    pytree = tg.grad(lambda ps: loss(ps["w1"], ps["b1"], ps["w2"], ps["b2"]))
    tree = dict(zip(("w1", "b1", "w2", "b2"), params))

    def sgd_pytree():
        grads = pytree(tree)
        for k in tree:
            tree[k] = tree[k] - lr * grads[k]

    def vjp_step():
        _, back = tg.vjp(loss, *arrays)
        back(np.float32(1.0))

    return {"grad": sgd_grad, "value_and_grad": sgd_value_and_grad, "jit_backward": sgd_jit_backward,
            "grad_pytree": sgd_pytree, "vjp": vjp_step}


@pytest.fixture(scope="module")
def compiled_cases():
    """The compiled steps, made (and compiled) once for the tests below."""
    cases = _compiled_cases()
    for step in cases.values():
        step()
    return cases


@pytest.mark.parametrize("case", ["grad", "value_and_grad", "jit_backward", "grad_pytree", "vjp"])
def test_compiled_steps_do_not_grow_live_objects(compiled_cases, case):
    # Normal collector settings: what a training loop sees.  After a short
    # warm-up, a few hundred more steps leave the number of live objects and
    # the Python-allocated memory (numpy's buffers included) where they were.
    step = compiled_cases[case]
    for _ in range(20):
        step()
    tracemalloc.start()
    try:
        gc.collect()
        objects, (traced, _) = len(gc.get_objects()), tracemalloc.get_traced_memory()
        for _ in range(300):
            step()
        gc.collect()
        grown_objects = len(gc.get_objects()) - objects
        grown_bytes = tracemalloc.get_traced_memory()[0] - traced
    finally:
        tracemalloc.stop()
    assert grown_objects <= 10, f"{grown_objects} more live objects after 300 steps"
    assert grown_bytes < 64 * 1024, f"{grown_bytes} more bytes allocated after 300 steps"


@pytest.mark.parametrize("case", ["grad", "value_and_grad", "jit_backward", "grad_pytree", "vjp"])
def test_compiled_steps_make_no_reference_cycles(compiled_cases, no_gc, case):
    step = compiled_cases[case]
    for _ in range(5):
        step()
    assert cycles() == []


def test_vjp_does_not_keep_the_function_alive():
    # tg.vjp caches a transform per function; the cache must not keep the
    # function (and its closure) alive once the caller drops it.  The
    # function and its transform refer to each other, so this one needs the
    # collector.
    def make(scale):
        return lambda v: v * scale

    fn = make(2.0)
    tg.vjp(fn, np.arange(3.0))[1](np.ones(3))
    ref = weakref.ref(fn)
    del fn
    gc.collect()
    assert ref() is None
