"""A WeMem scenario: Dense vs Base iterative pruning vs a defended iterative pruning.

The defended run prunes every model (victim and shadows alike) with the scenario's defense;
the attacks then see the dense victim, Base's last round and the defended run's rounds.
The report is assembled in :mod:`.reports.scenario`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .evaluation import last_round, round_stage
from .splits import VICTIM


def scenario_stages(
    dense: Mapping[int, Any], base: Mapping[int, Any], defended: Mapping[int, Any], defense: str
) -> dict[str, Any]:
    """The outputs to attack: dense, the last Base round, and the defended run's rounds.

    Each argument maps a recorded round to its outputs.
    """
    stages = {"dense": last_round(dense), "base": last_round(base)}
    stages |= {f"{defense}_{round_stage(r)}": outputs for r, outputs in sorted(defended.items())}
    return stages


def reuse_statistics(sample_uses: pd.DataFrame, model: str = VICTIM) -> dict[str, float]:
    """How often ``model``'s members were trained on, per round and over all rounds."""
    rows = sample_uses[sample_uses["model"] == model]
    per_round = rows.groupby("round")["uses"]
    totals = rows.groupby("sample_index")["uses"].sum()
    return {
        "members": int(totals.size),
        "members_seen_per_round": float(per_round.apply(lambda u: (u > 0).sum()).mean()),
        "members_never_seen": int((totals == 0).sum()),
        "mean_uses_per_round": float(per_round.mean().mean()),
        "max_uses_per_round": int(per_round.max().max()),
        "mean_uses_total": float(totals.mean()),
        "max_uses_total": int(totals.max()),
    }
