"""Parameter checks that name the parameter and the allowed values in their message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ParameterError(ValueError):
    """A parameter is outside its allowed values; raised before any training starts."""


def require_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def require_number(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """``value`` must be a real number in the interval from ``low`` to ``high``."""
    number_like = isinstance(value, (int, float)) and not isinstance(value, bool)
    above = number_like and (value >= low if low_inclusive else value > low)
    below = number_like and (value <= high if high_inclusive else value < high)
    if not (above and below):
        interval = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
        raise ParameterError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def require_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise ParameterError(f"{name} must be one of {choices}, got {value!r}")
    return value
