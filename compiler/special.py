"""Special functions for the kernels, in float64: digamma, polygamma and erfinv (libm has none of them).

Eager mode and the executor take these functions from scipy; a kernel calls
the versions here (through ``compiler/runtime.py``, which rounds them once to
float32 for float32 kernels).  Each follows scipy's values at the special
points (poles, infinities, signed zeros) so that a kernel and eager mode give
the same NaN and infinities, and stays within a few float64 ulps elsewhere
(``tests/test_vecmath.py`` measures the bounds stated below against scipy).

- ``digamma(x)``: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10,
  then the asymptotic series in 1/x^2; the reflection psi(x) = psi(1 - x) -
  pi cot(pi x) below zero, with the cotangent's argument reduced exactly.
  Within 2e-14 max(1, |psi(x)|) at least 0.01 away from the poles (closer,
  the rounding of x itself dominates: psi' ~ 1/(x - pole)^2).
- ``hurwitz_zeta(s, q)`` (integer s >= 2), and from it ``polygamma(n, x) =
  (-1)^(n+1) n! zeta(n + 1, x)``: terms summed directly until q + k passes
  max(10, s), the tail by Euler-Maclaurin summation with its Bernoulli
  terms (derived here from the Bernoulli numbers).  Within 2e-15 relative
  for n <= 4 away from the poles, 5e-14 at n = 10.
- ``erfinv(y)``: Winitzki's closed-form approximation (2008, relative error
  below 2e-3) refined by three Halley steps on erf(x) = y, or on erfc(x) =
  1 - |y| for |y| > 1/2, where 1 - |y| is exact and erfc keeps relative
  accuracy in the tail.  Within 4e-16 relative.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

__all__ = ["digamma", "polygamma", "hurwitz_zeta", "erfinv"]

_OPTIONS = dict(error_model="numpy", nogil=True, cache=True)


def _bernoulli_even(count: int) -> list[Fraction]:
    """B_2, B_4, ..., B_2count, exactly (the recurrence sum_{k<m+1} C(m+1, k) B_k = 0)."""
    b = [Fraction(1)]
    for m in range(1, 2 * count + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return [b[2 * j] for j in range(1, count + 1)]


_B = _bernoulli_even(12)
#: B_2j / (2j) for j = 1..7: psi(x) ~ log x - 1/(2x) - sum_j B_2j / (2j) x^-2j.
_PSI_SERIES = np.array([float(b / (2 * j)) for j, b in enumerate(_B[:7], start=1)])
#: B_2j / (2j)! for j = 1..12: the Euler-Maclaurin tail of the Hurwitz zeta sum.
_EM_SERIES = np.array([float(b / math.factorial(2 * j)) for j, b in enumerate(_B, start=1)])


@njit(**_OPTIONS)
def _pi_cot_pi(x):
    """pi cot(pi x) with the argument reduced to [-1/2, 1/2] exactly (cot has period 1)."""
    r = x - np.round(x)
    return math.pi / math.tan(math.pi * r)


@njit(**_OPTIONS)
def digamma(x):
    """psi(x) = Gamma'(x) / Gamma(x): -inf at +0, inf at -0, NaN at negative integers and -inf."""
    if x == 0.0:
        return -math.copysign(math.inf, x)
    if x != x or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    result = 0.0
    if x < 0.0:
        if x == math.floor(x):
            return math.nan
        result = -_pi_cot_pi(x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    for j in range(_PSI_SERIES.size - 1, -1, -1):
        series = (series + _PSI_SERIES[j]) * inv2
    return result + (math.log(x) - 0.5 / x - series)


@njit(**_OPTIONS)
def hurwitz_zeta(s, q):
    """zeta(s, q) = sum_k (q + k)^-s for integer s >= 2: inf at the poles q = 0, -1, -2, ...."""
    if q <= 0.0 and q == math.floor(q):
        return math.inf
    if q != q:
        return math.nan
    if q == math.inf:
        return 0.0
    total = 0.0
    edge = max(10.0, s)
    while q < edge:
        total += q ** -s
        q += 1.0
    # sum_{k>=0} f(q + k), f(x) = x^-s: integral + f(q)/2 + sum_j B_2j/(2j)! (s)_(2j-1) q^(-s-2j+1).
    head = q ** -s
    total += q ** (1.0 - s) / (s - 1.0) + 0.5 * head
    rising = s  # (s)_(2j-1) = s (s+1) ... (s+2j-2)
    power = head / q  # q^(-s-2j+1)
    inv2 = 1.0 / (q * q)
    for j in range(_EM_SERIES.size):
        term = _EM_SERIES[j] * rising * power
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
        rising *= (s + 2 * j + 1) * (s + 2 * j + 2)
        power *= inv2
    return total


@njit(**_OPTIONS)
def polygamma(n, x):
    """The n-th derivative of digamma (n = 0: digamma), scipy's values at the poles."""
    if n == 0:
        return digamma(x)
    factorial = 1.0
    for k in range(2, n + 1):
        factorial *= k
    sign = 1.0 if n % 2 == 1 else -1.0
    return (sign * factorial) * hurwitz_zeta(float(n + 1), x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_WINITZKI_A = 0.147


@njit(**_OPTIONS)
def erfinv(y):
    """x with erf(x) = y on [-1, 1]: +-inf at +-1, NaN outside, y itself at +-0."""
    if y == 0.0 or y != y:
        return y
    a = abs(y)
    if a >= 1.0:
        return math.copysign(math.inf, y) if a == 1.0 else math.nan
    log_term = math.log((1.0 - a) * (1.0 + a))
    c = 2.0 / (math.pi * _WINITZKI_A) + 0.5 * log_term
    x = math.sqrt(math.sqrt(c * c - log_term / _WINITZKI_A) - c)
    tail = 1.0 - a  # exact for a > 1/2
    for _ in range(3):
        # Halley on f(x) = erf(x) - a (or erfc(x) - (1 - a)), with f'' = -2x f': x -= u / (1 + x u), u = f / f'.
        slope = _TWO_OVER_SQRT_PI * math.exp(-x * x)
        if slope == 0.0:
            break
        f = math.erf(x) - a if a <= 0.5 else tail - math.erfc(x)
        u = f / slope
        x -= u / (1.0 + x * u)
    return math.copysign(x, y)
