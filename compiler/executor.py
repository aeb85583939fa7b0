"""Tier 0: run any graph on one virtual machine compiled once per machine.

Compiling a graph to a numba kernel takes time that grows with the graph
(seconds for a few hundred tiny ops).  The executor needs no compilation per
graph: :func:`build_program` turns a graph into *instruction rows* (an int64
array: opcode, output slot, extents, operand slots and strides) in Python, and
one numba function, ``vm`` in ``_machine.py``, compiled once per machine (numba
caches it beside the module) walks them.  Building a program is plain Python,
tens of microseconds a node.

Values live in three flat *arenas* per call, one per *lane*: ``F`` (float64),
``S`` (float32) and ``I`` (int64, which holds every integer and boolean
value).  A float32 value is computed and stored in float32, with the float32
vector math the kernels call, so that float32 programs move half the bytes of
float64 ones and call float32 BLAS on their arena in place.  A narrower
integer or a bool is wrapped or normalised after each op that writes it, so
the machine has one handler per op and lane, not one per dtype.

Views cost nothing: ``reshape``, ``transpose``, ``broadcast``, ``detach`` and
basic indexing only change the offset and strides through which later
instructions read their operand.  Elementwise ops loop over at most two
levels (outer, inner) with a stride per operand; operands whose layout does
not collapse to two levels are copied into contiguous scratch first.  Sums
are compensated (Neumaier) in float64, products call BLAS through
:func:`numpy.dot`.  Index ops whose index arrays are constants become gathers
and scatters through precomputed offset tables; index ops on index arrays
computed at run time run as *host steps* (the op table's numpy rule on views
of the arenas) between stretches of machine code.

The handlers for elementwise ops are generated from the op table's kernel
templates (``Op.kernel``), so a new elementwise op runs here without code in
this module: ``python -m tracegrad.compiler.executor`` writes ``_machine.py``
again (a test fails until it matches the table).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from tracegrad.compiler import runtime
from tracegrad.compiler.codegen import _CALL_RE, _RUNTIME_NAMES  # templates read as code generation reads them
from tracegrad.ir.graph import SMALL_CONST, Graph, Node, Value
from tracegrad.ir.interpret import GuardFailure, interpret, node_error
from tracegrad.ir.ops import TABLE, IndexingError, ShapeError, build_index, normalize_axes
from tracegrad.ir.types import BOOL, TensorType
from tracegrad.ir.walk import Interpreter

log = logging.getLogger("tracegrad.compile")

__all__ = ["build_program", "check_program", "Program", "machine_source", "machine", "Unsupported", "WIDTH"]

#: Fields in one instruction row.
WIDTH = 16
_ZEROS = [0] * WIDTH
_F16 = np.dtype(np.float16)  # (comparing with the dtype, not the scalar type, costs no conversion)
F_LANE, I_LANE, S_LANE = 0, 1, 2
#: Per lane: the arena's name in the machine, the letter in opcode names, its dtype and the
#: runtime functions' suffix.
LANE_ARENA = ("F", "I", "S")
LANE_LETTER = ("f", "i", "s")
LANE_DTYPE = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.float32))
_LANE_SUFFIX = ("f64", "i64", "f32")
_LANE_OF_LETTER = {"f": F_LANE, "i": I_LANE, "s": S_LANE, "b": I_LANE}
_F32 = np.dtype(np.float32)


class Unsupported(Exception):
    """The graph holds something the executor cannot run (the backend then interprets it)."""


# --------------------------------------------------------------------------
# Opcodes: one per (elementwise op, lane), then the structural instructions
# --------------------------------------------------------------------------

#: What a stored integer value is normalised to after the op that writes it (0: nothing).
NORM = {BOOL: 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4, np.dtype(np.uint8): 5}

#: Conversions between lanes (``b``: to a truth value in the integer lane); a conversion within a
#: float lane is never needed (each holds one dtype), one within the integer lane wraps or normalises.
_CASTS = ["cast_fi", "cast_fb", "cast_fs", "cast_if", "cast_ii", "cast_is", "cast_sf", "cast_si", "cast_sb"]
#: Structural instructions, lane by lane (each lane's run in one machine function, see `_lane_function`).
_LANE_STRUCTURAL = [[f"{kind}_{letter}" for kind in ("copy", "sum", "max", "min", "argmax", "gather", "scatter_add",
                                                      "guard")] for letter in LANE_LETTER]
_STRUCTURAL = [name for names in _LANE_STRUCTURAL for name in names] + ["matmul_f", "matmul_s"] + _CASTS + \
    ["fail", "block"]

#: Elements per block when a chain of elementwise rows runs block by block: each intermediate's
#: block (32 KB of float64) is still in cache when the next row reads it (numexpr's technique).
BLOCK = 4096


def _lane_of(dtype: np.dtype) -> int:
    if dtype.kind == "f":
        return S_LANE if dtype == _F32 else F_LANE
    return I_LANE


def _elementwise_entries() -> list[tuple[str, int]]:
    """(op name, lane of its operands) for every elementwise op with a kernel template, in table order."""
    out = []
    for name, entry in TABLE.items():
        if getattr(entry, "kind", "") != "elementwise" or entry.kernel is None or name in ("cast", "detach"):
            continue
        if _numpy_step(entry):
            continue
        lanes = (F_LANE, S_LANE, I_LANE)
        if entry.promote == "float":
            lanes = (F_LANE, S_LANE)  # integer operands are cast to float before these ops
        for lane in lanes:
            if lane == I_LANE and any(f"{call}_i64" not in _RUNTIME_NAMES for call in _CALL_RE.findall(entry.kernel)):
                continue  # a runtime function that only exists for floats
            out.append((name, lane))
    return out


def _numpy_step(entry) -> bool:
    """Whether elementwise `entry` runs as a numpy step on the executor: its kernel calls a runtime function
    that calls libm one element at a time (``runtime.LIBM_FUNCTIONS``).  numpy's and scipy's loops are as
    fast, and every handler would add seconds to the machine's one-time build."""
    return bool(set(_CALL_RE.findall(entry.kernel or "")) & runtime.LIBM_FUNCTIONS)



ELEMENTWISE = _elementwise_entries()
OPCODE: dict[tuple[str, int] | str, int] = {}
for _k, _key in enumerate(ELEMENTWISE):
    OPCODE[_key] = _k + 1
for _k, _name in enumerate(_STRUCTURAL):
    OPCODE[_name] = len(ELEMENTWISE) + 1 + _k


def opcode_name(opcode: int) -> str:
    """The readable name of `opcode` (``mul_s``: float32 multiply; ``copy_i``: integer copy)."""
    return _OPCODE_NAMES.get(int(opcode), "?")


_OPCODE_NAMES = {v: (k if isinstance(k, str) else f"{k[0]}_{LANE_LETTER[k[1]]}") for k, v in OPCODE.items()}


# --------------------------------------------------------------------------
# The machine's source, generated from the op table
# --------------------------------------------------------------------------

def _operand_arrays(name: str, lane: int) -> list[str]:
    """The arena each operand of elementwise `name` is read from (``where``'s condition is an integer)."""
    return ["I" if name == "where" and k == 0 else LANE_ARENA[lane] for k in range(TABLE[name].arity)]


def _operand_readers(name: str, elements: list[str]) -> list[str]:
    """The kernel template's operands, given the expressions that read each operand's element."""
    kernel = TABLE[name].kernel
    readers = list(elements)
    if name == "where":
        readers[0] = f"({readers[0]} != 0)"
    if "&" in kernel or "|" in kernel or "not " in kernel:
        # Bitwise operators and `not` need truth values: an operand is true where it is nonzero.
        readers = [f"({r} != 0)" for r in readers]
    return readers


def _handler(name: str, lane: int) -> list[str]:
    """The body of the machine's function for elementwise `name` whose operands live in `lane`."""
    entry = TABLE[name]
    out_lane = I_LANE if entry.promote == "compare" else lane
    if lane == I_LANE:
        return _loops(name, lane, out_lane, views=False, indent=4)
    calls = bool(_CALL_RE.search(entry.kernel))
    if lane == F_LANE or out_lane == I_LANE:
        return _loops(name, lane, out_lane, views=calls, indent=4)
    # float32: contiguous operands are read through slices, which LLVM vectorises (plain
    # arithmetic as well as the vector math), and so is a vector with a broadcast scalar (x * 0.5).
    contiguous = " and ".join(f"{st} == 1" for st in ["asi", "bsi", "csi"][:entry.arity])
    lines = [f"    if {contiguous}:"] + _loops(name, lane, out_lane, views=True, indent=8, strided=False)
    if entry.arity == 2:
        for scalar in (0, 1):
            strides = ("asi", "bsi") if scalar == 1 else ("bsi", "asi")
            lines += [f"    elif {strides[0]} == 1 and {strides[1]} == 0:"] + \
                _loops(name, lane, out_lane, views=True, indent=8, strided=False, scalar=scalar)
    return lines + ["    else:"] + _loops(name, lane, out_lane, views=False, indent=8)


