"""When does a report say a defense "lowered" or "raised" leakage? Only when the data support it.

One seed: when the two 95% bootstrap intervals do not overlap (a conservative rule: a
difference can be real and still leave them overlapping). Several seeds: when the paired
t-interval of the per-seed differences excludes zero. Otherwise: "no clear difference".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

LOWERED, RAISED, UNCLEAR, UNRESOLVABLE = (
    "lowered",
    "raised",
    "no clear difference",
    "not resolvable",
)


def interval_verdict(reference: Sequence[float], other: Sequence[float]) -> str:
    """Compare ``other``'s interval ``(low, high)`` with ``reference``'s."""
    if other[1] < reference[0]:
        return LOWERED
    if other[0] > reference[1]:
        return RAISED
    return UNCLEAR


def seed_verdict(
    reference: Sequence[float], other: Sequence[float], level: float = 0.95
) -> tuple[str, float, float]:
    """Paired over seeds: the verdict, the mean difference ``other - reference`` and the
    half-width of its t-interval (NaN with one seed, which gives no verdict)."""
    differences = np.asarray(other, dtype=float) - np.asarray(reference, dtype=float)
    mean = float(differences.mean())
    if len(differences) < 2:
        return UNCLEAR, mean, float("nan")
    sd = float(differences.std(ddof=1))
    half_width = float(stats.t.ppf(0.5 + level / 2, len(differences) - 1)) * sd
    half_width /= np.sqrt(len(differences))
    if mean + half_width < 0:
        return LOWERED, mean, half_width
    if mean - half_width > 0:
        return RAISED, mean, half_width
    return UNCLEAR, mean, half_width


def unresolved_sentence(verdicts: Mapping[str, str], dataset: str, pairs: int) -> str | None:
    """What to run when no metric of ``verdicts`` (one seed, by intervals) came out lowered
    or raised: ``pairs`` scored members against as many non-members set the intervals'
    width, and on the built-in ``digits`` no split gives many more (docs/evaluation.md)."""
    if any(verdict in (LOWERED, RAISED) for verdict in verdicts.values()):
        return None
    larger = (
        "`--env=fmnist` (Fashion-MNIST, 10,000 samples per pool)"
        if dataset == "digits"
        else "more data, or several seeds (`--params evaluation.seeds=3`)"
    )
    return (
        f"Unresolved: {pairs} scored pairs give intervals too wide for a difference this "
        f"small; for a resolved answer run with {larger}."
    )
