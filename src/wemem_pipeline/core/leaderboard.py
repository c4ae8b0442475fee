"""The leaderboard: every defense of the comparison runs, per dataset, over seeds.

Each dataset's newest ``compare`` runs (one per seed) give, per run of the grid, its test
accuracy, its population leakage (the strongest attack's metric on the victim's scored
pairs), its worst-case leakage (the strongest attack on the audit's canaries or memorable
records, with ``compare.audit``), its time against Base and, for DP-SGD, its epsilon. Over
several seeds a number is the mean with a t interval over the seeds (cut to [0, 1]); from one
seed it keeps the run's own interval (bootstrap for leakage, binomial for accuracy). The
fronts are taken on the means; across datasets the summary counts on how many each defense
is on each front.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .compare import pareto_front
from .defenses import WEMEM_NAMES
from .validation import ParameterError, require_choice

METRICS = ("auc", "tpr_at_1pct_fpr")
WORST_CASES = ("canaries", "memorable")
LENSES = ("population", "worst_case")
# The interval's coverage: 95%, as the runs' own bootstrap intervals.
LEVEL = 0.95


@dataclass(frozen=True)
class LeaderboardConfig:
    """The ``leaderboard`` parameter section; see ``conf/base/parameters_leaderboard.yml``."""

    env: str | list[str] | None = None
    tuned: bool | None = None
    metric: str = "tpr_at_1pct_fpr"
    worst_case: str = "canaries"

    def __post_init__(self) -> None:
        require_choice("leaderboard.metric", self.metric, METRICS)
        require_choice("leaderboard.worst_case", self.worst_case, WORST_CASES)
        if self.tuned not in (None, True, False):
            raise ParameterError(
                f"leaderboard.tuned must be true, false or null, got {self.tuned!r}"
            )
        names = self.env.split() if isinstance(self.env, str) else self.env
        if self.env is not None and (
            not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)
        ):
            raise ParameterError(
                "leaderboard.env must be environment names (a list, or separated by spaces), "
                f"got {self.env!r}"
            )

    def envs(self, own: str) -> list[str]:
        """The environments whose compare runs count (``own``, this run's, by default)."""
        if self.env is None:
            return [own]
        return self.env.split() if isinstance(self.env, str) else list(self.env)


@dataclass
class CompareRun:
    """One seed of one ``compare`` run: its table, its scored non-members (for accuracy's
    interval) and the audit's metrics (None or empty without ``compare.audit``)."""

    run_id: str
    dataset: str
    seed: int
    tuned: bool
    table: pd.DataFrame
    test_samples: int
    audit_metrics: pd.DataFrame | None = None


def run_rows(run: CompareRun, config: LeaderboardConfig) -> pd.DataFrame:
    """One row per run of ``run``'s grid: accuracy, both leakages with their intervals, time
    against Base and epsilon."""
    metric = config.metric
    table = run.table
    rows = pd.DataFrame(
        {
            "dataset": run.dataset,
            "seed": run.seed,
            "run_id": run.run_id,
            "tuned": run.tuned,
            "run": table["run"],
            "defense": table["defense"],
            "accuracy": table["test_accuracy"],
            "population": table[metric],
            "population_ci_low": table[f"{metric}_ci_low"],
            "population_ci_high": table[f"{metric}_ci_high"],
            "time_vs_base": table.get("time_relative_to_base", np.nan),
            "epsilon": table.get("epsilon", np.nan),
            "epsilon_covers": table.get("epsilon_covers", pd.Series(dtype=object)),
        }
    )
    half = stats.norm.ppf(0.5 + LEVEL / 2) * np.sqrt(
        rows["accuracy"] * (1 - rows["accuracy"]) / max(run.test_samples, 1)
    )
    rows["accuracy_ci_low"] = rows["accuracy"] - half
    rows["accuracy_ci_high"] = rows["accuracy"] + half
    return rows.merge(worst_case(run, config), on="run", how="left")


def worst_case(run: CompareRun, config: LeaderboardConfig) -> pd.DataFrame:
    """Per run, the strongest attack's metric on the audit's ``worst_case`` records (empty
    without an audit). The audit names Dense and Base in lower case, the rest as compare."""
    columns = ["run", "worst_case", "worst_case_ci_low", "worst_case_ci_high", "worst_case_attack"]
    if run.audit_metrics is None or run.audit_metrics.empty:
        return pd.DataFrame(columns=columns)
    metric = config.metric
    rows = run.audit_metrics[run.audit_metrics["evaluation"] == config.worst_case]
    strongest = rows.loc[rows.groupby("stage", sort=False)[metric].idxmax()]
    names = {"dense": "Dense", "base": "Base"}
    return pd.DataFrame(
        {
            "run": strongest["stage"].map(lambda s: names.get(s, s)).to_numpy(),
            "worst_case": strongest[metric].to_numpy(),
            "worst_case_ci_low": strongest[f"{metric}_ci_low"].to_numpy(),
            "worst_case_ci_high": strongest[f"{metric}_ci_high"].to_numpy(),
            "worst_case_attack": strongest["attack"].to_numpy(),
        }
    )


def leaderboard_table(runs: Sequence[CompareRun], config: LeaderboardConfig) -> pd.DataFrame:
    """One row per dataset and run of the grid, over the seeds, with both fronts.

    Tuned runs are matched across seeds by defense (their settings differ by seed), the
    others by their label (the same grid point).
    """
    if not runs:
        return pd.DataFrame()
    per_seed = pd.concat([run_rows(run, config) for run in runs], ignore_index=True)
    per_seed["entry"] = np.where(per_seed["tuned"], per_seed["defense"], per_seed["run"])
    frames = [_over_seeds(rows) for _, rows in per_seed.groupby(["dataset", "entry"], sort=False)]
    table = pd.DataFrame(frames)
    for lens in LENSES:
        table[f"front_{lens}"] = False
        for _, rows in table.groupby("dataset", sort=False):
            candidates = rows[(rows["defense"] != "dense") & rows[lens].notna()]
            if len(candidates):
                on_front = pareto_front(candidates["accuracy"], candidates[lens])
                table.loc[candidates.index, f"front_{lens}"] = on_front
    return table


def _over_seeds(rows: pd.DataFrame) -> dict:
    """A grid point's seeds as one entry: means, and their intervals (see the module)."""
    first = rows.iloc[0]
    entry = {
        "dataset": first["dataset"],
        "run": first["run"] if len(set(rows["run"])) == 1 else first["entry"],
        "defense": first["defense"],
        "tuned": bool(first["tuned"]),
        "seeds": len(rows),
        "runs": " ".join(sorted(set(rows["run_id"]))),
    }
    for measure in ("accuracy", "population", "worst_case"):
        entry |= _interval(rows, measure)
    entry["worst_case_attack"] = _most_common(rows.get("worst_case_attack"))
    entry["time_vs_base"] = rows["time_vs_base"].mean()
    entry["epsilon"] = rows["epsilon"].mean()
    entry["epsilon_covers"] = _most_common(rows["epsilon_covers"])
    return entry


def _interval(rows: pd.DataFrame, measure: str) -> dict[str, float]:
    if measure not in rows or rows[measure].isna().all():
        return {measure: np.nan, f"{measure}_ci_low": np.nan, f"{measure}_ci_high": np.nan}
    values = rows[measure].dropna()
    if len(values) == 1:
        row = rows.loc[values.index[0]]
        low, high = row[f"{measure}_ci_low"], row[f"{measure}_ci_high"]
    else:
        half = stats.t.ppf(0.5 + LEVEL / 2, len(values) - 1) * values.std(ddof=1)
        half /= math.sqrt(len(values))
        # Every measure is a rate: a t interval over few seeds may reach past [0, 1].
        low, high = max(values.mean() - half, 0.0), min(values.mean() + half, 1.0)
    return {measure: values.mean(), f"{measure}_ci_low": low, f"{measure}_ci_high": high}


def _most_common(values: pd.Series | None) -> str | None:
    if values is None:
        return None
    values = values.dropna()
    return None if values.empty else str(values.mode().iloc[0])


def front_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Per defense: on how many datasets it ran, and on how many one of its runs is on each
    front (Dense, never pruned, is on neither)."""
    if table.empty:
        return pd.DataFrame(columns=["defense", "datasets", *(f"front_{x}" for x in LENSES)])
    pruned = table[table["defense"] != "dense"]
    by_dataset = pruned.groupby(["defense", "dataset"], sort=False)[
        [f"front_{lens}" for lens in LENSES]
    ].any()
    counts = by_dataset.groupby("defense", sort=False).sum().astype(int)
    counts.insert(0, "datasets", by_dataset.groupby("defense", sort=False).size())
    return counts.reset_index()


def clearly_below(low_high: tuple[float, float], other: tuple[float, float]) -> bool:
    """Whether an interval lies wholly below another."""
    return bool(low_high[1] < other[0])


def wemem_verdicts(table: pd.DataFrame, lenses: Iterable[str] = LENSES) -> dict[str, list[str]]:
    """Per dataset, what each WeMem run does against the baseline defenses (not Base), per
    lens: it wins over those it clearly beats (as accurate, its leakage interval wholly
    below theirs), loses to one that clearly beats it, or cannot be told apart."""
    verdicts: dict[str, list[str]] = {}
    for dataset, rows in table.groupby("dataset", sort=False):
        lines = []
        baselines = rows[~rows["defense"].isin((*WEMEM_NAMES, "dense", "base"))]
        for _, own in rows[rows["defense"].isin(WEMEM_NAMES)].iterrows():
            parts = [_lens_verdict(own, baselines, lens) for lens in lenses if pd.notna(own[lens])]
            if parts:
                lines.append(f"{own['run']}: " + "; ".join(parts) + ".")
        verdicts[str(dataset)] = lines
    return verdicts


def _lens_verdict(own: pd.Series, baselines: pd.DataFrame, lens: str) -> str:
    name = lens.replace("_", "-")
    own_interval = (own[f"{lens}_ci_low"], own[f"{lens}_ci_high"])
    others = baselines[baselines[lens].notna()]
    beaten_by = [
        other["run"]
        for _, other in others.iterrows()
        if other["accuracy"] >= own["accuracy"]
        and clearly_below((other[f"{lens}_ci_low"], other[f"{lens}_ci_high"]), own_interval)
    ]
    if beaten_by:
        return f"{name} leakage **loses** to {', '.join(beaten_by)} (less leaky, as accurate)"
    beats = [
        other["run"]
        for _, other in others.iterrows()
        if own["accuracy"] >= other["accuracy"]
        and clearly_below(own_interval, (other[f"{lens}_ci_low"], other[f"{lens}_ci_high"]))
    ]
    front = "on the front" if own[f"front_{lens}"] else "off the front"
    if beats:
        return f"{name} leakage **wins** over {', '.join(beats)} ({front})"
    return f"{name} leakage cannot be told apart from the baselines ({front})"


def paper_claim(rows: pd.DataFrame, lens: str) -> str:
    """The paper's claim (WeMem beats the baselines on the privacy-utility trade-off) on one
    dataset's ``rows`` and ``lens``, by who is on the front: ``holds`` (WeMem runs only),
    ``fails`` (baseline defenses only), ``undecided`` (both, or neither), or ``no data``."""
    if rows[lens].isna().all():
        return "no data"
    front = rows.loc[rows[f"front_{lens}"], "defense"]
    wemem = front.isin(WEMEM_NAMES).any()
    baselines = (~front.isin((*WEMEM_NAMES, "dense", "base"))).any()
    if wemem and not baselines:
        return "holds"
    if baselines and not wemem:
        return "fails"
    return "undecided"