def _loops(name: str, lane: int, out_lane: int, views: bool, indent: int,
           strided: bool = True, scalar: int | None = None) -> list[str]:
    """The `no` x `ni` loop of one elementwise row, computing in `lane`'s type; with `views`,
    contiguous operands are read through slices, which LLVM can tell apart and vectorise
    (calls of the vector math run three to four times faster on long vectors); `strided` False
    when the caller has checked that every operand is contiguous, or that operand `scalar` is one
    element read for all (stride 0) and the others are contiguous."""
    entry = TABLE[name]
    arity = entry.arity
    bases = ["ab", "bb", "cb"][:arity]
    strides = ["asi", "bsi", "csi"][:arity]
    arrays = _operand_arrays(name, lane)
    dst = LANE_ARENA[out_lane]
    conv = f"np.{LANE_DTYPE[out_lane].name}"
    template = _CALL_RE.sub(lambda m: f"{m.group(1)}_{_LANE_SUFFIX[lane]}(", entry.kernel)

    def expression(indexed) -> str:
        return f"{conv}({template.format(*_operand_readers(name, [indexed(k) for k in range(arity)]))})"
    pad = " " * indent
    lines = [f"{pad}for o in range(no):",
             f"{pad}    ob = out + o * ni"]
    lines += [f"{pad}    {base} = {'abc'[k]} + o * {'abc'[k]}so" for k, base in enumerate(bases)]
    if views:
        at = f"{pad}    " if not strided else f"{pad}        "
        if strided:
            lines.append(f"{pad}    if {' and '.join(f'{st} == 1' for st in strides)}:")
        lines += [f"{at}y = {dst}[ob:ob + ni]"]
        lines += [f"{at}x{k} = {arr}[{bases[k]}]" if k == scalar else f"{at}x{k} = {arr}[{bases[k]}:{bases[k]} + ni]"
                  for k, arr in enumerate(arrays)]
        lines += [f"{at}for i in range(ni):",
                  f"{at}    y[i] = {expression(lambda k: f'x{k}' if k == scalar else f'x{k}[i]')}"]
        if not strided:
            return lines
        lines.append(f"{at}continue")
    lines += [f"{pad}    for i in range(ni):",
              f"{pad}        {dst}[ob + i] = {expression(lambda k: f'{arrays[k]}[{bases[k]} + i * {strides[k]}]')}"]
    return lines


def _matmul_by_layout(opening: str) -> list[str]:
    """The call of the product of x and y into z for the operands' layouts (`opening`: indent and if/elif)."""
    pad = opening[:len(opening) - len(opening.lstrip())]
    return [f"{opening} ta == 0 and tb == 0:", f"{pad}    matmul_nn(x, y, z, m, k, n)",
            f"{pad}elif ta == 1 and tb == 0:", f"{pad}    matmul_tn(x, y, z, m, k, n)",
            f"{pad}elif ta == 0:", f"{pad}    matmul_nt(x, y, z, m, k, n)",
            f"{pad}else:", f"{pad}    matmul_tt(x, y, z, m, k, n)"]


_HANDLER_ARGS = "F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi"


def _handler_name(name: str, lane: int) -> str:
    return f"run_{name}_{LANE_LETTER[lane]}"


def _handler_functions() -> list[str]:
    """One numba function per elementwise opcode, returning the row's normalisation still to do.

    Separate functions, not branches of the machine's loop: numba's compile time grows faster
    than a function's length (one function of every handler took 114 s to build, and its size
    doubled with the vectorised variants).
    """
    lines = []
    for name, lane in ELEMENTWISE:
        lines += [_MACHINE_FUNCTION, f"def {_handler_name(name, lane)}({_HANDLER_ARGS}):"]
        lines += _handler(name, lane)
        lines += ["    return norm", "", ""]
    return lines


def _cast_lines(name: str, opening: str) -> list[str]:
    """The branch of `convert` for conversion `name` (``cast_`` source lane letter, target letter)."""
    src, dst = LANE_ARENA[_LANE_OF_LETTER[name[-2]]], name[-1]
    value = f"{src}[a + o * aso + i * asi]"
    if dst == "b":
        store, expression = "I", f"np.int64({value} != 0.0)"
    elif dst == "i" and src != "I":
        # NaN and values beyond int64 give int64's minimum, as numpy's conversion does on x86.
        store, expression = "I", "np.int64(v) if v == v and abs(v) < 9.2e18 else np.int64(-9223372036854775807 - 1)"
    else:
        store = LANE_ARENA[_LANE_OF_LETTER[dst]]
        expression = f"np.{LANE_DTYPE[_LANE_OF_LETTER[dst]].name}({value})"
    lines = [f"    {opening} op == {OPCODE[name]}:  # {name}",
             "        for o in range(no):",
             "            for i in range(ni):"]
    if "(v)" in expression:
        lines.append(f"                v = {value}")
    return lines + [f"                {store}[out + o * ni + i] = {expression}"]


_CONVERT_ARGS = "F, I, S, out, no, ni, a, aso, asi"


_PRODUCT_ARGS = "out, no, ni, a, aso, asi, b, bso, bsi, c, cso"


def _product_function(lane: int) -> list[str]:
    """The machine function for a matrix product in float `lane`: `no` batches of (m x k) @ (k x n),
    operands contiguous or transposed-contiguous, in BLAS of the lane's dtype on slices of its arena.

    Compiled with reference counting: numba's BLAS call needs it, and numba compiles the runtime
    functions a machine function calls with that function's settings.  One call per product.
    """
    arr = LANE_ARENA[lane]
    return ["@njit(cache=True, nogil=True, error_model='numpy')",
            f"def {_product_function_name(lane)}({arr}, {_PRODUCT_ARGS}):",
            "    m, k, n = ni, aso, asi",
            "    ta, tb = bsi, c",
            "    for o in range(no):",
            f"        x = {arr}[a + o * bso:a + o * bso + m * k]",
            f"        y = {arr}[b + o * cso:b + o * cso + k * n]",
            f"        z = {arr}[out + o * m * n:out + (o + 1) * m * n]",
            "        if m * n == 0:",
            "            continue",
            "        if k == 0:",
            "            z[:] = 0.0",
            *_matmul_by_layout("        elif"),
            "", ""]


def _product_function_name(lane: int) -> str:
    return f"product_{LANE_LETTER[lane]}"


def _convert_function() -> list[str]:
    """The machine function converting between lanes (the loop's normalisation then wraps to narrower integers)."""
    lines = [_MACHINE_FUNCTION, f"def convert(op, {_CONVERT_ARGS}):"]
    for k, name in enumerate(_CASTS):
        lines += _cast_lines(name, "if" if k == 0 else "elif")
    return lines + ["", ""]


#: Outputs a column sum accumulates at once (its scratch, `acc`, holds twice as many float64s).
SUM_CHUNK = 512

#: The decorator of every machine function but the loop and the products.  Without numba's reference counting
#: (``_nrt=False``): these functions allocate nothing, and the loop keeps its arrays alive, so the
#: atomic increments and decrements of every array argument on entry and exit (a structural
#: instruction paid 45 ns for them) are pure cost.
_MACHINE_FUNCTION = "@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)"


def _structural_args(lane: int) -> str:
    """The arguments of `lane`'s structural function: its arena (and the integer one, where argmax
    writes), the scratch arrays, then the row's fields."""
    arenas = dict.fromkeys([LANE_ARENA[lane], "I"])
    scratch = ["aux", "ctr"] + (["acc"] if lane != I_LANE else [])
    return ", ".join([*arenas, *scratch, "out", "count", "no", "ni", "a", "aso", "asi", "b", "bso", "bsi",
                      "c", "cso", "csi"])


def _lane_function_name(lane: int) -> str:
    return f"structural_{LANE_LETTER[lane]}"


