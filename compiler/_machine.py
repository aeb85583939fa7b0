"""The tracegrad executor's machine: generated from the op table by compiler/executor.py.

Do not edit: ``python -m tracegrad.compiler.executor`` writes it again, and a test checks that
it matches the op table.  numba caches its machine code beside it, like the runtime's.
"""
import numpy as np
from numba import njit
from tracegrad.compiler.runtime import abs_f32, abs_f64, abs_i64, add_compensated, ceil_f32, ceil_f64, compensated_result, cos_f32, cos_f64, divide_f32, divide_f64, exp_f32, exp_f64, expm1_f32, expm1_f64, floor_divide_f32, floor_divide_f64, floor_divide_i64, floor_f32, floor_f64, fmod_f32, fmod_f64, fmod_i64, log1p_f32, log1p_f64, log_f32, log_f64, logaddexp_f32, logaddexp_f64, matmul_nn, matmul_nt, matmul_tn, matmul_tt, maximum_f32, maximum_f64, maximum_i64, minimum_f32, minimum_f64, minimum_i64, power_f32, power_f64, power_i64, relu_f32, relu_f64, relu_i64, remainder_f32, remainder_f64, remainder_i64, rint_f32, rint_f64, sigmoid_f32, sigmoid_f64, sign_f32, sign_f64, sign_i64, sin_f32, sin_f64, sqrt_f32, sqrt_f64, tanh_f32, tanh_f64, trunc_f32, trunc_f64


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def normalize(I, norm, out, n):
    if norm == 1:
        for i in range(n):
            I[out + i] = np.int64(I[out + i] != 0)
    else:
        bits = 8 if norm == 2 or norm == 5 else (16 if norm == 3 else 32)
        span = np.int64(1) << bits
        half = span >> 1
        for i in range(n):
            v = I[out + i] & (span - 1)
            I[out + i] = v - span if (norm != 5 and v >= half) else v


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_neg_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            F[ob + i] = np.float64(-F[ab + i * asi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_neg_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(-x0[i])
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(-S[ab + i * asi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_neg_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(-I[ab + i * asi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_add_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            F[ob + i] = np.float64(F[ab + i * asi] + F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_add_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0[i] + x1[i])
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0 + x1[i])
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(x0[i] + x1)
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(S[ab + i * asi] + S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_add_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] + I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sub_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            F[ob + i] = np.float64(F[ab + i * asi] - F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sub_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0[i] - x1[i])
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0 - x1[i])
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(x0[i] - x1)
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(S[ab + i * asi] - S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sub_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] - I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_mul_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            F[ob + i] = np.float64(F[ab + i * asi] * F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_mul_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0[i] * x1[i])
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(x0 * x1[i])
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(x0[i] * x1)
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(S[ab + i * asi] * S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_mul_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] * I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_div_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(divide_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(divide_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_div_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(divide_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(divide_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(divide_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(divide_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_pow_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(power_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(power_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_pow_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(power_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(power_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(power_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(power_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_pow_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(power_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_maximum_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(maximum_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(maximum_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_maximum_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(maximum_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(maximum_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(maximum_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(maximum_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_maximum_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(maximum_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_minimum_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(minimum_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(minimum_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_minimum_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(minimum_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(minimum_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(minimum_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(minimum_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_minimum_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(minimum_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_exp_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(exp_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(exp_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_exp_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(exp_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(exp_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_log_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(log_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(log_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_log_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(log_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(log_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_log1p_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(log1p_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(log1p_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_log1p_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(log1p_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(log1p_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_expm1_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(expm1_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(expm1_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_expm1_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(expm1_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(expm1_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sin_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(sin_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(sin_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sin_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(sin_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(sin_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_cos_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(cos_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(cos_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_cos_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(cos_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(cos_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_tanh_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(tanh_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(tanh_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_tanh_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(tanh_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(tanh_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sigmoid_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(sigmoid_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(sigmoid_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sigmoid_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(sigmoid_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(sigmoid_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_relu_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(relu_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(relu_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_relu_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(relu_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(relu_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_relu_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(relu_i64(I[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_abs_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(abs_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(abs_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_abs_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(abs_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(abs_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_abs_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(abs_i64(I[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sqrt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(sqrt_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(sqrt_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sqrt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(sqrt_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(sqrt_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sign_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(sign_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(sign_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sign_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(sign_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(sign_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_sign_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(sign_i64(I[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_floor_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(floor_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(floor_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_floor_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(floor_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(floor_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ceil_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(ceil_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(ceil_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ceil_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(ceil_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(ceil_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_trunc_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(trunc_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(trunc_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_trunc_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(trunc_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(trunc_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_round_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        if asi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float64(rint_f64(x0[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(rint_f64(F[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_round_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            for i in range(ni):
                y[i] = np.float32(rint_f32(x0[i]))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            for i in range(ni):
                S[ob + i] = np.float32(rint_f32(S[ab + i * asi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logaddexp_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(logaddexp_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(logaddexp_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logaddexp_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(logaddexp_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(logaddexp_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(logaddexp_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(logaddexp_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_fmod_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(fmod_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(fmod_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_fmod_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(fmod_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(fmod_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(fmod_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(fmod_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_fmod_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(fmod_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_floor_divide_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(floor_divide_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(floor_divide_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_floor_divide_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(floor_divide_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(floor_divide_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(floor_divide_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(floor_divide_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_floor_divide_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(floor_divide_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_remainder_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        if asi == 1 and bsi == 1:
            y = F[ob:ob + ni]
            x0 = F[ab:ab + ni]
            x1 = F[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float64(remainder_f64(x0[i], x1[i]))
            continue
        for i in range(ni):
            F[ob + i] = np.float64(remainder_f64(F[ab + i * asi], F[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_remainder_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(remainder_f32(x0[i], x1[i]))
    elif bsi == 1 and asi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab]
            x1 = S[bb:bb + ni]
            for i in range(ni):
                y[i] = np.float32(remainder_f32(x0, x1[i]))
    elif asi == 1 and bsi == 0:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            y = S[ob:ob + ni]
            x0 = S[ab:ab + ni]
            x1 = S[bb]
            for i in range(ni):
                y[i] = np.float32(remainder_f32(x0[i], x1))
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            for i in range(ni):
                S[ob + i] = np.float32(remainder_f32(S[ab + i * asi], S[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_remainder_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(remainder_i64(I[ab + i * asi], I[bb + i * bsi]))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_eq_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] == F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_eq_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] == S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_eq_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] == I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ne_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] != F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ne_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] != S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ne_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] != I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_lt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] < F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_lt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] < S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_lt_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] < I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_le_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] <= F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_le_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] <= S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_le_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] <= I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_gt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] > F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_gt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] > S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_gt_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] > I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ge_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(F[ab + i * asi] >= F[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ge_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(S[ab + i * asi] >= S[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_ge_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64(I[ab + i * asi] >= I[bb + i * bsi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_and_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((F[ab + i * asi] != 0) & (F[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_and_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((S[ab + i * asi] != 0) & (S[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_and_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((I[ab + i * asi] != 0) & (I[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_or_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((F[ab + i * asi] != 0) | (F[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_or_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((S[ab + i * asi] != 0) | (S[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_or_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        for i in range(ni):
            I[ob + i] = np.int64((I[ab + i * asi] != 0) | (I[bb + i * bsi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_not_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(not (F[ab + i * asi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_not_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(not (S[ab + i * asi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_logical_not_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        for i in range(ni):
            I[ob + i] = np.int64(not (I[ab + i * asi] != 0))
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_where_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        cb = c + o * cso
        for i in range(ni):
            F[ob + i] = np.float64(F[bb + i * bsi] if (I[ab + i * asi] != 0) else F[cb + i * csi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_where_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if asi == 1 and bsi == 1 and csi == 1:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            cb = c + o * cso
            y = S[ob:ob + ni]
            x0 = I[ab:ab + ni]
            x1 = S[bb:bb + ni]
            x2 = S[cb:cb + ni]
            for i in range(ni):
                y[i] = np.float32(x1[i] if (x0[i] != 0) else x2[i])
    else:
        for o in range(no):
            ob = out + o * ni
            ab = a + o * aso
            bb = b + o * bso
            cb = c + o * cso
            for i in range(ni):
                S[ob + i] = np.float32(S[bb + i * bsi] if (I[ab + i * asi] != 0) else S[cb + i * csi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def run_where_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    for o in range(no):
        ob = out + o * ni
        ab = a + o * aso
        bb = b + o * bso
        cb = c + o * cso
        for i in range(ni):
            I[ob + i] = np.int64(I[bb + i * bsi] if (I[ab + i * asi] != 0) else I[cb + i * csi])
    return norm


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def structural_f(op, F, I, aux, ctr, acc, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if op == 101:
        if no > 1 and abs(asi) > abs(aso):
            for first in range(0, no, 512):
                n = min(512, no - first)
                acc[:2 * n] = 0.0
                for i in range(ni):
                    base = a + i * asi + first * aso
                    for o in range(n):
                        acc[o], acc[n + o] = add_compensated(acc[o], acc[n + o], np.float64(F[base + o * aso]))
                for o in range(n):
                    F[out + first + o] = compensated_result(acc[o], acc[n + o])
            return 0
        for o in range(no):
            total = 0.0
            comp = 0.0
            base = a + o * aso
            for i in range(ni):
                total, comp = add_compensated(total, comp, np.float64(F[base + i * asi]))
            F[out + o] = compensated_result(total, comp)
    elif op == 102:
        for o in range(no):
            base = a + o * aso
            best = F[base]
            for i in range(1, ni):
                v = F[base + i * asi]
                if v > best or v != v:
                    best = v
            F[out + o] = best
    elif op == 103:
        for o in range(no):
            base = a + o * aso
            best = F[base]
            for i in range(1, ni):
                v = F[base + i * asi]
                if v < best or v != v:
                    best = v
            F[out + o] = best
    elif op == 104:
        for o in range(no):
            base = a + o * aso
            best = F[base]
            at = 0
            for i in range(1, ni):
                v = F[base + i * asi]
                if best == best and (v > best or v != v):
                    best = v
                    at = i
            I[out + o] = at
    elif op == 100:
        nd = no
        total = 1
        for d in range(nd):
            total *= aux[a + d]
        if total == 0:
            return 0
        inner = aux[a + nd - 1]
        s_in = aux[a + 2 * nd - 1]
        d_in = aux[a + 3 * nd - 1]
        for d in range(nd):
            ctr[d] = 0
        src = ni
        dst = out
        for _ in range(total // inner):
            for i in range(inner):
                F[dst + i * d_in] = F[src + i * s_in]
            d = nd - 2
            while d >= 0:
                ctr[d] += 1
                src += aux[a + nd + d]
                dst += aux[a + 2 * nd + d]
                if ctr[d] < aux[a + d]:
                    break
                src -= aux[a + nd + d] * aux[a + d]
                dst -= aux[a + 2 * nd + d] * aux[a + d]
                ctr[d] = 0
                d -= 1
    elif op == 105:
        for i in range(count):
            F[out + i] = F[ni + aux[a + i]]
    elif op == 106:
        for i in range(count):
            F[out + i] = 0
        for i in range(no):
            F[out + aux[a + i]] += F[ni + i * asi]
    elif op == 107:
        for i in range(count):
            v = F[a + i]
            if ni == 1:
                v = np.float64(v != 0)
            if v != F[b + i]:
                return no + 1
    return 0


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def structural_i(op, I, aux, ctr, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if op == 109:
        for o in range(no):
            total = np.int64(0)
            base = a + o * aso
            for i in range(ni):
                total += I[base + i * asi]
            I[out + o] = total
    elif op == 110:
        for o in range(no):
            base = a + o * aso
            best = I[base]
            for i in range(1, ni):
                v = I[base + i * asi]
                if v > best:
                    best = v
            I[out + o] = best
    elif op == 111:
        for o in range(no):
            base = a + o * aso
            best = I[base]
            for i in range(1, ni):
                v = I[base + i * asi]
                if v < best:
                    best = v
            I[out + o] = best
    elif op == 112:
        for o in range(no):
            base = a + o * aso
            best = I[base]
            at = 0
            for i in range(1, ni):
                v = I[base + i * asi]
                if v > best:
                    best = v
                    at = i
            I[out + o] = at
    elif op == 108:
        nd = no
        total = 1
        for d in range(nd):
            total *= aux[a + d]
        if total == 0:
            return 0
        inner = aux[a + nd - 1]
        s_in = aux[a + 2 * nd - 1]
        d_in = aux[a + 3 * nd - 1]
        for d in range(nd):
            ctr[d] = 0
        src = ni
        dst = out
        for _ in range(total // inner):
            for i in range(inner):
                I[dst + i * d_in] = I[src + i * s_in]
            d = nd - 2
            while d >= 0:
                ctr[d] += 1
                src += aux[a + nd + d]
                dst += aux[a + 2 * nd + d]
                if ctr[d] < aux[a + d]:
                    break
                src -= aux[a + nd + d] * aux[a + d]
                dst -= aux[a + 2 * nd + d] * aux[a + d]
                ctr[d] = 0
                d -= 1
    elif op == 113:
        for i in range(count):
            I[out + i] = I[ni + aux[a + i]]
    elif op == 114:
        for i in range(count):
            I[out + i] = 0
        for i in range(no):
            I[out + aux[a + i]] += I[ni + i * asi]
    elif op == 115:
        for i in range(count):
            v = I[a + i]
            if ni == 1:
                v = np.int64(v != 0)
            if v != I[b + i]:
                return no + 1
    return 0


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def structural_s(op, S, I, aux, ctr, acc, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi):
    if op == 117:
        if no > 1 and abs(asi) > abs(aso):
            for first in range(0, no, 512):
                n = min(512, no - first)
                acc[:2 * n] = 0.0
                for i in range(ni):
                    base = a + i * asi + first * aso
                    for o in range(n):
                        acc[o], acc[n + o] = add_compensated(acc[o], acc[n + o], np.float64(S[base + o * aso]))
                for o in range(n):
                    S[out + first + o] = compensated_result(acc[o], acc[n + o])
            return 0
        for o in range(no):
            total = 0.0
            comp = 0.0
            base = a + o * aso
            for i in range(ni):
                total, comp = add_compensated(total, comp, np.float64(S[base + i * asi]))
            S[out + o] = compensated_result(total, comp)
    elif op == 118:
        for o in range(no):
            base = a + o * aso
            best = S[base]
            for i in range(1, ni):
                v = S[base + i * asi]
                if v > best or v != v:
                    best = v
            S[out + o] = best
    elif op == 119:
        for o in range(no):
            base = a + o * aso
            best = S[base]
            for i in range(1, ni):
                v = S[base + i * asi]
                if v < best or v != v:
                    best = v
            S[out + o] = best
    elif op == 120:
        for o in range(no):
            base = a + o * aso
            best = S[base]
            at = 0
            for i in range(1, ni):
                v = S[base + i * asi]
                if best == best and (v > best or v != v):
                    best = v
                    at = i
            I[out + o] = at
    elif op == 116:
        nd = no
        total = 1
        for d in range(nd):
            total *= aux[a + d]
        if total == 0:
            return 0
        inner = aux[a + nd - 1]
        s_in = aux[a + 2 * nd - 1]
        d_in = aux[a + 3 * nd - 1]
        for d in range(nd):
            ctr[d] = 0
        src = ni
        dst = out
        for _ in range(total // inner):
            for i in range(inner):
                S[dst + i * d_in] = S[src + i * s_in]
            d = nd - 2
            while d >= 0:
                ctr[d] += 1
                src += aux[a + nd + d]
                dst += aux[a + 2 * nd + d]
                if ctr[d] < aux[a + d]:
                    break
                src -= aux[a + nd + d] * aux[a + d]
                dst -= aux[a + 2 * nd + d] * aux[a + d]
                ctr[d] = 0
                d -= 1
    elif op == 121:
        for i in range(count):
            S[out + i] = S[ni + aux[a + i]]
    elif op == 122:
        for i in range(count):
            S[out + i] = 0
        for i in range(no):
            S[out + aux[a + i]] += S[ni + i * asi]
    elif op == 123:
        for i in range(count):
            v = S[a + i]
            if ni == 1:
                v = np.float32(v != 0)
            if v != S[b + i]:
                return no + 1
    return 0


@njit(cache=True, nogil=True, error_model='numpy')
def product_f(F, out, no, ni, a, aso, asi, b, bso, bsi, c, cso):
    m, k, n = ni, aso, asi
    ta, tb = bsi, c
    for o in range(no):
        x = F[a + o * bso:a + o * bso + m * k]
        y = F[b + o * cso:b + o * cso + k * n]
        z = F[out + o * m * n:out + (o + 1) * m * n]
        if m * n == 0:
            continue
        if k == 0:
            z[:] = 0.0
        elif ta == 0 and tb == 0:
            matmul_nn(x, y, z, m, k, n)
        elif ta == 1 and tb == 0:
            matmul_tn(x, y, z, m, k, n)
        elif ta == 0:
            matmul_nt(x, y, z, m, k, n)
        else:
            matmul_tt(x, y, z, m, k, n)


@njit(cache=True, nogil=True, error_model='numpy')
def product_s(S, out, no, ni, a, aso, asi, b, bso, bsi, c, cso):
    m, k, n = ni, aso, asi
    ta, tb = bsi, c
    for o in range(no):
        x = S[a + o * bso:a + o * bso + m * k]
        y = S[b + o * cso:b + o * cso + k * n]
        z = S[out + o * m * n:out + (o + 1) * m * n]
        if m * n == 0:
            continue
        if k == 0:
            z[:] = 0.0
        elif ta == 0 and tb == 0:
            matmul_nn(x, y, z, m, k, n)
        elif ta == 1 and tb == 0:
            matmul_tn(x, y, z, m, k, n)
        elif ta == 0:
            matmul_nt(x, y, z, m, k, n)
        else:
            matmul_tt(x, y, z, m, k, n)


@njit(cache=True, nogil=True, error_model='numpy', _nrt=False)
def convert(op, F, I, S, out, no, ni, a, aso, asi):
    if op == 126:  # cast_fi
        for o in range(no):
            for i in range(ni):
                v = F[a + o * aso + i * asi]
                I[out + o * ni + i] = np.int64(v) if v == v and abs(v) < 9.2e18 else np.int64(-9223372036854775807 - 1)
    elif op == 127:  # cast_fb
        for o in range(no):
            for i in range(ni):
                I[out + o * ni + i] = np.int64(F[a + o * aso + i * asi] != 0.0)
    elif op == 128:  # cast_fs
        for o in range(no):
            for i in range(ni):
                S[out + o * ni + i] = np.float32(F[a + o * aso + i * asi])
    elif op == 129:  # cast_if
        for o in range(no):
            for i in range(ni):
                F[out + o * ni + i] = np.float64(I[a + o * aso + i * asi])
    elif op == 130:  # cast_ii
        for o in range(no):
            for i in range(ni):
                I[out + o * ni + i] = np.int64(I[a + o * aso + i * asi])
    elif op == 131:  # cast_is
        for o in range(no):
            for i in range(ni):
                S[out + o * ni + i] = np.float32(I[a + o * aso + i * asi])
    elif op == 132:  # cast_sf
        for o in range(no):
            for i in range(ni):
                F[out + o * ni + i] = np.float64(S[a + o * aso + i * asi])
    elif op == 133:  # cast_si
        for o in range(no):
            for i in range(ni):
                v = S[a + o * aso + i * asi]
                I[out + o * ni + i] = np.int64(v) if v == v and abs(v) < 9.2e18 else np.int64(-9223372036854775807 - 1)
    elif op == 134:  # cast_sb
        for o in range(no):
            for i in range(ni):
                I[out + o * ni + i] = np.int64(S[a + o * aso + i * asi] != 0.0)


@njit(cache=True, nogil=True, error_model='numpy')
def vm(code, aux, F, I, S, start, stop):
    """Run instruction rows start..stop-1; 0, or the status of the first failure."""
    ctr = np.zeros(64, np.int64)
    acc = np.empty(1024)
    group_first = 0
    group_end = -1
    group_n = 0
    block = 1
    lo = 0
    m = 0
    pc = start - 1
    while True:
        pc += 1
        if pc == group_end:
            lo += block
            if lo < group_n:
                m = min(block, group_n - lo)
                pc = group_first
            else:
                group_end = -1
        if pc >= stop:
            break
        op = code[pc, 0]
        norm = code[pc, 1]
        out = code[pc, 2]
        count = code[pc, 3]
        no = code[pc, 4]
        ni = code[pc, 5]
        a = code[pc, 6]
        aso = code[pc, 7]
        asi = code[pc, 8]
        b = code[pc, 9]
        bso = code[pc, 10]
        bsi = code[pc, 11]
        c = code[pc, 12]
        cso = code[pc, 13]
        csi = code[pc, 14]
        if pc < group_end:  # elements lo..lo+m-1 of a one-level elementwise row
            ni = m
            count = m
            out += lo
            a += lo * asi
            b += lo * bsi
            c += lo * csi
        if op == 0:
            pass
        elif op == 136:
            group_first = pc + 1
            group_end = pc + 1 + count
            group_n = ni
            block = a
            lo = 0
            m = min(block, group_n)
        elif op == 1:  # neg (float64)
            norm = run_neg_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 2:  # neg (float32)
            norm = run_neg_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 3:  # neg (int64)
            norm = run_neg_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 4:  # add (float64)
            norm = run_add_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 5:  # add (float32)
            norm = run_add_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 6:  # add (int64)
            norm = run_add_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 7:  # sub (float64)
            norm = run_sub_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 8:  # sub (float32)
            norm = run_sub_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 9:  # sub (int64)
            norm = run_sub_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 10:  # mul (float64)
            norm = run_mul_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 11:  # mul (float32)
            norm = run_mul_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 12:  # mul (int64)
            norm = run_mul_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 13:  # div (float64)
            norm = run_div_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 14:  # div (float32)
            norm = run_div_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 15:  # pow (float64)
            norm = run_pow_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 16:  # pow (float32)
            norm = run_pow_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 17:  # pow (int64)
            norm = run_pow_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 18:  # maximum (float64)
            norm = run_maximum_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 19:  # maximum (float32)
            norm = run_maximum_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 20:  # maximum (int64)
            norm = run_maximum_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 21:  # minimum (float64)
            norm = run_minimum_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 22:  # minimum (float32)
            norm = run_minimum_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 23:  # minimum (int64)
            norm = run_minimum_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 24:  # exp (float64)
            norm = run_exp_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 25:  # exp (float32)
            norm = run_exp_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 26:  # log (float64)
            norm = run_log_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 27:  # log (float32)
            norm = run_log_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 28:  # log1p (float64)
            norm = run_log1p_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 29:  # log1p (float32)
            norm = run_log1p_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 30:  # expm1 (float64)
            norm = run_expm1_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 31:  # expm1 (float32)
            norm = run_expm1_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 32:  # sin (float64)
            norm = run_sin_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 33:  # sin (float32)
            norm = run_sin_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 34:  # cos (float64)
            norm = run_cos_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 35:  # cos (float32)
            norm = run_cos_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 36:  # tanh (float64)
            norm = run_tanh_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 37:  # tanh (float32)
            norm = run_tanh_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 38:  # sigmoid (float64)
            norm = run_sigmoid_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 39:  # sigmoid (float32)
            norm = run_sigmoid_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 40:  # relu (float64)
            norm = run_relu_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 41:  # relu (float32)
            norm = run_relu_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 42:  # relu (int64)
            norm = run_relu_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 43:  # abs (float64)
            norm = run_abs_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 44:  # abs (float32)
            norm = run_abs_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 45:  # abs (int64)
            norm = run_abs_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 46:  # sqrt (float64)
            norm = run_sqrt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 47:  # sqrt (float32)
            norm = run_sqrt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 48:  # sign (float64)
            norm = run_sign_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 49:  # sign (float32)
            norm = run_sign_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 50:  # sign (int64)
            norm = run_sign_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 51:  # floor (float64)
            norm = run_floor_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 52:  # floor (float32)
            norm = run_floor_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 53:  # ceil (float64)
            norm = run_ceil_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 54:  # ceil (float32)
            norm = run_ceil_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 55:  # trunc (float64)
            norm = run_trunc_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 56:  # trunc (float32)
            norm = run_trunc_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 57:  # round (float64)
            norm = run_round_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 58:  # round (float32)
            norm = run_round_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 59:  # logaddexp (float64)
            norm = run_logaddexp_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 60:  # logaddexp (float32)
            norm = run_logaddexp_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 61:  # fmod (float64)
            norm = run_fmod_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 62:  # fmod (float32)
            norm = run_fmod_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 63:  # fmod (int64)
            norm = run_fmod_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 64:  # floor_divide (float64)
            norm = run_floor_divide_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 65:  # floor_divide (float32)
            norm = run_floor_divide_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 66:  # floor_divide (int64)
            norm = run_floor_divide_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 67:  # remainder (float64)
            norm = run_remainder_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 68:  # remainder (float32)
            norm = run_remainder_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 69:  # remainder (int64)
            norm = run_remainder_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 70:  # eq (float64)
            norm = run_eq_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 71:  # eq (float32)
            norm = run_eq_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 72:  # eq (int64)
            norm = run_eq_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 73:  # ne (float64)
            norm = run_ne_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 74:  # ne (float32)
            norm = run_ne_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 75:  # ne (int64)
            norm = run_ne_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 76:  # lt (float64)
            norm = run_lt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 77:  # lt (float32)
            norm = run_lt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 78:  # lt (int64)
            norm = run_lt_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 79:  # le (float64)
            norm = run_le_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 80:  # le (float32)
            norm = run_le_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 81:  # le (int64)
            norm = run_le_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 82:  # gt (float64)
            norm = run_gt_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 83:  # gt (float32)
            norm = run_gt_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 84:  # gt (int64)
            norm = run_gt_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 85:  # ge (float64)
            norm = run_ge_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 86:  # ge (float32)
            norm = run_ge_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 87:  # ge (int64)
            norm = run_ge_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 88:  # logical_and (float64)
            norm = run_logical_and_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 89:  # logical_and (float32)
            norm = run_logical_and_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 90:  # logical_and (int64)
            norm = run_logical_and_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 91:  # logical_or (float64)
            norm = run_logical_or_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 92:  # logical_or (float32)
            norm = run_logical_or_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 93:  # logical_or (int64)
            norm = run_logical_or_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 94:  # logical_not (float64)
            norm = run_logical_not_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 95:  # logical_not (float32)
            norm = run_logical_not_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 96:  # logical_not (int64)
            norm = run_logical_not_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 97:  # where (float64)
            norm = run_where_f(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 98:  # where (float32)
            norm = run_where_s(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op == 99:  # where (int64)
            norm = run_where_i(F, I, S, norm, out, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
        elif op <= 107:  # float64 structural
            status = structural_f(op, F, I, aux, ctr, acc, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
            if status != 0:
                return status
        elif op <= 115:  # int64 structural
            status = structural_i(op, I, aux, ctr, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
            if status != 0:
                return status
        elif op <= 123:  # float32 structural
            status = structural_s(op, S, I, aux, ctr, acc, out, count, no, ni, a, aso, asi, b, bso, bsi, c, cso, csi)
            if status != 0:
                return status
        elif op == 124:
            product_f(F, out, no, ni, a, aso, asi, b, bso, bsi, c, cso)
        elif op == 125:
            product_s(S, out, no, ni, a, aso, asi, b, bso, bsi, c, cso)
        elif op <= 134:
            convert(op, F, I, S, out, no, ni, a, aso, asi)
        elif op == 135:
            return count
        if norm != 0:
            normalize(I, norm, out, count)
    return 0
