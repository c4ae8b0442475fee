"""Parameter checks that name the parameter and the allowed values in their message."""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .errors import ParameterError

T = TypeVar("T")


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


def check_known_keys(section: str, values: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse keys of ``section`` outside ``known``: a typo must not silently take a default."""
    known = sorted(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ParameterError(f"{section} has unknown keys {unknown}; known keys: {known}")


def from_mapping(cls: type[T], section: str, values: Mapping[str, Any] | None) -> T:
    """The dataclass ``cls`` built from the parameter section ``section``.

    Unknown keys are refused. The key ``lambda`` (a Python keyword) sets the field
    ``lambda_``. A ``section`` field, where ``cls`` has one, gets ``section``, so that the
    dataclass's own checks name the parameter.
    """
    if values is not None and not isinstance(values, Mapping):
        raise ParameterError(f"{section} must be a mapping of settings, got {values!r}")
    values = dict(values or {})
    names = [f.name for f in dataclasses.fields(cls)]
    field_of_key = {_settings_key(name): name for name in names if name != "section"}
    check_known_keys(section, values, field_of_key)
    arguments = {field_of_key[key]: value for key, value in values.items()}
    if "section" in names:
        arguments["section"] = section
    return cls(**arguments)


def _settings_key(field_name: str) -> str:
    stem = field_name.removesuffix("_")
    return stem if keyword.iskeyword(stem) else field_name