def _lane_function(lane: int) -> list[str]:
    """The machine function running `lane`'s structural instructions (reductions, copies, gathers,
    scatters, guards): 0, or a failed guard's status.

    A function of its own, not branches of the machine's loop: numba compiles the loop in one
    process, after the handlers (compiled in parallel), and these branches were half its build.
    """
    arr, letter = LANE_ARENA[lane], LANE_LETTER[lane]
    op = OPCODE
    lines = [_MACHINE_FUNCTION, f"def {_lane_function_name(lane)}(op, {_structural_args(lane)}):"]
    if lane == I_LANE:
        lines += [
            f"    if op == {op['sum_i']}:",
            "        for o in range(no):",
            "            total = np.int64(0)",
            "            base = a + o * aso",
            "            for i in range(ni):",
            "                total += I[base + i * asi]",
            "            I[out + o] = total",
        ]
    else:
        # Reductions: `no` outputs, each over `ni` elements; float32 sums accumulate in float64.
        # When the reduced axis is the outer one in memory (a column sum), the outputs
        # accumulate SUM_CHUNK at a time in memory order (totals and compensations in `acc`),
        # each in the same order of its terms as below.
        lines += [
            f"    if op == {op['sum_' + letter]}:",
            "        if no > 1 and abs(asi) > abs(aso):",
            f"            for first in range(0, no, {SUM_CHUNK}):",
            f"                n = min({SUM_CHUNK}, no - first)",
            "                acc[:2 * n] = 0.0",
            "                for i in range(ni):",
            "                    base = a + i * asi + first * aso",
            "                    for o in range(n):",
            f"                        acc[o], acc[n + o] = add_compensated(acc[o], acc[n + o], "
            f"np.float64({arr}[base + o * aso]))",
            "                for o in range(n):",
            f"                    {arr}[out + first + o] = compensated_result(acc[o], acc[n + o])",
            "            return 0",
            "        for o in range(no):",
            "            total = 0.0",
            "            comp = 0.0",
            "            base = a + o * aso",
            "            for i in range(ni):",
            f"                total, comp = add_compensated(total, comp, np.float64({arr}[base + i * asi]))",
            f"            {arr}[out + o] = compensated_result(total, comp)",
        ]
    nan = " or v != v" if lane != I_LANE else ""
    for kind, cmp in (("max", ">"), ("min", "<")):
        lines += [
            f"    elif op == {op[kind + '_' + letter]}:",
            "        for o in range(no):",
            "            base = a + o * aso",
            f"            best = {arr}[base]",
            "            for i in range(1, ni):",
            f"                v = {arr}[base + i * asi]",
            f"                if v {cmp} best{nan}:",
            "                    best = v",
            f"            {arr}[out + o] = best",
        ]
    lines += [
        f"    elif op == {op['argmax_' + letter]}:",
        "        for o in range(no):",
        "            base = a + o * aso",
        f"            best = {arr}[base]",
        "            at = 0",
        "            for i in range(1, ni):",
        f"                v = {arr}[base + i * asi]",
        "                if best == best and (v > best or v != v):" if lane != I_LANE else
        "                if v > best:",
        "                    best = v",
        "                    at = i",
        "            I[out + o] = at",
    ]
    lines += [
        # A strided copy of any rank: aux[a:] holds shape, source strides, destination strides.
        f"    elif op == {op['copy_' + letter]}:",
        "        nd = no",
        "        total = 1",
        "        for d in range(nd):",
        "            total *= aux[a + d]",
        "        if total == 0:",
        "            return 0",
        "        inner = aux[a + nd - 1]",
        "        s_in = aux[a + 2 * nd - 1]",
        "        d_in = aux[a + 3 * nd - 1]",
        "        for d in range(nd):",
        "            ctr[d] = 0",
        "        src = ni",
        "        dst = out",
        "        for _ in range(total // inner):",
        "            for i in range(inner):",
        f"                {arr}[dst + i * d_in] = {arr}[src + i * s_in]",
        "            d = nd - 2",
        "            while d >= 0:",
        "                ctr[d] += 1",
        "                src += aux[a + nd + d]",
        "                dst += aux[a + 2 * nd + d]",
        "                if ctr[d] < aux[a + d]:",
        "                    break",
        "                src -= aux[a + nd + d] * aux[a + d]",
        "                dst -= aux[a + 2 * nd + d] * aux[a + d]",
        "                ctr[d] = 0",
        "                d -= 1",
        # out[i] = src[base + table[i]]
        f"    elif op == {op['gather_' + letter]}:",
        "        for i in range(count):",
        f"            {arr}[out + i] = {arr}[ni + aux[a + i]]",
        # out = zeros; out[table[i]] += g[i]
        f"    elif op == {op['scatter_add_' + letter]}:",
        "        for i in range(count):",
        f"            {arr}[out + i] = 0",
        "        for i in range(no):",
        f"            {arr}[out + aux[a + i]] += {arr}[ni + i * asi]",
        # A guard: `count` values at `a` must equal those at `b`; `no` is its ordinal, `ni` 1 for truth values.
        f"    elif op == {op['guard_' + letter]}:",
        "        for i in range(count):",
        f"            v = {arr}[a + i]",
        "            if ni == 1:",
        f"                v = np.{LANE_DTYPE[lane].name}(v != 0)",
        f"            if v != {arr}[b + i]:",
        "                return no + 1",
    ]
    return lines + ["    return 0", "", ""]


def machine_source() -> str:
    """The executor's numba module, generated from the op table (kept in the package as ``_machine.py``)."""
    runtime = set()
    for name, lane in ELEMENTWISE:
        runtime.update(f"{m}_{_LANE_SUFFIX[lane]}" for m in _CALL_RE.findall(TABLE[name].kernel))
    runtime.update(["add_compensated", "compensated_result", "matmul_nn", "matmul_tn", "matmul_nt", "matmul_tt"])
    op = OPCODE
    lines = [
        '"""The tracegrad executor\'s machine: generated from the op table by compiler/executor.py.',
        "",
        "Do not edit: ``python -m tracegrad.compiler.executor`` writes it again, and a test checks that",
        "it matches the op table.  numba caches its machine code beside it, like the runtime's.",
        '"""',
        "import numpy as np",
        "from numba import njit",
        f"from tracegrad.compiler.runtime import {', '.join(sorted(runtime))}",
        "",
        "",
        _MACHINE_FUNCTION,
        "def normalize(I, norm, out, n):",
        "    if norm == 1:",
        "        for i in range(n):",
        "            I[out + i] = np.int64(I[out + i] != 0)",
        "    else:",
        "        bits = 8 if norm == 2 or norm == 5 else (16 if norm == 3 else 32)",
        "        span = np.int64(1) << bits",
        "        half = span >> 1",
        "        for i in range(n):",
        "            v = I[out + i] & (span - 1)",
        "            I[out + i] = v - span if (norm != 5 and v >= half) else v",
        "",
        "",
    ] + _handler_functions() + [line for lane in range(len(LANE_ARENA)) for line in _lane_function(lane)] + \
        _product_function(F_LANE) + _product_function(S_LANE) + _convert_function() + [
        "@njit(cache=True, nogil=True, error_model='numpy')",
        "def vm(code, aux, F, I, S, start, stop):",
        "    \"\"\"Run instruction rows start..stop-1; 0, or the status of the first failure.\"\"\"",
        "    ctr = np.zeros(64, np.int64)",
        f"    acc = np.empty({2 * SUM_CHUNK})",
        # Rows group_first..group_end-1 of a `block` row run block by block (see _Builder.block_rows).
        "    group_first = 0",
        "    group_end = -1",
        "    group_n = 0",
        "    block = 1",
        "    lo = 0",
        "    m = 0",
        "    pc = start - 1",
        "    while True:",
        "        pc += 1",
        "        if pc == group_end:",
        "            lo += block",
        "            if lo < group_n:",
        "                m = min(block, group_n - lo)",
        "                pc = group_first",
        "            else:",
        "                group_end = -1",
        "        if pc >= stop:",
        "            break",
        "        op = code[pc, 0]",
        "        norm = code[pc, 1]",
        "        out = code[pc, 2]",
        "        count = code[pc, 3]",
        "        no = code[pc, 4]",
        "        ni = code[pc, 5]",
        "        a = code[pc, 6]",
        "        aso = code[pc, 7]",
        "        asi = code[pc, 8]",
        "        b = code[pc, 9]",
        "        bso = code[pc, 10]",
        "        bsi = code[pc, 11]",
        "        c = code[pc, 12]",
        "        cso = code[pc, 13]",
        "        csi = code[pc, 14]",
        "        if pc < group_end:  # elements lo..lo+m-1 of a one-level elementwise row",
        "            ni = m",
        "            count = m",
        "            out += lo",
        "            a += lo * asi",
        "            b += lo * bsi",
        "            c += lo * csi",
        "        if op == 0:",
        "            pass",
        f"        elif op == {OPCODE['block']}:",
        "            group_first = pc + 1",
        "            group_end = pc + 1 + count",
        "            group_n = ni",
        "            block = a",
        "            lo = 0",
        "            m = min(block, group_n)",
    ]
    lines += [f"        elif op == {OPCODE[key]}:  # {key[0]} ({LANE_DTYPE[key[1]].name})\n"
              f"            norm = {_handler_name(*key)}({_HANDLER_ARGS})" for key in ELEMENTWISE]
    # Structural opcodes come lane by lane after the elementwise ones, then the conversions.
    for lane, names in enumerate(_LANE_STRUCTURAL):
        lines += [f"        elif op <= {OPCODE[names[-1]]}:  # {LANE_DTYPE[lane].name} structural",
                  f"            status = {_lane_function_name(lane)}(op, {_structural_args(lane)})",
                  "            if status != 0:",
                  "                return status"]
    for lane in (F_LANE, S_LANE):
        lines += [f"        elif op == {OPCODE['matmul_' + LANE_LETTER[lane]]}:",
                  f"            {_product_function_name(lane)}({LANE_ARENA[lane]}, {_PRODUCT_ARGS})"]
    lines += [
        f"        elif op <= {OPCODE[_CASTS[-1]]}:",
        f"            convert(op, {_CONVERT_ARGS})",
        f"        elif op == {op['fail']}:",
        "            return count",
        "        if norm != 0:",
        "            normalize(I, norm, out, count)",
        "    return 0",
        "",
    ]
    return "\n".join(lines)


_machine = None
_machine_lock = threading.Lock()


