"""The IR's text form (print/parse), fingerprints, the verifier and DOT output.

Every graph here is built with GraphBuilder, the way the tracer builds them;
the broken ones are built correctly and then damaged by hand.
"""
import math
import re

import numpy as np
import pytest

from tracegrad.ir.dot import to_dot
from tracegrad.ir.graph import Graph, GraphBuilder, Node, Value, const_value
from tracegrad.ir.ops import TABLE
from tracegrad.ir.text import format_attr, parse, print_graph
from tracegrad.ir.types import SHORT_TO_DTYPE, TensorType
from tracegrad.ir.verify import VerifyError, verify


def T(short: str, *shape: int) -> TensorType:
    return TensorType(SHORT_TO_DTYPE[short], shape)


# --------------------------------------------------------------------------
# Graphs: each builder returns a finished Graph
# --------------------------------------------------------------------------

def g_loss():
    B = GraphBuilder()
    B.graph.name = "loss"
    x, w, b, y = (B.input(t) for t in (T("f32", 5), T("f32", 5, 3), T("f32", 3), T("f32", 3)))
    B.graph.input_names = ["x", "w", "b", "y"]
    B.loc = ("/home/me/project/model.py", 12)
    h = B.add(B.matmul(x, w), b)
    B.loc = ("/home/me/project/model.py", 13)
    loss = B.binary_cross_entropy_with_logits(h, y, reduction="mean")
    B.loc = ("/home/me/project/model.py", 15)
    B.guard(B.gt(loss, 0.0), True)
    B.graph.outputs = [loss]
    return B.graph


