"""Exact sums of money and durations: integers in units of 2**-1074, order-free and correctly rounded.

A float is n / 2**k with k <= 1074, so n << (1074 - k) is it scaled to an integer
exactly; integer sums are exact and do not depend on the order of the additions
(so partial reports merge into the one-process figures), and one division rounds them correctly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["exact_units", "from_units", "units"]

_SCALE_BITS = 1074
_SCALE = 1 << _SCALE_BITS


def units(value: float | int) -> int:
    """``value`` in exact units (an integer)."""
    if type(value) is int:
        return value << _SCALE_BITS
    numerator, denominator = float(value).as_integer_ratio()
    return numerator << (_SCALE_BITS - denominator.bit_length() + 1)


def from_units(amount: int) -> float:
    """Exact units as the nearest float."""
    return amount / _SCALE


def exact_units(values: Sequence[float]) -> int:
    """The exact sum of finite floats in units, as ``sum(map(units, values))`` but in a few C passes.

    ``math.fsum`` gives the correctly rounded sum; subtracting it and summing
    again gives the rounding error, and so on until the rest is exactly zero
    (every float is a multiple of 2**-1074, so a nonzero rest never rounds to
    0). Each rest is at most half an ulp of the one before, so this ends after
    two or three passes, and within 40 whatever the values.
    """
    work = list(values)
    total = 0
    try:
        partial = math.fsum(work)
        while partial:
            total += units(partial)
            work.append(-partial)
            partial = math.fsum(work)
    except OverflowError:  # sums beyond 1.8e308: the slow way
        return sum(map(units, values))
    return total