def machine():
    """The compiled machine (loaded from the disk cache, or compiled once with a progress line)."""
    global _machine
    if _machine is None:
        with _machine_lock:
            if _machine is None:
                # The machine is compiled (or loaded from numba's cache) when first run, not on import.
                from tracegrad.compiler import _machine as module
                fn = module.vm
                start = time.perf_counter()
                notice = threading.Timer(2.0, lambda: sys.stderr.write(
                    "tracegrad: building the executor (once per machine and version; `tracegrad warmup` "
                    "does it ahead)...\n"))
                notice.daemon = True
                notice.start()
                try:
                    if _cache_is_cold(fn):
                        _compile_handlers_in_parallel()
                    fn(np.zeros((1, WIDTH), np.int64), np.zeros(1, np.int64), *_empty_arenas(), 0, 0)
                finally:
                    notice.cancel()
                elapsed = time.perf_counter() - start
                if elapsed > 2.0:
                    sys.stderr.write(f"tracegrad: executor ready in {elapsed:.1f} s\n")
                log.info("executor machine ready in %.1f ms", elapsed * 1e3)
                _machine = fn
    return _machine


def _empty_arenas() -> tuple[np.ndarray, ...]:
    """One-element arenas of every lane: the argument types the machine's functions are compiled for."""
    return tuple(np.zeros(1, dtype) for dtype in LANE_DTYPE)


def _cache_is_cold(dispatcher) -> bool:
    """Whether numba's disk cache holds nothing usable for `dispatcher`: a first build on this machine, or
    the first after an upgrade changed the machine's source (numba then drops the stale entries)."""
    try:
        return not dispatcher._cache._cache_file._load_index()
    except (AttributeError, TypeError):  # another numba's layout: build the ordinary way
        return False


def _handler_names() -> list[str]:
    """The machine's functions other than its loop, costliest to compile first (float handlers of ops that
    call the vector math, then other float handlers, then the integer ones), for an even split."""
    def cost(key):
        name, lane = key
        return (lane == I_LANE, not _CALL_RE.search(TABLE[name].kernel))
    structural = [_lane_function_name(lane) for lane in (F_LANE, S_LANE, I_LANE)] + \
        [_product_function_name(lane) for lane in (F_LANE, S_LANE)] + ["convert"]
    return structural + [_handler_name(*key) for key in sorted(ELEMENTWISE, key=cost)] + ["normalize"]


def compile_handlers(names: list[str]) -> None:
    """Compile the machine's functions `names` (and the runtime functions they call) into numba's disk cache.

    Each is called once on empty ranges, with the argument types the machine's loop passes.
    """
    from tracegrad.compiler import _machine as module  # compiled when first run, not on import
    arenas = _empty_arenas()
    for name in names:
        fn = getattr(module, name)
        if name == "normalize":
            fn(arenas[I_LANE], 0, 0, 0)
        elif name == "convert":
            fn(0, *arenas, *([0] * 6))
        elif name.startswith("product_"):
            fn(arenas[_LANE_OF_LETTER[name[-1]]], *([0] * 11))
        elif name.startswith("structural_"):
            lane = _LANE_OF_LETTER[name[-1]]
            by_name = {"F": arenas[F_LANE], "I": arenas[I_LANE], "S": arenas[S_LANE], "aux": arenas[I_LANE],
                       "ctr": arenas[I_LANE], "acc": arenas[F_LANE]}
            fn(0, *[by_name.get(arg, 0) for arg in _structural_args(lane).split(", ")])
        else:
            fn(*arenas, *([0] * 13))


