"""The settings autotune searches: one dimension per dotted setting name.

A search space maps a setting (``window.width``; a dot goes one level into nested settings)
to a dimension: ``{low, high}`` searches a number range (``log: true`` on a log scale; ints
for both ends search integers), ``{choices: [...]}`` one of the values. A plain value pins
the setting. ``when: {other: value}`` searches a setting only when another one takes that
value (RMR's ``decoupled`` only with ``optimizer: separate``); otherwise it keeps its default.
Each defense declares its default space (``Defense.search_space``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError

Space = dict[str, "Dimension"]


@dataclass(frozen=True)
class Dimension:
    """A number range (``low``..``high``, on a log scale when ``log``) or a set of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    when: tuple[tuple[str, Any], ...] = ()  # (setting, value) pairs that must hold

    def applies(self, chosen: Mapping[str, Any]) -> bool:
        """Whether this setting is searched, given the values ``chosen`` so far."""
        return all(chosen.get(name) == value for name, value in self.when)

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def suggest(self, trial: Any, name: str) -> Any:
        """The value an Optuna ``trial`` proposes for setting ``name``."""
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if self.integer:
            return trial.suggest_int(name, self.low, self.high, log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)


def parse_search_space(values: Mapping[str, Any], section: str) -> tuple[Space, dict[str, Any]]:
    """The searched dimensions and the pinned settings of a search-space mapping.

    ``section`` names the mapping in error messages. Refuses a space with nothing to search.
    """
    if not isinstance(values, Mapping):
        raise ParameterError(f"{section} must map setting names to ranges, got {values!r}")
    space, pinned = {}, {}
    for name, spec in values.items():
        if isinstance(spec, Mapping):
            space[str(name)] = _dimension(spec, f"{section}.{name}")
        else:
            pinned[str(name)] = spec
    if not space:
        raise ParameterError(
            f"{section} has nothing to search (pinned: {sorted(pinned) or 'none'})",
            hint="give at least one setting a range {low: .., high: ..} or {choices: [..]}, "
            "or set it to null for the defense's default space",
        )
    return space, pinned


def _dimension(spec: Mapping[str, Any], name: str) -> Dimension:
    when = spec.get("when", {})
    if not isinstance(when, Mapping):
        raise ParameterError(f"{name}.when must map settings to values, got {when!r}")
    keys = set(spec) - {"when"}
    if keys == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ParameterError(f"{name}.choices must be a non-empty list, got {choices!r}")
        return Dimension(choices=tuple(choices), when=tuple(when.items()))
    if keys - {"low", "high", "log"} or not {"low", "high"} <= keys:
        raise ParameterError(
            f"{name} must be {{low: .., high: .., log: false}} or {{choices: [..]}} (and maybe "
            f"when: {{setting: value}}), got "
            f"{dict(spec)!r}"
        )
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:
        raise ParameterError(f"{name} needs numbers low < high, got low={low!r}, high={high!r}")
    if not isinstance(log, bool) or (log and low <= 0):
        raise ParameterError(f"{name}.log must be true or false, and true needs low > 0")
    return Dimension(low=low, high=high, log=log, when=tuple(when.items()))


def nested_settings(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"window.width": 0.3}`` -> ``{"window": {"width": 0.3}}``."""
    settings: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        level = settings
        for parent in parents:
            level = level.setdefault(parent, {})
        level[leaf] = value
    return settings


def suggest_settings(trial: Any, space: Space) -> dict[str, Any]:
    """The values an Optuna ``trial`` proposes for every setting of ``space`` that applies."""
    chosen: dict[str, Any] = {}
    for name, dimension in space.items():
        if dimension.applies(chosen):
            chosen[name] = dimension.suggest(trial, name)
    return chosen


def prefixed(space: Mapping[str, Mapping[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    """A defense's space under ``prefix`` (SWMR's ``window.``/``risky.``), ``when`` included."""
    result = {}
    for name, spec in space.items():
        spec = dict(spec)
        if "when" in spec:
            spec["when"] = {f"{prefix}{key}": value for key, value in spec["when"].items()}
        result[f"{prefix}{name}"] = spec
    return result
