"""The loop IR kernels are written in: printing, the names a piece reads and writes, canonical renaming."""

from __future__ import annotations

import pytest

from tracegrad.compiler.kernel_ir import Piece, Writer, canonical, first_comment, parse_piece, render


def _reduction_piece() -> Piece:
    w = Writer()
    w.alloc("t3", "n0", "np.float64", "%3 = sum %a  f.py:2")
    w.line("acc = np.float64(0.0)")
    w.loop("i", "n0 * n1")
    w.line("acc = acc + exp_f64(in0[i])")
    w.end()
    w.branch("if", "acc < 0")
    w.line("status[0] = 1")
    w.end()
    w.branch("else")
    w.line("t3[0] = acc")
    w.end()
    w.note("%4 = reshape %3: same data as t3")
    return w.pieces[0]


def test_a_tree_prints_as_indented_python_with_aligned_comments():
    lines = render([_reduction_piece()])
    assert lines[0].startswith("    t3 = np.empty(n0, dtype=np.float64)")
    assert lines[0].index("# %3 = sum") == 64
    assert lines[1:] == [
        "    acc = np.float64(0.0)",
        "    for i in range(n0 * n1):",
        "        acc = acc + exp_f64(in0[i])",
        "    if acc < 0:",
        "        status[0] = 1",
        "    else:",
        "        t3[0] = acc",
        "    # %4 = reshape %3: same data as t3",
    ]
    # Without comments the note leaves an empty line, so line numbers do not move.
    bare = render([_reduction_piece()], comments=False)
    assert bare[0] == "    t3 = np.empty(n0, dtype=np.float64)" and bare[-1] == ""
    assert first_comment([_reduction_piece()]) == "%3 = sum %a  f.py:2"


def test_a_piece_reads_what_it_does_not_write_and_module_names_are_neither():
    parsed = parse_piece(_reduction_piece(), {"exp_f64"})
    assert parsed.read == ["n0", "n1", "acc", "in0", "i", "status", "t3"]  # in source order
    assert parsed.written == ["t3", "acc", "i"]
    outside = [n for n in parsed.read if n not in parsed.written]
    assert outside == ["n0", "n1", "in0", "status"]


def test_an_updated_name_is_read():
    w = Writer()
    w.line("start += n2")
    parsed = parse_piece(w.pieces[0], set())
    assert parsed.read == ["start", "n2"] and parsed.written == ["start"]


def test_renaming_touches_names_only():
    w = Writer()
    # `copy` and `dtype` are an attribute and a keyword here, `t1copy` another name: none is `t1`.
    w.line("t2 = t1.copy()")
    w.line("t1copy = np.empty(n0, dtype=np.float32)")
    w.line("t1copy[0] = t2[0] + t1[0]", "a comment is dropped")
    parsed = parse_piece(w.pieces[0], set())
    args = [n for n in parsed.read if n not in parsed.written]
    body, params, returned = canonical(parsed, args, ["t1copy"])
    assert args == ["t1", "n0"] and params == ["p0", "p1"] and returned == ["v1"]
    assert body == ["    v0 = p0.copy()",
                    "    v1 = np.empty(p1, dtype=np.float32)",
                    "    v1[0] = v0[0] + p0[0]"]


def test_pieces_equal_up_to_names_print_the_same():
    def step(a: str, b: str, out: str) -> Piece:
        w = Writer()
        w.loop("i", "n0")
        w.line(f"{out}[i] = sin_f64({a}[i]) * {b}[i]")
        w.end()
        return w.pieces[0]
    texts = []
    for piece in (step("t1", "in0", "t2"), step("t7", "in3", "t9")):
        parsed = parse_piece(piece, {"sin_f64"})
        args = [n for n in parsed.read if n not in parsed.written]
        texts.append(canonical(parsed, args, [])[0])
    assert texts[0] == texts[1] == ["    for v0 in range(p0):", "        p1[v0] = sin_f64(p2[v0]) * p3[v0]"]


def test_the_writer_refuses_unbalanced_structure():
    w = Writer()
    with pytest.raises(RuntimeError):
        w.end()
    w.loop("i", "n0")
    with pytest.raises(RuntimeError):
        w.piece()