def g_elementwise():
    B = GraphBuilder()
    x, v, n, m = B.input(T("f32", 2, 3)), B.input(T("f32", 3)), B.input(T("i32", 2, 1)), B.input(T("bool", 3))
    a = B.add(x, v)                        # broadcast of an input
    a = B.mul(a, 2.0)                      # a float scalar
    a = B.sub(1, a)                        # an int scalar on the left
    a = B.div(a, n)                        # int tensor: cast and broadcast
    a = B.pow(B.abs(a), 0.5)
    a = B.where(B.gt(a, 0.1), a, B.neg(a))
    a = B.where(m, a, 0.0)                 # bool input as condition
    a = B.maximum(B.minimum(a, 3.0), -3.0)
    for f in ("exp", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt", "sign", "log"):
        a = B.apply(f, a)
    c = B.logical_or(B.logical_and(B.le(a, 1.0), B.ne(a, 0.5)), B.logical_not(B.eq(a, x)))
    B.graph.outputs = [a, B.cast(c, dtype="f64"), B.ge(n, 0), B.lt(v, 1e-8)]
    return B.graph


def g_reductions():
    B = GraphBuilder()
    x, k = B.input(T("f64", 2, 3, 4)), B.input(T("i64", 5))
    outs = [B.sum(x), B.sum(x, axes=(0, 2), keepdims=True), B.max(x, axes=(-1,), keepdims=False),
            B.argmax(x, axis=1, keepdims=True), B.argmax(x), B.sum(k, axes=None, keepdims=False)]
    B.graph.outputs = outs
    return B.graph


def g_matmul():
    B = GraphBuilder()
    a, b, c, d = B.input(T("f32", 4)), B.input(T("f32", 3, 4)), B.input(T("f32", 2, 4, 5)), B.input(T("f32", 5))
    B.graph.outputs = [B.matmul(a, a), B.matmul(b, a), B.matmul(a, c), B.matmul(B.matmul(b, c), d)]
    return B.graph


def g_shapes():
    B = GraphBuilder()
    x = B.input(T("f32", 2, 3, 4))
    y = B.transpose(B.reshape(x, shape=(6, 4)), perm=(1, 0))
    z = B.broadcast(B.reshape(x, shape=(2, 1, 12)), shape=(5, 2, 3, 12))
    B.graph.outputs = [y, z, B.reshape(B.sum(x), shape=(1, 1))]
    return B.graph


def g_index():
    B = GraphBuilder()
    x, i = B.input(T("f32", 4, 5, 6)), B.input(T("i64", 3))
    B.graph.input_names = ["x", "idx"]
    outs = [
        B.index(x, spec=(("int", 1),)),
        B.index(x, spec=(("slice", 1, None, 2), ("int", -1))),
        B.index(x, spec=(("none",), ("ellipsis",), ("slice", None, 3, None))),
        B.index(x, i, spec=(("array",),)),
        B.index(x, i, np.array([4, 0, 4]), spec=(("array",), ("slice", None, None, None), ("array",))),
        B.index_add(B.index(x, i, spec=(("array",),)), i, spec=(("array",),), shape=(4, 5, 6)),
    ]
    B.graph.outputs = outs
    return B.graph


def g_concat():
    B = GraphBuilder()
    a, b = B.input(T("f32", 2, 3)), B.input(T("f32", 1, 3))
    c = B.concat(a, b, a, axis=0)
    B.graph.outputs = [c, B.stack(a, a, axis=-1), B.concat(a, B.input(T("f64", 2, 1)), axis=1)]
    return B.graph


def g_composites():
    B = GraphBuilder()
    x, t, p = B.input(T("f32", 4, 3)), B.input(T("i64", 4)), B.input(T("f32", 4, 3))
    outs = [B.softmax(x, axis=1), B.log_softmax(x, axis=-1), B.logsumexp(x, axes=(1,), keepdims=True),
            B.mean(x), B.mean(x, axes=(0,), keepdims=False), B.softplus(x, beta=2.0, threshold=math.inf),
            B.norm(x, p=math.inf, axes=(1,), keepdims=False), B.norm(x, p=2.0, axes=None, keepdims=False),
            B.clamp(x, min=None, max=0.5), B.clamp(x, min=-math.inf, max=1.0),
            B.mse_loss(x, p, reduction="sum"), B.binary_cross_entropy(B.sigmoid(x), p, reduction="none"),
            B.nll_loss(B.log_softmax(x, axis=1), t, B.input(T("f32", 3)), reduction="mean", ignore_index=-100)]
    B.graph.outputs = outs
    return B.graph


def g_constants():
    B = GraphBuilder()
    x = B.input(T("f32", 3))
    h = B.input(T("f16", 2))
    outs = [B.add(x, np.array([0.1, -0.0, 1e-8], np.float32)),
            B.mul(x, np.array([math.inf, -math.inf, math.nan], np.float32)),
            B.add(h, np.array([0.1, 65504], np.float16)),
            B.mul(h, np.float16(1e-7)),
            B.add(B.input(T("f64", 2)), np.array([0.1, 1 / 3])),
            B.add(B.input(T("i64", 2)), np.array([-(2 ** 62), 7])),
            B.add(B.input(T("u8", 2)), np.array([255, 0], np.uint8)),
            B.logical_and(B.input(T("bool", 2)), np.array([True, False])),
            B.add(B.input(T("f32", 40, 30)), np.arange(1200, dtype=np.float32).reshape(40, 30)),
            B.add(B.input(T("i64", 9)), np.arange(9)),
            B.concat(B.input(T("f32", 0)), np.zeros(0, np.float32), axis=0)]
    B.graph.outputs = outs + [const_value(np.float32(0.1)), const_value(np.array([1.5], np.float64)),
                              const_value(np.arange(100.0))]
    return B.graph


def g_guards():
    B = GraphBuilder()
    x = B.input(T("f32", 2, 2))
    s = B.sum(x)
    B.loc = ("train.py", 3)
    B.guard(B.gt(s, 0.0), True)
    B.guard(B.argmax(x), 3)
    B.loc = None
    B.guard(s, 1.25)
    B.guard(x, np.array([[1.0, math.nan], [math.inf, -math.inf]], np.float32))
    B.guard(B.eq(x, 0.0), [[False, True], [True, False]])
    B.graph.outputs = [s]
    return B.graph


def g_passthrough():
    """Outputs that are inputs, repeated, or constants; no nodes at all."""
    B = GraphBuilder()
    x, y = B.input(T("f32", 3)), B.input(T("i64", ))
    B.graph.outputs = [y, x, x, const_value(np.int64(3)), const_value(True)]
    return B.graph


def g_empty():
    return Graph(name="nothing")


GRAPHS = [g_loss, g_elementwise, g_reductions, g_matmul, g_shapes, g_index, g_concat, g_composites,
          g_constants, g_guards, g_passthrough, g_empty]


def _consts(g):
    return [v.const for n in g.nodes for v in n.inputs if v.const is not None] + \
        [v.const for v in g.outputs if v.const is not None]


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------

@pytest.mark.parametrize("build", GRAPHS, ids=lambda f: f.__name__)
def test_round_trip(build):
    g = build()
    text = str(g)
    back = parse(text)
    assert str(back) == text
    assert back.fingerprint() == g.fingerprint()
    assert parse(str(back)).fingerprint() == g.fingerprint()
    verify(g)
    verify(back)
    # Small constants come back bit for bit (sign of zero included), large ones as placeholders.
    for a, b in zip(_consts(g), _consts(back), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.size <= 8:
            assert np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
        else:
            assert not b.any()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_round_trip_every_op(name):
    """Every op-table entry, on its own sample inputs (arrays as graph inputs)."""
    for dtype in (np.float32, np.float64):
        for sample in TABLE[name].samples(np.random.default_rng(0), np.dtype(dtype)):
            B = GraphBuilder()
            args = [B.input(TensorType(a.dtype, a.shape)) if isinstance(a, np.ndarray) else a
                    for a in sample.args]
            B.graph.outputs = [B.apply(name, *args, **sample.attrs)]
            g = B.graph
            verify(g)
            back = parse(str(g))
            assert str(back) == str(g) and back.fingerprint() == g.fingerprint()
            verify(back)


@pytest.mark.parametrize("build", GRAPHS, ids=lambda f: f.__name__)
def test_fingerprint_stable(build):
    assert build().fingerprint() == build().fingerprint()


def test_exact_text():
    B = GraphBuilder()
    B.graph.name = "step"
    x, w = B.input(T("f32", 2, 3)), B.input(T("f32", 3))
    B.graph.input_names = ["x", "w"]
    B.loc = ("/home/me/model.py", 7)
    h = B.mul(x, w)
    B.loc = ("/home/me/model.py", 8)
    s = B.sum(h, axes=(1,), keepdims=False)
    B.loc = None
    r = B.maximum(s, 0.5)
    B.guard(s, np.array([1.5, 2.0], np.float32))
    B.graph.outputs = [r, x, B.index(x, np.array([1, 0]), spec=(("array",), ("int", -1)))]
    expected = (
        "def step(%x: f32[2,3], %w: f32[3]) -> (f32[2], f32[2,3], f32[2]):\n"
        "  %0: f32[2,3] = broadcast[shape=(2, 3)] %w                 # model.py:7\n"
        "  %1: f32[2,3] = mul %x, %0                                 # model.py:7\n"
        "  %2: f32[2] = sum[axes=(1,), keepdims=False] %1            # model.py:8\n"
        "  %3: f32[2] = broadcast[shape=(2,)] 0.5:f32\n"
        "  %4: f32[2] = maximum %2, %3\n"
        "  guard %2 == [1.5, 2.0]\n"
        "  %5: f32[2] = index[spec=(('array',), ('int', -1))] %x, i64[2]{1, 0}\n"
        "  return %4, %x, %5"
    )
    assert str(B.graph) == expected
    assert print_graph(B.graph) == expected


def test_float32_constants_print_shortest():
    B = GraphBuilder()
    x = B.input(T("f32", ))
    B.graph.outputs = [B.add(x, np.float32(0.1)), B.mul(x, np.float32(1e30)), B.sub(x, np.float32(-0.0))]
    text = str(B.graph)
    assert "0.1:f32" in text and "1e+30:f32" in text and "-0.0:f32" in text
    assert "0.10000000149" not in text
    back = parse(text)
    assert back.nodes[0].inputs[1].const.item() == np.float32(0.1).item()


def test_float_constants_round_trip_bit_exact():
    rng = np.random.default_rng(0)
    for short, bits in (("f16", np.uint16), ("f32", np.uint32), ("f64", np.uint64)):
        values = rng.integers(0, np.iinfo(bits).max, size=2000, dtype=bits, endpoint=True)
        values = values.view(SHORT_TO_DTYPE[short])
        values = values[~np.isnan(values)][:8 * 200].reshape(200, 8)  # NaN payloads are not kept
        B = GraphBuilder()
        x = B.input(T(short, 8))
        B.graph.outputs = [B.add(x, row) for row in values] + [B.mul(x, v) for v in values[:, 0]]
        back = parse(str(B.graph))
        for a, b in zip(_consts(B.graph), _consts(back), strict=True):
            assert a.tobytes() == b.tobytes()


def test_large_constant_placeholder():
    B = GraphBuilder()
    x = B.input(T("f32", 784, 512))
    W = np.random.default_rng(1).standard_normal((784, 512)).astype(np.float32)
    B.graph.outputs = [B.add(x, W)]
    text = str(B.graph)
    summary = re.search(r"f32\[784,512\]\{sha256:([0-9a-f]{12})\}", text)
    assert summary, text
    back = parse(text)
    c = back.nodes[0].inputs[1]
    assert c.type == T("f32", 784, 512) and c.note == summary.group(0)
    assert not c.const.any() and not c.const.flags.writeable
    assert str(back) == text
    # The hash is of the contents: other data, other text.
    B2 = GraphBuilder()
    B2.graph.outputs = [B2.add(B2.input(T("f32", 784, 512)), W + 1)]
    assert str(B2.graph) != text and B2.graph.fingerprint() == B.graph.fingerprint()


def test_input_names():
    g = g_loss()
    assert str(g).startswith("def loss(%x: f32[5], %w: f32[5,3], %b: f32[3], %y: f32[3]) -> (")
    for bad in (["x", "w"], ["x", "w", "b", "not valid"], ["x", "x", "b", "y"], "xwby"):
        g.input_names = bad
        assert str(g).startswith("def loss(%a0: f32[5], %a1: f32[5,3], %a2: f32[3], %a3: f32[3])")
    assert parse(str(g)).fingerprint() == g.fingerprint()


def test_hand_written_text_is_canonicalised():
    text = """
    # a comment line, and blank lines, are allowed
    def affine(%input: f32[2,3], %bias: f32[3]) -> (f32[2,3], f32[]):

        %b: f32[2,3]  =  broadcast[shape=(2,3)]   %bias
        %out: f32[2,3] = add %input,%b      # layers.py:40
        %m: f32[] = sum[axes=None, keepdims=False] %out
        guard %m == -inf
        return %out, %m
    """
    g = parse(text)
    verify(g)
    assert [n.op for n in g.nodes] == ["broadcast", "add", "sum", "guard"]
    assert g.nodes[1].loc == ("layers.py", 40)
    assert g.nodes[3].attrs == {"expected": -math.inf}
    assert str(g) == (
        "def affine(%input: f32[2,3], %bias: f32[3]) -> (f32[2,3], f32[]):\n"
        "  %0: f32[2,3] = broadcast[shape=(2, 3)] %bias\n"
        "  %1: f32[2,3] = add %input, %0                             # layers.py:40\n"
        "  %2: f32[] = sum[axes=None, keepdims=False] %1\n"
        "  guard %2 == -inf\n"
        "  return %1, %2")


def test_attr_literals():
    for value in [(("slice", None, 3, None), ("int", -1)), math.inf, -math.inf, 1e-300, "it's ]#",
                  [1, [2.5, True]], {"a": (1,)}, None, ()]:
        g = Graph(name="f", nodes=[Node("guard", [const_value(1.0)], {"expected": value})])
        back = parse(str(g))
        assert repr(back.nodes[0].attrs["expected"]) == repr(value)
    nan = parse(str(Graph(nodes=[Node("guard", [const_value(1.0)], {"expected": math.nan})])))
    assert math.isnan(nan.nodes[0].attrs["expected"])
    # numpy data in attrs prints as plain Python data.
    assert format_attr((np.int64(2), np.float32(0.5), np.dtype("float32"))) == "(2, 0.5, 'f32')"


# --------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------

def _chain(dtype="f32", op="exp", axes=(0,), swap=False, scale=2.0, name="f", loc=None):
    B = GraphBuilder()
    B.graph.name = name
    B.loc = loc
    x, y = B.input(T(dtype, 3, 4)), B.input(T(dtype, 3, 4))
    a, b = (y, x) if swap else (x, y)
    B.graph.outputs = [B.sum(B.apply(op, B.sub(a, B.mul(b, scale))), axes=axes, keepdims=False)]
    return B.graph


def test_fingerprint_ignores_names_and_locations():
    base = _chain().fingerprint()
    renamed = _chain(name="g", loc=("other.py", 9))
    renamed.input_names = ["p", "q"]
    assert renamed.fingerprint() == base
    assert parse(str(renamed)).fingerprint() == base


@pytest.mark.parametrize("change", [{"dtype": "f64"}, {"op": "log"}, {"axes": (1,)}, {"swap": True},
                                    {"scale": 3.0}], ids=str)
def test_fingerprint_sees_structure(change):
    assert _chain(**change).fingerprint() != _chain().fingerprint()


# --------------------------------------------------------------------------
# The verifier
# --------------------------------------------------------------------------

def _rejects(g, name, *words):
    """verify(g) fails naming `name`, with the >> marker on a line that shows it."""
    with pytest.raises(VerifyError) as info:
        verify(g)
    msg = str(info.value)
    assert msg.startswith(name) or f" {name} " in msg.splitlines()[0], msg
    for w in words:
        assert w in msg, msg
    marked = [line for line in msg.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and name in marked[0], msg
    assert info.value.value == name
    assert f" {info.value.line} | " in marked[0]
    return msg


def _simple():
    """def f(%a0: f32[3]) -> (f32[3]):  %0 = exp %a0; %1 = neg %0; %2 = add %1, %a0"""
    B = GraphBuilder()
    x = B.input(T("f32", 3))
    B.graph.outputs = [B.add(B.neg(B.exp(x)), x)]
    return B.graph


def test_verify_use_before_definition():
    g = _simple()
    g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]
    msg = _rejects(g, "%1", "used before it is defined", "(on line 3)")
    assert ">> 2 |   %0: f32[3] = neg %1" in msg


def test_verify_defined_twice():
    g = _simple()
    g.nodes.insert(2, g.nodes[0])
    _rejects(g, "%0", "defined twice", "first on line 2")
    g = _simple()
    g.nodes[1].outputs[0] = g.inputs[0]
    _rejects(g, "%a0", "defined twice", "first as an input")


def test_verify_wrong_type():
    g = _simple()
    g.nodes[1].outputs[0].type = T("f64", 3)
    _rejects(g, "%1", "has type f64[3]", "neg of (f32[3]) gives f32[3]")
    g = g_loss()
    bce = next(n for n in g.nodes if n.op == "binary_cross_entropy_with_logits")
    bce.attrs["reduction"] = "none"
    _rejects(g, "%2", "binary_cross_entropy_with_logits", "gives f")


def test_verify_elementwise_needs_explicit_broadcast_and_cast():
    g = _simple()
    add = g.nodes[2]
    wide = Value(T("f32", 2, 3))
    g.inputs.append(wide)
    add.inputs[0] = wide
    add.outputs[0].type = T("f32", 2, 3)  # what the (broadcasting) type rule gives
    _rejects(g, "%2", "different shapes (f32[2,3], f32[3])", "explicit broadcast")
    g = _simple()
    other = Value(T("f64", 3))
    g.inputs.append(other)
    g.nodes[2].inputs[0] = other
    _rejects(g, "%2", "different dtypes (f64[3], f32[3])", "explicit cast")


def test_verify_where_condition_may_differ_in_dtype():
    B = GraphBuilder()
    x = B.input(T("f32", 3))
    B.graph.outputs = [B.where(B.gt(x, 0.0), x, 0.0), B.cast(x, dtype="i64")]
    verify(B.graph)


def test_verify_unknown_op_and_bad_arity():
    g = _simple()
    g.nodes[1].op = "frobnicate"
    msg = _rejects(g, "%1", "unknown op 'frobnicate'")
    assert ">> 3 |   %1: f32[3] = frobnicate %0" in msg
    g = _simple()
    g.nodes[1].inputs.append(g.inputs[0])
    _rejects(g, "%1", "neg of 2 inputs; neg takes 1")


def test_verify_type_rule_rejection():
    B = GraphBuilder()
    a, b = B.input(T("f32", 2, 3)), B.input(T("f32", 3, 4))
    B.graph.outputs = [B.matmul(a, b)]
    B.graph.nodes[0].inputs.reverse()
    _rejects(B.graph, "%0", "type rule rejects", "mat1 and mat2 shapes cannot be multiplied")


def test_verify_guards():
    g = g_guards()
    guard = next(n for n in g.nodes if n.op == "guard")
    guard.inputs.append(g.inputs[0])
    _rejects(g, "%1", "reads 2 values")
    g = g_guards()
    guard = next(n for n in g.nodes if n.op == "guard")
    guard.outputs.append(Value(T("bool"), guard))
    _rejects(g, "%1", "guards define nothing")


def test_verify_undefined_output():
    g = _simple()
    stray = Value(T("f32", 3))
    g.outputs.append(stray)
    msg = _rejects(g, f"%?{stray.id}", "returned but nothing defines it")
    assert msg.splitlines()[-1].startswith(">>")


def test_verify_context_is_limited():
    B = GraphBuilder()
    x = B.input(T("f32", 3))
    for _ in range(20):
        x = B.exp(x)
    B.graph.outputs = [x]
    B.graph.nodes[10].outputs[0].type = T("f32", 4)
    msg = _rejects(B.graph, "%10", "has type f32[4]")
    assert len(msg.splitlines()) == 1 + 7 and "%6:" not in msg and "%7:" in msg and "%13:" in msg


# --------------------------------------------------------------------------
# Parse errors
# --------------------------------------------------------------------------

HEADER = "def f(%x: f32[3]) -> (f32[3]):\n"


@pytest.mark.parametrize("text, line, words", [
    ("define f(%x: f32[3]):\n  return %x", 1, "expected 'def NAME"),
    ("def f(%x: f33[3]) -> (f32[3]):\n  return %x", 1, "unknown dtype 'f33'"),
    ("def f(%x: f32[3], %x: f32[3]) -> (f32[3]):\n  return %x", 1, "%x is defined twice"),
    (HEADER + "  %0: f32[3] = exp %y\n  return %0", 2, "undefined value %y"),
    (HEADER + "  %0: f32[3] = exp %x\n  %0: f32[3] = exp %x\n  return %0", 3, "%0 is defined twice"),
    (HEADER + "  %0: f32[3] = add %x, f32[3]{1.0, 2.0}\n  return %0", 2, "needs 3 elements, got 2"),
    (HEADER + "  %0: f32[3] = add %x, 1.0:f99\n  return %0", 2, "unknown dtype 'f99'"),
    (HEADER + "  %0: f32[3] = add %x, abc:f32\n  return %0", 2, "could not convert"),
    (HEADER + "  %0: f32[3] = add %x, 300:u8\n  return %0", 2, "out of bounds"),
    (HEADER + "  %0: f32[3] = sum[axes=(0,] %x\n  return %0", 2, "unclosed '['"),
    (HEADER + "  %0: f32[3] = sum[axes=foo] %x\n  return %0", 2, "not a literal: foo"),
    (HEADER + "  %0: f32[3] = sum[(0,)] %x\n  return %0", 2, "key=value"),
    (HEADER + "  %0: f32[3] = exp %x   # not a location\n  return %0", 2, "location"),
    (HEADER + "  %0 = exp %x\n  return %0", 2, "expected '%name: type'"),
    (HEADER + "  %0: f32[3] exp %x\n  return %0", 2, "expected '%name: type = op"),
    (HEADER + "  return %x, %x", 2, "but the header declares"),
    (HEADER + "  return %x\n  %0: f32[3] = exp %x", 3, "text after 'return'"),
    (HEADER + "  %0: f32[3] = exp %x", 2, "missing return"),
    ("", 0, "missing header"),
])
def test_parse_errors(text, line, words):
    with pytest.raises(ValueError) as info:
        parse(text)
    msg = str(info.value)
    assert msg.startswith(f"line {line}: ") and words in msg, msg
    if line:
        assert text.splitlines()[line - 1].strip() in msg


# --------------------------------------------------------------------------
# DOT
# --------------------------------------------------------------------------

def test_to_dot():
    dot = to_dot(g_loss())
    assert dot.startswith('digraph "loss" {') and dot.rstrip().endswith("}")
    assert '"%x" [shape=invhouse' in dot and 'label="%x\\nf32[5]"' in dot
    assert '"%0" [label="%0 = matmul\\nf32[3]"];' in dot
    assert '"%x" -> "%0" [label="0"];' in dot and '"%w" -> "%0" [label="1"];' in dot
    assert "binary_cross_entropy_with_logits[reduction='mean']" in dot
    assert re.search(r'"const0" \[shape=note, color=gray50, label="0.0:f(32|64)"\];', dot)
    guard = re.search(r'"(guard\d+)" \[shape=octagon, color=red, fontcolor=red, label="guard == True"\]', dot)
    assert guard and f'"%3" -> "{guard.group(1)}" [style=dashed, color=red];' in dot
    assert '"%2" -> "return";' in dot
    # Every graph gives balanced, well-formed text.
    for build in GRAPHS:
        d = to_dot(build())
        assert d.count("{") == d.count("}") and d.count('"') % 2 == 0
