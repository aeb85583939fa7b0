"""The one graph walker (ir/walk.py) and the op table as the only registry of what an op is.

Interpreters and transformers are checked against the reference interpreter; the import-time
checks of the code generator are shown to catch an entry that names a runtime function that
does not exist, or that nothing lowers.
"""
import dataclasses

import numpy as np
import pytest

from tracegrad.compiler import codegen, fusion
from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.partition import partition
from tracegrad.compiler.passes import optimize
from tracegrad.ir.graph import Graph, GraphBuilder
from tracegrad.ir.interpret import GuardFailure, ReferenceInterpreter, interpret
from tracegrad.ir.ops import CHEAP, HEAVY, TABLE
from tracegrad.ir.types import F64, TensorType
from tracegrad.ir.walk import Interpreter, Transformer


def _graph() -> Graph:
    b = GraphBuilder(Graph(name="f", input_names=["x", "y"]))
    x, y = b.input(TensorType(F64, (3,))), b.input(TensorType(F64, (3,)))
    b.loc = ("model.py", 7)
    s = b.sum(b.mul(b.neg(x), b.exp(y)), axes=None, keepdims=False)
    b.guard(b.gt(s, -1e9), True)
    b.graph.outputs = [s, b.neg(y)]
    return b.graph


ARGS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.2, -0.3])]


class _CountingInterpreter(Interpreter):
    def __init__(self, graph):
        super().__init__(graph)
        self.ops = []

    def run_node(self, node, ins):
        self.ops.append(node.op)
        return TABLE[node.op].impl(*ins, **node.attrs)


def test_an_interpreter_defines_only_what_a_node_means():
    g = _graph()
    walk = _CountingInterpreter(g)
    got = walk.run(ARGS)
    want = interpret(g, ARGS)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert walk.ops == [n.op for n in g.nodes if n.op != "guard"]
    with pytest.raises(ValueError, match="f takes 2 inputs, got 1"):
        _CountingInterpreter(g).run(ARGS[:1])


def test_reference_interpreter_enforces_guards_unless_told_not_to():
    g = _graph()
    far = [np.array([1e9, 1e9, 1e9]), np.zeros(3)]
    with pytest.raises(GuardFailure) as info:
        interpret(g, far)
    assert info.value.ordinal == 0
    walk = ReferenceInterpreter(g, enforce_guards=False)
    walk.run(far)
    # every value is kept, keyed by value id (what the self-check compares node by node)
    assert all(n.outputs[0].id in walk.env for n in g.nodes if n.outputs)


class _NegAsMul(Transformer):
    def run_node(self, node, ins):
        if node.op == "neg":
            return self.builder.mul(ins[0], -1.0)
        return super().run_node(node, ins)


def test_a_transformer_rewrites_nodes_and_keeps_the_rest_and_the_header():
    g = _graph()
    out = _NegAsMul(g).transform()
    assert [n.op for n in out.nodes].count("neg") == 0
    assert out.input_names == ["x", "y"] and out.inputs == g.inputs and out.name == "f"
    assert str(out).startswith("def f(%x: f64[3], %y: f64[3])")
    for a, b in zip(interpret(out, ARGS), interpret(g, ARGS)):
        np.testing.assert_array_equal(a, b)
    # what a rule emits carries the replaced node's source line
    assert all(n.loc == ("model.py", 7) for n in out.nodes if n.op == "mul")
    # unchanged nodes are shared, not copied (nodes are never edited once built)
    assert any(n is m for n in out.nodes for m in g.nodes if n.op == "exp")
    # the guard survives, reading the rewritten graph's value
    guard = next(n for n in out.nodes if n.op == "guard")
    defined = {v.id for n in out.nodes for v in n.outputs}
    assert guard.inputs[0].id in defined


def test_input_names_survive_the_pipeline():
    g = _graph()
    joint, cts = adjoint(g, [0, 1], seed="inputs", seed_outputs=[0])
    assert joint.input_names[:2] == ["x", "y"]
    part = partition(optimize(joint), len(g.outputs), cts)
    assert part.forward.input_names == ["x", "y"]
    assert part.adjoint.input_names[-1] == "ct0"
    assert str(optimize(g)).startswith("def f(%x: f64[3], %y: f64[3])")


def test_costs_and_lowerings_come_from_the_table():
    assert TABLE["exp"].cost == HEAVY and TABLE["add"].cost == CHEAP
    assert "add" in fusion.CHEAP_OPS and "exp" not in fusion.CHEAP_OPS
    assert codegen._HEAVY.get("tanh") == 1 and "add" not in codegen._HEAVY
    assert codegen._LOWERINGS["sum"] is codegen._LOWERINGS["max"]
    assert all(codegen._LOWERINGS[n] is codegen._LOWERINGS["det"] for n, e in TABLE.items() if e.kind == "linalg")


def test_the_table_check_names_a_missing_runtime_function(monkeypatch):
    monkeypatch.setitem(TABLE, "tan", dataclasses.replace(TABLE["tan"], kernel="no_such_function({0})"))
    with pytest.raises(RuntimeError, match=r"tan: no_such_function_f32.*tan: no_such_function_f64"):
        codegen._check_table()


def test_the_table_check_names_an_op_nothing_lowers(monkeypatch):
    monkeypatch.setitem(TABLE, "made_up", dataclasses.replace(TABLE["matmul"], name="made_up"))
    with pytest.raises(RuntimeError, match="without a lowering: made_up"):
        codegen._check_table()


def test_an_entrys_scalar_function_is_in_the_runtime():
    from tracegrad.compiler import runtime
    names = runtime.names()
    for name, entry in TABLE.items():
        if getattr(entry, "scalar", None) is not None:
            assert f"{name}_f32" in names and f"{name}_f64" in names
    assert runtime.names()["tan_f64"](0.5) == pytest.approx(np.tan(0.5), rel=1e-15)