def _compile_handlers_in_parallel() -> None:
    """A first build: the machine's handler functions compiled on every core, before the loop that calls them.

    numba compiles on one core; the handlers are independent functions, each cached in a file of
    its own, so other processes compile shares of them into the same disk cache and the loop
    then loads them.  On 2 cores the first build took 80 s in one process.  Processes are
    started with their own interpreter (not forked from, nor importing, the caller's program).
    """
    import subprocess
    processes = min(os.cpu_count() or 1, 4)
    if processes < 2:
        return
    names = _handler_names()
    shares = [names[k::processes] for k in range(processes)]
    code = "import sys; from tracegrad.compiler.executor import compile_handlers; compile_handlers(sys.argv[1:])"
    started = []
    for share in shares[1:]:
        try:
            started.append(subprocess.Popen([sys.executable, "-c", code, *share], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        except OSError as err:  # no process to spare: this one compiles everything, as before
            log.info("executor build in one process: %s", err)
            break
    compile_handlers(shares[0])
    for proc in started:
        proc.wait()  # a share that failed is compiled by the loop's build, in this process


MACHINE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_machine.py")


def machine_is_current() -> bool:
    """Whether the machine module in the package is what the op table generates today."""
    try:
        with open(MACHINE_PATH) as fh:
            return fh.read() == machine_source()
    except OSError:
        return False


# --------------------------------------------------------------------------
# Building a program
# --------------------------------------------------------------------------

@dataclass(slots=True)
class View:
    """Where a value's elements are: lane, offset of element 0, shape and strides (in elements)."""

    lane: int
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    base: int  # id of the allocation this view reads (for liveness)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def contiguous(self) -> bool:
        expected = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != expected:
                return False
            expected *= n
        return True


def _contiguous_strides(shape) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def _collapse(shape, stride_sets) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent axes that every operand steps through as one; drop unit axes."""
    dims: list[int] = []
    strides: list[list[int]] = [[] for _ in stride_sets]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if dims and all(st[-1] == s[d] * n for st, s in zip(strides, stride_sets)):
            dims[-1] *= n
            for st, s in zip(strides, stride_sets):
                st[-1] = s[d]
            continue
        dims.append(n)
        for st, s in zip(strides, stride_sets):
            st.append(s[d])
    return dims, strides


def _probe(view: View) -> np.ndarray:
    """An array with `view`'s shape and strides over a one-element buffer (never read): numpy does the index math."""
    return np.lib.stride_tricks.as_strided(_PROBE_BASE, view.shape, tuple(8 * s for s in view.strides))


_PROBE_BASE = np.zeros(1)
_PROBE_ADDRESS = _PROBE_BASE.__array_interface__["data"][0]


def _view_of_probe(view: View, probe: np.ndarray) -> View:
    delta = (probe.__array_interface__["data"][0] - _PROBE_ADDRESS) // 8
    return View(view.lane, view.offset + delta, probe.shape, tuple(s // 8 for s in probe.strides), view.base)


def _offsets(view: View) -> np.ndarray:
    """Every element's arena offset, in `view`'s shape."""
    grid = np.full(view.shape, view.offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * len(view.shape)
        shape[d] = n
        grid += (np.arange(n, dtype=np.int64) * s).reshape(shape)
    return grid


@dataclass
class Program:
    """A graph as instruction rows, arena layouts and the steps that run them."""

    graph: Graph
    code: np.ndarray
    aux: np.ndarray
    templates: tuple[np.ndarray, ...]                       # each lane's arena before a call (constants set)
    inputs: list[tuple[int, int, int]]                      # lane, offset, size
    outputs: list[tuple[int, int, int, tuple, np.dtype]]    # lane, offset, size, shape, dtype
    steps: list                                             # (start, stop) ranges and host callables
    guards: list[Node]
    fail_nodes: list[Node]
    _pool: list = field(default_factory=list)

    def as_text(self) -> str:
        """The program, one instruction per line (opcode names, then the fields that matter)."""
        arenas = " ".join(f"{LANE_DTYPE[lane].name.replace('float', 'f').replace('int', 'i')}[{len(t)}]"
                          for lane, t in enumerate(self.templates))
        out = [f"# executor program for {self.graph.name}: {len(self.code)} instructions, arenas {arenas}"]
        host = 0
        for step in self.steps:
            if isinstance(step, tuple):
                for pc in range(*step):
                    row = self.code[pc]
                    fields = " ".join(str(int(x)) for x in row[1:15])
                    out.append(f"{pc:5d}  {opcode_name(row[0]):<16} {fields}")
            else:
                out.append(f"       host step {host}: {step.__doc__}")
                host += 1
        return "\n".join(out)


class _Builder(Interpreter):
    """Turns one graph into a :class:`Program`: a walk of the graph whose values are :class:`View` s
    (where each value lives in the arenas) and whose nodes append instruction rows."""

    def __init__(self, graph: Graph):
        super().__init__(graph)
        self.rows: list[list[int]] = []
        self.aux: list[int] = []
        self.top = [0, 0, 0]                    # bump pointer per lane
        self.free: list[dict[int, list[int]]] = [{}, {}, {}]
        self.consts: list[tuple[int, int, np.ndarray]] = []
        self.view: dict[int, View] = self.env   # value id -> where it lives
        self.readers_left: dict[int, int] = {}  # allocation id -> reads still to come
        self.alloc: dict[int, tuple[int, int, int]] = {}  # allocation id -> lane, offset, size
        self.pinned: set[int] = set()           # allocations never reused (constants, outputs)
        self.next_alloc = 0
        self.steps: list = []
        self.step_start = 0
        self.guards: list[Node] = []
        self.fail_nodes: list[Node] = []
        self.scratch: list[int] = []
        self.const_views: dict[tuple, View] = {}
        #: (op, operand dtype, result dtype) -> opcode, norm, result lane and operand lanes of a 0-d row
        self.scalar_heads: dict[tuple, tuple[int, int, int, tuple]] = {}

    # ------------------------------------------------------------ slots
    def allocate(self, lane: int, size: int, pinned: bool = False) -> tuple[int, int]:
        size = max(size, 1)
        bucket = self.free[lane].get(size)
        if bucket and not pinned:
            offset = bucket.pop()
        else:
            offset = self.top[lane]
            self.top[lane] += size
        aid = self.next_alloc
        self.next_alloc += 1
        self.alloc[aid] = (lane, offset, size)
        if pinned:
            self.pinned.add(aid)
        return aid, offset

    def release(self, aid: int) -> None:
        if aid in self.pinned or aid not in self.alloc:
            return
        lane, offset, size = self.alloc.pop(aid)
        self.free[lane].setdefault(size, []).append(offset)

    def fresh(self, dtype: np.dtype, shape, pinned: bool = False) -> View:
        lane = _lane_of(dtype)
        aid, offset = self.allocate(lane, math.prod(shape), pinned)
        return View(lane, offset, tuple(shape), _contiguous_strides(shape), aid)

    def read(self, v: Value) -> View:
        view = self.view.get(v.id)
        if view is not None:
            return view
        if v.const is not None:
            data = np.asarray(v.const)
            if data.dtype != v.dtype:  # stored in the lane of the value's type
                data = data.astype(v.dtype)
            if data.dtype.kind not in "fiub" or data.dtype == np.float16:
                raise Unsupported(f"dtype {data.dtype} (constant, shape {list(data.shape)}) has no executor lane")
            # Equal small constants share a slot (a traced loop makes a new Value of 0.01 per step).
            key = (data.dtype.str, data.shape, data.tobytes()) if data.size <= SMALL_CONST else None
            view = self.const_views.get(key) if key is not None else None
            if view is None:
                view = self.fresh(data.dtype, data.shape, pinned=True)
                self.consts.append((view.lane, view.offset, data))
                if key is not None:
                    self.const_views[key] = view
            self.view[v.id] = view
            return view
        raise Unsupported(f"value #{v.id} is read before it is computed")

    def temp(self, dtype_lane: int, shape) -> View:
        aid, offset = self.allocate(dtype_lane, math.prod(shape))
        return View(dtype_lane, offset, tuple(shape), _contiguous_strides(shape), aid)

    # ------------------------------------------------------------ rows
    def emit(self, opcode: int, norm: int = 0, out: int = 0, count: int = 0, fields=()) -> None:
        row = [opcode, norm, out, count] + list(fields)
        row += [0] * (WIDTH - len(row))
        self.rows.append(row)

    def host(self, fn) -> None:
        if len(self.rows) > self.step_start:
            self.steps.append((self.step_start, len(self.rows)))
        self.steps.append(fn)
        self.step_start = len(self.rows)

    def copy(self, src: View, dst: View, norm: int = 0) -> None:
        """dst[...] = src[...] elementwise within one lane (any rank, any strides)."""
        shape = src.shape if src.shape else (1,)
        dims, (ss, ds) = _collapse(shape, [src.strides or (1,), dst.strides or (1,)])
        if not dims:
            dims, ss, ds = [1], [0], [0]
        at = len(self.aux)
        self.aux += list(dims) + list(ss) + list(ds)
        op = OPCODE["copy_" + LANE_LETTER[src.lane]]
        self.emit(op, norm, dst.offset, dst.size if norm else 0, [len(dims), src.offset, at])

    def contiguous(self, view: View, lasting: bool = False) -> View:
        """`view`, or a contiguous copy of it: scratch that lives until the current node is emitted,
        or, `lasting`, an allocation that lives as long as the value bound to it."""
        if view.contiguous():
            return view
        out = self.temp(view.lane, view.shape)
        self.copy(view, out)
        if not lasting:
            self.scratch.append(out.base)
        return out

    def release_scratch(self) -> None:
        for aid in self.scratch:
            self.release(aid)
        self.scratch.clear()

    def two_level(self, shape, operands: list[View]) -> tuple[int, int, list[tuple[int, int, int]]]:
        """(outer, inner, per operand (offset, outer stride, inner stride)), copying operands that do not fit."""
        if not shape:  # scalars: most nodes of scalar code
            return 1, 1, [(o.offset, 0, 1) for o in operands]
        out_strides = _contiguous_strides(shape)
        dims, strides = _collapse(shape, [out_strides] + [o.strides for o in operands])
        if len(dims) > 2:
            operands = [self.contiguous(o) for o in operands]
            dims, strides = _collapse(shape, [out_strides] + [o.strides for o in operands])
        if not dims:
            dims = [1]
            strides = [[1] for _ in strides]
        if len(dims) == 1:
            dims = [1] + dims
            strides = [[0] + s for s in strides]
        fields = [(o.offset, s[0], s[1]) for o, s in zip(operands, strides[1:])]
        return dims[0], dims[1], fields

    # ------------------------------------------------------------ nodes
    def build(self) -> Program:
        g = self.graph
        for v in g.inputs:
            if v.dtype.kind not in "fiub" or v.dtype == np.float16:
                raise Unsupported(f"dtype {v.dtype} (input, shape {list(v.shape)}) has no executor lane")
        uses: dict[int, int] = {}
        for node in g.nodes:
            for v in node.inputs:
                uses[v.id] = uses.get(v.id, 0) + 1
        for v in g.outputs:
            uses[v.id] = uses.get(v.id, 0) + 1
        self.uses = uses
        inputs = []
        for v in g.inputs:
            view = self.fresh(v.dtype, v.shape)
            self.bind(v, view)
            inputs.append((view.lane, view.offset, view.size))
        self.output_ids = {v.id for v in g.outputs}
        self.run([self.view[v.id] for v in g.inputs])
        outputs = []
        for v in g.outputs:
            view = self.read(v)
            if not view.contiguous():
                out = self.fresh(v.dtype, v.shape, pinned=True)
                self.copy(view, out)
                view = out
            outputs.append((view.lane, view.offset, view.size, v.shape, v.dtype))
        if len(self.rows) > self.step_start or not self.steps:
            self.steps.append((self.step_start, len(self.rows)))
        self.rows, self.steps = block_rows(self.rows, self.steps)
        templates = tuple(np.zeros(max(top, 1), dtype) for top, dtype in zip(self.top, LANE_DTYPE))
        for lane, offset, data in self.consts:
            flat = data.reshape(-1)
            templates[lane][offset:offset + flat.size] = flat
        code = np.array(self.rows, dtype=np.int64).reshape(-1, WIDTH)
        aux = np.array(self.aux or [0], dtype=np.int64)
        return Program(g, code, aux, templates, inputs, outputs, self.steps, self.guards, self.fail_nodes)

    def operand_reader(self):
        # Each lowering reads the operands it needs (self.read): reading every one first, as an
        # interpreter does, would give constants slots that a lowering folds or never reads.
        return lambda values: values

    def run_guard(self, node: Node, value) -> None:
        self.guard(node)
        self.retire(node.inputs)

    def run_node(self, node: Node, ins: list) -> Value:
        self.node(node, node.outputs[0].id in self.output_ids)
        self.retire(node.inputs)
        # The lowering bound the output itself (bind(), with its reader count): the Value standing for
        # itself tells the walker there is nothing left to bind.
        return node.outputs[0]

    def retire(self, values) -> None:
        """Count down reads of each allocation; one no longer read is free for later values."""
        uses, views, readers_left = self.uses, self.view, self.readers_left
        for v in values:
            vid = v.id
            left = uses.get(vid, 0) - 1
            uses[vid] = left
            if left == 0:
                view = views.get(vid)
                if view is not None:
                    holders = readers_left.get(view.base, 0) - 1
                    readers_left[view.base] = holders
                    if holders <= 0:
                        self.release(view.base)

    def bind(self, v: Value, view: View) -> None:
        """`v` lives at `view`; its allocation stays until every value viewing it has been read."""
        self.view[v.id] = view
        if self.uses.get(v.id, 0) > 0:
            self.readers_left[view.base] = self.readers_left.get(view.base, 0) + 1
        elif view.base not in self.pinned:
            # Computed but never read (a dead value the optimiser kept): free it at once.
            if self.readers_left.get(view.base, 0) <= 0:
                self.release(view.base)

    def result(self, v: Value, pinned: bool) -> View:
        return self.fresh(v.dtype, v.shape, pinned)

    def node(self, node: Node, is_output: bool) -> None:
        op = node.op
        out_v = node.outputs[0]
        out_type = out_v.type
        if out_type.dtype.kind not in "fiub" or out_type.dtype == _F16:
            raise Unsupported(f"dtype {out_v.dtype} ({op}, shape {list(out_v.shape)}) has no executor lane")
        entry = TABLE[op]
        if not out_type.shape and entry.kind == "elementwise" and self.scalar_elementwise(node, is_output):
            return
        same_dtype_cast = op == "cast" and node.inputs[0].dtype == out_v.dtype
        if op in ("detach", "broadcast", "reshape", "transpose") or same_dtype_cast:
            self.bind(out_v, self.view_op(node))
            return
        if op == "index" and len(node.inputs) == 1:
            view = self.basic_index(node)
            if view is not None:
                self.bind(out_v, view)
                return
        ins = [self.read(v) for v in node.inputs]
        if op == "cast":
            out = self.result(out_v, is_output)
            self.cast(ins[0], node.inputs[0].dtype, out, out_v.dtype)
        elif entry.kind == "elementwise" and _numpy_step(entry):
            out = self.result(out_v, is_output)
            self.host_op(node, ins, out)
        elif entry.kind == "elementwise":
            out = self.result(out_v, is_output)
            self.elementwise(node, ins, out)
        elif op in ("sum", "max", "min", "argmax"):
            out = self.result(out_v, is_output)
            self.reduction(node, ins[0], out)
        elif op == "matmul":
            out = self.result(out_v, is_output)
            self.matmul(node, ins, out)
        elif op == "concat":
            out = self.result(out_v, is_output)
            axis = node.attrs["axis"] % len(out_v.shape)
            start = 0
            for x, v in zip(ins, node.inputs):
                part = View(out.lane, out.offset + start * out.strides[axis], v.shape, out.strides, out.base)
                self.copy(self.cast_lane(x, v.dtype, out_v.dtype), part)
                start += v.shape[axis]
        elif op in ("index", "index_add") and all(v.const is not None for v in node.inputs[1:]):
            out = self.result(out_v, is_output)
            self.table_index(node, ins[0], out)
        elif op in ("index", "index_add") or entry.kind in ("order", "linalg"):
            # Index arrays known only at run time, sorting and LAPACK: numpy on views of the arenas.
            out = self.result(out_v, is_output)
            self.host_op(node, ins, out)
        else:
            raise Unsupported(f"op {op!r} on the executor")
        self.release_scratch()
        self.bind(out_v, out)

    def scalar_elementwise(self, node: Node, is_output: bool) -> bool:
        """Emit an elementwise op on 0-d operands in one step (most nodes of scalar code); False if it is not one.

        The row is what :meth:`elementwise` writes for a 0-d result (one outer and one inner step,
        each operand at its offset with strides 0 and 1), without the general path's views and
        stride collapsing, which cost a large scalar graph a third of its build.
        """
        inputs = node.inputs
        out_dtype = node.outputs[0].type.dtype
        key = (node.op, inputs[-1].type.dtype if node.op == "where" else inputs[0].type.dtype, out_dtype)
        head = self.scalar_heads.get(key)
        if head is None:
            opcode = OPCODE.get((node.op, _lane_of(key[1])))
            if opcode is None:
                return False
            lanes = _LANES_OF[opcode][1]
            head = self.scalar_heads[key] = (opcode, NORM.get(out_dtype, 0), _lane_of(out_dtype), lanes)
        opcode, norm, out_lane, lanes = head
        views = self.view
        operands = []
        for v, lane in zip(inputs, lanes):
            view = views.get(v.id)
            if view is None:
                view = self.read(v)
            if view.lane != lane:
                return False  # operands of mixed dtypes: the general path names the problem
            operands += (view.offset, 0, 1)
        aid, offset = self.allocate(out_lane, 1, is_output)
        row = [opcode, norm, offset, 1, 1, 1] + operands
        row += _ZEROS[:WIDTH - len(row)]
        self.rows.append(row)
        self.bind(node.outputs[0], View(out_lane, offset, (), (), aid))
        return True

    def cast_lane(self, x: View, src: np.dtype, dst: np.dtype) -> View:
        """`x` moved to the lane of `dst` (the same view when no conversion is needed)."""
        if _lane_of(src) == _lane_of(dst) and NORM.get(dst, 0) == NORM.get(src, 0):
            return x
        out = self.temp(_lane_of(dst), x.shape)
        self.cast(x, src, out, dst)
        self.scratch.append(out.base)
        return out

    # ------------------------------------------------------------ op kinds
    def view_op(self, node: Node) -> View:
        x = self.read(node.inputs[0])
        op = node.op
        if op in ("detach", "cast"):
            return x
        if op == "transpose":
            perm = node.attrs["perm"]
            return View(x.lane, x.offset, tuple(x.shape[p] for p in perm), tuple(x.strides[p] for p in perm), x.base)
        if op == "broadcast":
            shape = tuple(node.attrs["shape"])
            lead = len(shape) - len(x.shape)
            strides = [0] * lead + [0 if (n == 1 and m != 1) else s
                                    for n, m, s in zip(x.shape, shape[lead:], x.strides)]
            return View(x.lane, x.offset, shape, tuple(strides), x.base)
        # reshape: a view when the strides allow it, else a contiguous copy first
        shape = tuple(node.outputs[0].shape)
        if not x.contiguous():
            try:
                probe = np.reshape(_probe(x), shape, copy=False)
            except (ValueError, TypeError):
                x = self.contiguous(x, lasting=True)
            else:
                return _view_of_probe(x, probe)
        return View(x.lane, x.offset, shape, _contiguous_strides(shape), x.base)

    def basic_index(self, node: Node) -> View | None:
        x = self.read(node.inputs[0])
        index = build_index(node.attrs["spec"], [])
        if Ellipsis not in index:
            index += (Ellipsis,)  # so that numpy gives a (0-d) view, never a scalar copy
        try:
            probe = _probe(x)[index]
        except IndexError:
            return None  # out of range: the fail path below reports it
        if not isinstance(probe, np.ndarray):
            return None
        return _view_of_probe(x, probe)

    def elementwise(self, node: Node, ins: list[View], out: View) -> None:
        lane = _lane_of(node.inputs[-1].dtype if node.op == "where" else node.inputs[0].dtype)
        opcode = OPCODE.get((node.op, lane))
        if opcode is None:
            raise Unsupported(f"elementwise {node.op} on {LANE_DTYPE[lane].name} operands")
        if any(x.lane != (I_LANE if node.op == "where" and k == 0 else lane) for k, x in enumerate(ins)):
            # The IR casts mixed operands first; reading one from the wrong arena would give garbage.
            raise Unsupported(f"elementwise {node.op} on operands of mixed dtypes "
                              f"{', '.join(v.dtype.name for v in node.inputs)}")
        no, ni, fields = self.two_level(out.shape, ins)
        flat = [x for f in fields for x in f]
        self.emit(opcode, NORM.get(node.outputs[0].dtype, 0), out.offset, out.size, [no, ni] + flat)

    def cast(self, x: View, src: np.dtype, out: View, dst: np.dtype) -> None:
        src_lane, dst_lane = _lane_of(src), _lane_of(dst)
        target = "b" if dst == BOOL and src_lane != I_LANE else LANE_LETTER[dst_lane]
        name = f"cast_{LANE_LETTER[src_lane]}{target}"
        if name not in OPCODE:
            raise Unsupported(f"cast from {src} to {dst} on the executor")
        no, ni, fields = self.two_level(out.shape, [x])
        self.emit(OPCODE[name], NORM.get(dst, 0), out.offset, out.size, [no, ni, *fields[0]])

    def reduction(self, node: Node, x: View, out: View) -> None:
        op = node.op
        if op == "argmax":
            axis = node.attrs.get("axis")
            axes = tuple(range(len(x.shape))) if axis is None or not x.shape else normalize_axes(axis, len(x.shape))
        else:
            axes = normalize_axes(node.attrs.get("axes"), len(x.shape))
        kept = [d for d in range(len(x.shape)) if d not in axes]
        order = kept + list(axes)
        moved = View(x.lane, x.offset, tuple(x.shape[d] for d in order), tuple(x.strides[d] for d in order), x.base)
        n_outer = math.prod(x.shape[d] for d in kept)
        n_inner = math.prod(x.shape[d] for d in axes)
        levels = self.levels(moved, len(kept))
        if levels is None:
            moved = self.contiguous(moved)
            levels = self.levels(moved, len(kept))
        aso, asi = levels
        lane = LANE_LETTER[x.lane]
        if n_inner == 0:
            # An empty sum is 0 (max/min of nothing is rejected by the type rule): a scatter of nothing.
            self.emit(OPCODE[f"scatter_add_{lane}"], 0, out.offset, out.size, [0, 0, 0])
            return
        self.emit(OPCODE[f"{op}_{lane}"], NORM.get(node.outputs[0].dtype, 0), out.offset, out.size,
                  [n_outer, n_inner, moved.offset, aso, asi])

    @staticmethod
    def levels(view: View, n_kept: int) -> tuple[int, int] | None:
        """(outer stride, inner stride) when the kept axes and the reduced axes each collapse to one."""
        def one(shape, strides):
            dims, (st,) = _collapse(shape, [strides])
            if not dims:
                return 0
            return st[0] if len(dims) == 1 else None
        outer = one(view.shape[:n_kept], view.strides[:n_kept])
        inner = one(view.shape[n_kept:], view.strides[n_kept:])
        if outer is None or inner is None:
            return None
        return outer, inner

    def matmul(self, node: Node, ins: list[View], out: View) -> None:
        a, b = ins
        if a.lane == I_LANE or b.lane != a.lane:
            raise Unsupported(f"matmul of {node.inputs[0].dtype} and {node.inputs[1].dtype} on the executor")
        a_shape, b_shape = a.shape, b.shape
        if len(a_shape) == 1:
            a = View(a.lane, a.offset, (1,) + a.shape, (0,) + a.strides, a.base)
        if len(b_shape) == 1:
            b = View(b.lane, b.offset, b.shape + (1,), b.strides + (0,), b.base)
        m, k = a.shape[-2:]
        n = b.shape[-1]
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        n_batch = math.prod(batch)
        fields = []
        for x in (a, b):
            x_batch = x.shape[:-2]
            if math.prod(x_batch) == 1 and n_batch != 1:
                x = View(x.lane, x.offset, x.shape[-2:], x.strides[-2:], x.base)
                x, trans = self.matrix(x)
                fields.append((x.offset, 0, trans))
                continue
            if tuple(x_batch) != tuple(batch):
                full = tuple(batch) + x.shape[-2:]
                lead = len(full) - len(x.shape)
                strides = (0,) * lead + tuple(0 if (p == 1 and q != 1) else s
                                              for p, q, s in zip(x.shape, full[lead:], x.strides))
                x = View(x.lane, x.offset, full, strides, x.base)
            x, trans = self.batched_matrices(x)
            fields.append((x.offset, x.shape[-2] * x.shape[-1], trans))
        (ao, abs_, ta), (bo, bbs, tb) = fields
        self.emit(OPCODE["matmul_" + LANE_LETTER[a.lane]], 0, out.offset, out.size,
                  [n_batch, m, ao, k, n, bo, abs_, ta, tb, bbs])

    def matrix(self, x: View) -> tuple[View, int]:
        """A 2-D view BLAS can read (contiguous or transposed-contiguous), copying when needed."""
        rows, cols = x.shape
        if x.strides == (cols, 1) or rows == 1 and x.strides[1] == 1 or cols == 1 and x.strides[0] == 1 \
                or rows * cols <= 1:
            return View(x.lane, x.offset, x.shape, (cols, 1), x.base), 0
        if x.strides == (1, rows):
            return x, 1
        return self.contiguous(x), 0

    def batched_matrices(self, x: View) -> tuple[View, int]:
        """Batches of matrices laid out one after another, each contiguous or transposed-contiguous."""
        rows, cols = x.shape[-2:]
        dims, (batch_strides,) = _collapse(x.shape[:-2], [x.strides[:-2]])
        if not dims or (len(dims) == 1 and batch_strides[0] == rows * cols):
            matrix = View(x.lane, x.offset, (rows, cols), x.strides[-2:], x.base)
            if rows * cols <= 1 or matrix.contiguous():
                return x, 0
            if x.strides[-2:] == (1, rows):
                return x, 1
        return self.contiguous(x), 0

    def table_index(self, node: Node, x: View, out: View) -> None:
        arrays = [np.asarray(v.const) for v in node.inputs[1:]]
        spec = node.attrs["spec"]
        lane = LANE_LETTER[x.lane]
        try:
            if node.op == "index":
                table = _offsets(x)[build_index(spec, arrays)] - x.offset
                table = np.broadcast_to(table, out.shape).reshape(-1)
            else:
                shape = tuple(node.attrs["shape"])
                positions = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
                table = np.broadcast_to(positions[build_index(spec, arrays)], x.shape).reshape(-1)
        except IndexError:
            self.fail(node)
            return
        at = len(self.aux)
        self.aux += table.tolist()
        if node.op == "index":
            self.emit(OPCODE[f"gather_{lane}"], NORM.get(node.outputs[0].dtype, 0), out.offset, out.size,
                      [0, x.offset, at])
        else:
            g = self.contiguous(x)
            self.emit(OPCODE[f"scatter_add_{lane}"], NORM.get(node.outputs[0].dtype, 0), out.offset, out.size,
                      [table.size, g.offset, at, 0, 1])

    def fail(self, node: Node) -> None:
        """A node that always fails: the caller reruns the reference interpreter for eager mode's error."""
        self.fail_nodes.append(node)
        self.emit(OPCODE["fail"], 0, 0, -len(self.fail_nodes))

    def host_op(self, node: Node, ins: list[View], out: View) -> None:
        """Run `node` with the op table's numpy rule on views of the arenas (index arrays known only at run
        time, sorting, the elementwise functions kernels take from libm)."""
        impl, attrs = TABLE[node.op].impl, node.attrs
        in_views = list(ins)
        dtypes = [v.dtype for v in node.inputs]
        out_lane, out_offset, out_size = out.lane, out.offset, out.size

        def step(arenas):
            arrays = []
            for view, dtype in zip(in_views, dtypes):
                arena = arenas[view.lane]
                arr = np.lib.stride_tricks.as_strided(arena[view.offset:], view.shape,
                                                      tuple(arena.itemsize * s for s in view.strides))
                arrays.append(arr.astype(dtype))
            try:
                result = impl(*arrays, **attrs)
            except (ShapeError, IndexingError) as e:
                raise node_error(node, arrays, e) from None
            arenas[out_lane][out_offset:out_offset + out_size] = np.asarray(result).reshape(-1)
        step.__doc__ = (f"{node.op} with index arrays computed at run time (numpy)" if node.op.startswith("index")
                        else f"{node.op} (numpy)")
        self.host(step)

    def guard(self, node: Node) -> None:
        x = self.read(node.inputs[0])
        ordinal = len(self.guards)
        self.guards.append(node)
        expected = np.asarray(node.attrs["expected"])
        if expected.shape != x.shape:
            self.emit(OPCODE["fail"], 0, 0, ordinal + 1)
            return
        x = self.contiguous(x)
        truth = expected.dtype == np.bool_ and node.inputs[0].dtype != BOOL
        stored = expected.astype(LANE_DTYPE[x.lane])
        want = self.read(Value(TensorType(stored.dtype, stored.shape), const=stored))
        lane = LANE_LETTER[x.lane]
        self.emit(OPCODE[f"guard_{lane}"], 0, 0, x.size, [ordinal, int(truth), x.offset, 0, 0, want.offset])
        self.release_scratch()


def build_program(graph: Graph) -> Program:
    """The executor program of `graph` (primitive ops only: see :func:`compiler.fusion.prepare`).

    Every instruction is checked to stay inside its arenas (:func:`check_program`): the machine
    runs without bounds checks, so a wrong row would read or write memory it does not own.
    """
    program = _Builder(graph).build()
    check_program(program)
    return program


_LANES_OF = {}  # opcode -> (output lane, operand lanes)
for (_name, _lane), _code in ((k, v) for k, v in OPCODE.items() if isinstance(k, tuple)):
    _out = I_LANE if TABLE[_name].promote == "compare" else _lane
    _LANES_OF[_code] = (_out, tuple(I_LANE if (_name == "where" and j == 0) else _lane
                                    for j in range(TABLE[_name].arity)))
for _name in _CASTS:
    _LANES_OF[OPCODE[_name]] = (_LANE_OF_LETTER[_name[-1]], (_LANE_OF_LETTER[_name[-2]],))


def _span(offset: int, steps: list[tuple[int, int]]) -> tuple[int, int]:
    """Lowest and highest element touched from `offset` by (count, stride) pairs (count > 0)."""
    lo = hi = offset
    for count, stride in steps:
        reach = (count - 1) * stride
        lo, hi = lo + min(reach, 0), hi + max(reach, 0)
    return lo, hi


#: Chains shorter than this many elements run row after row (their intermediates fit in cache anyway).
MIN_BLOCKED = 4 * BLOCK


def block_rows(rows: list[list[int]], steps: list) -> tuple[list[list[int]], list]:
    """`rows` with each chain of two or more elementwise rows over the same long vector behind a
    ``block`` row, which makes the machine run the chain block by block; `steps` renumbered."""
    new_rows: list[list[int]] = []
    new_steps: list = []
    for step in steps:
        if not isinstance(step, tuple):
            new_steps.append(step)
            continue
        start, (pc, stop) = len(new_rows), step
        while pc < stop:
            end = _chain_end(rows, pc, stop)
            if end - pc >= 2:
                header = [OPCODE["block"], 0, 0, end - pc, 1, rows[pc][5], BLOCK]
                new_rows.append(header + [0] * (WIDTH - len(header)))
                new_rows.extend(rows[pc:end])
                pc = end
            else:
                new_rows.append(rows[pc])
                pc += 1
        new_steps.append((start, len(new_rows)))
    return new_rows, new_steps


def _chain_end(rows: list[list[int]], first: int, stop: int) -> int:
    """One past the last row of the longest chain from `first` that may run block by block.

    Block by block, element i of every row of the chain is computed before element i + BLOCK of
    any: the same order per element as row after row, as long as each row reads element i of a
    vector only at element i (or one fixed scalar) and no row writes where another row reads or
    writes at a shifted position or reads a scalar.
    """
    n = rows[first][5]
    if n < MIN_BLOCKED:
        return first
    writes: list[tuple[int, int]] = []     # (lane, offset) of each row's n outputs
    reads: list[tuple[int, int, int]] = []  # (lane, offset, stride) of each operand
    pc = first
    while pc < stop:
        row = rows[pc]
        lanes = _LANES_OF.get(row[0])
        if lanes is None or row[4] != 1 or row[5] != n:
            break
        out_lane, operand_lanes = lanes
        row_reads = [(lane, row[6 + 3 * j], row[8 + 3 * j]) for j, lane in enumerate(operand_lanes)]
        if any(stride not in (0, 1) for _, _, stride in row_reads):
            break
        row_write = (out_lane, row[2])
        if not all(_apart(r, w, n) for r in row_reads for w in writes + [row_write]) or \
                not all(_apart(r, row_write, n) for r in reads) or \
                not all(_aligned_or_apart(row_write, w, n) for w in writes):
            break
        writes.append(row_write)
        reads.extend(row_reads)
        pc += 1
    return pc


def _aligned_or_apart(x: tuple[int, int], y: tuple[int, int], n: int) -> bool:
    """Two n-element vectors are the same vector or share no element."""
    return x[0] != y[0] or x[1] == y[1] or x[1] + n <= y[1] or y[1] + n <= x[1]


def _apart(read: tuple[int, int, int], write: tuple[int, int], n: int) -> bool:
    """A read (a vector read at the written position, or one scalar) never sees another block's write."""
    lane, offset, stride = read
    if lane != write[0]:
        return True
    if stride == 1:
        return _aligned_or_apart((lane, offset), write, n)
    return not (write[1] <= offset < write[1] + n)


_N_OPCODES = max(v for v in OPCODE.values()) + 1
#: Per opcode: is it an elementwise or cast row, its output lane, and each operand's lane (-1: no operand).
_ROW_IS_ELEMENTWISE = np.zeros(_N_OPCODES, bool)
_ROW_OUT_LANE = np.zeros(_N_OPCODES, np.int64)
_ROW_OPERAND_LANES = np.full((_N_OPCODES, 3), -1, np.int64)
for _code, (_out, _lanes) in _LANES_OF.items():
    _ROW_IS_ELEMENTWISE[_code] = True
    _ROW_OUT_LANE[_code] = _out
    _ROW_OPERAND_LANES[_code, :len(_lanes)] = _lanes


def _elementwise_rows_inside(code: np.ndarray, sizes: tuple[int, int]) -> np.ndarray:
    """Per row: True for an elementwise (or cast) row proven inside its arenas, all rows at once.

    Rows this leaves False get the row-by-row check (which also names a row that is outside).
    """
    code = code.reshape(-1, WIDTH)
    op, norm, out, count, no, ni = (code[:, j] for j in range(6))
    size_of = np.array(sizes, np.int64)
    known = (op >= 0) & (op < _N_OPCODES)
    safe_op = np.where(known, op, 0)
    ok = known & _ROW_IS_ELEMENTWISE[safe_op]
    ok &= ~((norm != 0) & (count > 0) & ((out < 0) | (out + count - 1 >= size_of[I_LANE])))
    n = no * ni
    active = n != 0
    out_size = size_of[_ROW_OUT_LANE[safe_op]]
    ok &= ~active | ((out >= 0) & (out + n - 1 < out_size))
    for j in range(3):
        lane = _ROW_OPERAND_LANES[safe_op, j]
        off, so, si = code[:, 6 + 3 * j], code[:, 7 + 3 * j], code[:, 8 + 3 * j]
        reach_o, reach_i = (no - 1) * so, (ni - 1) * si
        lo = off + np.minimum(reach_o, 0) + np.minimum(reach_i, 0)
        hi = off + np.maximum(reach_o, 0) + np.maximum(reach_i, 0)
        inside_lane = (lo >= 0) & (hi < size_of[np.maximum(lane, 0)])
        ok &= ~active | (lane < 0) | inside_lane
    return ok


def check_program(program: Program) -> None:
    """Raise :class:`Unsupported` naming the first instruction that reaches outside its arena."""
    sizes = tuple(len(t) for t in program.templates)
    names = {v: k for k, v in OPCODE.items()}
    aux = program.aux

    def inside(pc, lane, lo, hi):
        if lo < 0 or hi >= sizes[lane]:
            raise Unsupported(f"executor instruction {pc} ({names.get(int(program.code[pc, 0]))}) reaches "
                              f"[{lo}, {hi}] outside its arena of {sizes[lane]}")

    proven = _elementwise_rows_inside(program.code, sizes)
    for pc, row in enumerate(program.code.tolist()):
        op, norm, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi = row[:15]
        if proven[pc]:
            continue
        name = names.get(op)
        if norm and count > 0:
            inside(pc, I_LANE, out, out + count - 1)
        if op in _LANES_OF:
            if no * ni == 0:
                continue
            out_lane, lanes = _LANES_OF[op]
            inside(pc, out_lane, out, out + no * ni - 1)
            for lane, (off, so, si) in zip(lanes, ((a, aso, asi), (b, bso, bsi), (c, cso, csi))):
                inside(pc, lane, *_span(off, [(no, so), (ni, si)]))
            continue
        if not isinstance(name, str) or name == "fail":
            continue
        if name == "block":  # its rows are checked one by one over their whole length
            chain = program.code[pc + 1:pc + 1 + count]
            chain_ops = np.clip(chain[:, 0], 0, _N_OPCODES - 1)
            if count < 1 or a < 1 or len(chain) != count or not np.all(chain[:, 4] == 1) or \
                    not np.all(chain[:, 5] == ni) or not np.all(_ROW_IS_ELEMENTWISE[chain_ops]):
                raise Unsupported(f"executor instruction {pc} (block of {count} rows) holds rows it cannot block")
            continue
        kind, lane = name.rsplit("_", 1)
        lane = _LANE_OF_LETTER[lane]
        if kind in ("sum", "max", "min", "argmax"):
            if no and ni:
                inside(pc, lane, *_span(a, [(no, aso), (ni, asi)]))
            if no:
                inside(pc, I_LANE if kind == "argmax" else lane, out, out + no - 1)
        elif kind == "matmul":
            m, k, n, bs_a, bs_b = ni, aso, asi, bso, cso
            if no and m * k:
                inside(pc, lane, a, a + (no - 1) * bs_a + m * k - 1)
            if no and k * n:
                inside(pc, lane, b, b + (no - 1) * bs_b + k * n - 1)
            if no and m * n:
                inside(pc, lane, out, out + no * m * n - 1)
        elif kind == "copy":
            dims = aux[a:a + no].tolist()
            if math.prod(dims):
                inside(pc, lane, *_span(ni, list(zip(dims, aux[a + no:a + 2 * no].tolist()))))
                inside(pc, lane, *_span(out, list(zip(dims, aux[a + 2 * no:a + 3 * no].tolist()))))
        elif kind == "gather":
            if count:
                table = aux[a:a + count]
                inside(pc, lane, out, out + count - 1)
                inside(pc, lane, ni + int(table.min()), ni + int(table.max()))
        elif kind == "scatter_add":
            if count:
                inside(pc, lane, out, out + count - 1)
            if no:
                table = aux[a:a + no]
                inside(pc, lane, out + int(table.min()), out + int(table.max()))
                inside(pc, lane, *_span(ni, [(no, asi)]))
        elif kind == "guard":
            if count:
                inside(pc, lane, a, a + count - 1)
                inside(pc, lane, b, b + count - 1)


# --------------------------------------------------------------------------
# Running a program
# --------------------------------------------------------------------------

class ExecutorRunner:
    """A graph on the executor, behind the backend interface: ``run(arrays) -> list of arrays``."""

    __slots__ = ("graph", "program", "vm", "source", "__weakref__")

    def __init__(self, graph: Graph, program: Program):
        self.graph = graph
        self.program = program
        self.vm = machine()
        self.source = None

    def __call__(self, arrays):
        p = self.program
        pool = p._pool
        try:
            arenas = pool.pop()
        except IndexError:  # first call, or every arena is in use by another thread
            arenas = tuple(t.copy() for t in p.templates)
        for (lane, offset, size), a in zip(p.inputs, arrays):
            arenas[lane][offset:offset + size] = np.asarray(a).reshape(-1)
        vm = self.vm
        floats, ints, singles = arenas
        for step in p.steps:
            if type(step) is tuple:
                status = vm(p.code, p.aux, floats, ints, singles, step[0], step[1])
                if status:
                    pool.append(arenas)
                    self.fail(status, arrays)
            else:
                step(arenas)
        outs = [arenas[lane][offset:offset + size].astype(dtype).reshape(shape)
                for lane, offset, size, shape, dtype in p.outputs]
        pool.append(arenas)
        return outs

    def fail(self, status: int, arrays) -> None:
        p = self.program
        if status > 0:
            ordinal = status - 1
            raise GuardFailure(p.guards[ordinal], None, ordinal)
        interpret(self.graph, arrays)  # raises eager mode's error for the failing index
        node = p.fail_nodes[-status - 1]
        where = f" at {node.loc[0]}:{node.loc[1]}" if node.loc else ""
        raise IndexError(f"index out of bounds in op '{node.op}'{where}")


def _main(argv: list[str] | None = None) -> int:
    """``python -m tracegrad.compiler.executor [--check]``: regenerate the machine after an op-table
    change, or (``--check``) only say whether it is current (exit status 1 when it is not)."""
    parser = argparse.ArgumentParser(prog="python -m tracegrad.compiler.executor",
                                     description="Regenerate the executor's machine module from the op table.")
    parser.add_argument("--check", action="store_true", help="only report whether the module is current")
    args = parser.parse_args(argv)
    if args.check:
        current = machine_is_current()
        print(f"{MACHINE_PATH} is {'current' if current else 'stale: run without --check to regenerate it'}")
        return 0 if current else 1
    with open(MACHINE_PATH, "w") as fh:
        fh.write(machine_source())
    print(f"wrote {MACHINE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
