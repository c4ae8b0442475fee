"""Tests for wemem_pipeline.core.leaderboard: over seeds, fronts, counts across datasets and
the WeMem verdicts, on hand-made comparison tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wemem_pipeline.core.errors import ParameterError
from wemem_pipeline.core.leaderboard import (
    CompareRun,
    LeaderboardConfig,
    front_counts,
    leaderboard_table,
    paper_claim,
    wemem_verdicts,
)
from wemem_pipeline.core.reports.leaderboard import leaderboard_document, leaderboard_figure

CONFIG = LeaderboardConfig()


def compare_table(rows: dict[str, tuple[str, float, float]], width: float = 0.01) -> pd.DataFrame:
    """A compare table: run -> (defense, test accuracy, TPR@1%FPR), intervals ± ``width``."""
    table = pd.DataFrame(
        [
            {"run": run, "defense": defense, "test_accuracy": accuracy, "tpr_at_1pct_fpr": tpr}
            for run, (defense, accuracy, tpr) in rows.items()
        ]
    )
    table["tpr_at_1pct_fpr_ci_low"] = table["tpr_at_1pct_fpr"] - width
    table["tpr_at_1pct_fpr_ci_high"] = table["tpr_at_1pct_fpr"] + width
    table["time_relative_to_base"] = 1.0
    table["epsilon"] = np.where(table["defense"] == "dpsgd", 8.0, np.nan)
    table["epsilon_covers"] = np.where(table["defense"] == "dpsgd", "the whole training", None)
    return table


def audit_metrics(worst: dict[str, float]) -> pd.DataFrame:
    """Audit metrics of two attacks per stage on the canaries; the stronger is ``worst``."""
    rows = []
    for stage, value in worst.items():
        for attack, tpr in (("lira_online", value), ("loss", value / 2)):
            rows.append(
                {
                    "stage": stage,
                    "evaluation": "canaries",
                    "attack": attack,
                    "tpr_at_1pct_fpr": tpr,
                    "tpr_at_1pct_fpr_ci_low": tpr - 0.05,
                    "tpr_at_1pct_fpr_ci_high": tpr + 0.05,
                }
            )
    return pd.DataFrame(rows)


GRID = {
    "Dense": ("dense", 0.95, 0.30),
    "Base": ("base", 0.93, 0.20),
    "SWMR": ("swmr", 0.92, 0.10),
    "HAMP": ("hamp", 0.94, 0.05),
    "DP-SGD": ("dpsgd", 0.80, 0.01),
}


def run(dataset="digits", seed=0, rows=GRID, worst=None, tuned=False) -> CompareRun:
    return CompareRun(
        run_id=f"run-{dataset}-{seed}",
        dataset=dataset,
        seed=seed,
        tuned=tuned,
        table=compare_table(rows),
        test_samples=400,
        audit_metrics=None if worst is None else audit_metrics(worst),
    )


def test_one_seed_keeps_the_runs_own_intervals_and_finds_the_fronts():
    worst = {"dense": 0.9, "base": 0.7, "SWMR": 0.3, "HAMP": 0.5, "DP-SGD": 0.1}
    table = leaderboard_table([run(worst=worst)], CONFIG).set_index("run")
    assert table.loc["SWMR", "population_ci_low"] == pytest.approx(0.09)
    half = stats.norm.ppf(0.975) * np.sqrt(0.92 * 0.08 / 400)
    assert table.loc["SWMR", "accuracy_ci_high"] == pytest.approx(0.92 + half)
    # The audit's strongest attack, its lower-case Dense and Base matched to the table's.
    assert table.loc["Base", "worst_case"] == 0.7 and table.loc["SWMR", "worst_case"] == 0.3
    # HAMP dominates SWMR and Base on the population; DP-SGD is the least leaky.
    assert table["front_population"].to_dict() == {
        "Dense": False,
        "Base": False,
        "SWMR": False,
        "HAMP": True,
        "DP-SGD": True,
    }
    # In the worst case SWMR (0.3) is less leaky than HAMP (0.5): three on the front.
    assert table.loc[["SWMR", "HAMP", "DP-SGD"], "front_worst_case"].all()
    assert not table.loc["Dense", "front_worst_case"]


def test_seeds_are_averaged_with_a_t_interval():
    other = {**GRID, "SWMR": ("swmr", 0.90, 0.14)}
    table = leaderboard_table([run(seed=0), run(seed=1, rows=other)], CONFIG).set_index("run")
    swmr = table.loc["SWMR"]
    assert swmr["seeds"] == 2 and swmr["accuracy"] == pytest.approx(0.91)
    half = stats.t.ppf(0.975, 1) * np.std([0.10, 0.14], ddof=1) / np.sqrt(2)
    assert swmr["population_ci_high"] == pytest.approx(0.12 + half)
    assert swmr["runs"] == "run-digits-0 run-digits-1"
    dp = table.loc["DP-SGD"]  # 0.01 on both seeds: no spread, the interval is the point
    assert dp["population_ci_low"] == dp["population_ci_high"] == pytest.approx(0.01)
    spread = {**GRID, "SWMR": ("swmr", 0.90, 0.0)}
    low = leaderboard_table([run(seed=0), run(seed=1, rows=spread)], CONFIG).set_index("run")
    assert low.loc["SWMR", "population_ci_low"] == 0.0  # not below: a rate
    assert np.isnan(swmr["worst_case"])  # neither run had an audit


def test_tuned_runs_are_matched_by_defense_across_seeds():
    first = {"Base": GRID["Base"], "SWMR window.width=0.3": ("swmr", 0.9, 0.1)}
    second = {"Base": GRID["Base"], "SWMR window.width=0.5": ("swmr", 0.9, 0.2)}
    table = leaderboard_table(
        [run(seed=0, rows=first, tuned=True), run(seed=1, rows=second, tuned=True)], CONFIG
    )
    swmr = table[table["defense"] == "swmr"]
    assert len(swmr) == 1 and swmr["seeds"].iloc[0] == 2
    assert swmr["population"].iloc[0] == pytest.approx(0.15)


def test_front_counts_across_datasets():
    fmnist = {**GRID, "SWMR": ("swmr", 0.96, 0.04)}  # SWMR dominates HAMP there
    table = leaderboard_table([run(), run("fashion_mnist", rows=fmnist)], CONFIG)
    counts = front_counts(table).set_index("defense")
    assert "dense" not in counts.index
    assert counts.loc["swmr", "datasets"] == 2
    assert counts.loc["swmr", "front_population"] == 1
    assert counts.loc["hamp", "front_population"] == 1
    assert counts.loc["dpsgd", "front_population"] == 2
    assert counts.loc["swmr", "front_worst_case"] == 0  # no audit


def test_wemem_wins_loses_or_cannot_be_told_apart():
    beaten = leaderboard_table([run()], CONFIG)
    assert "population leakage **loses** to HAMP" in wemem_verdicts(beaten)["digits"][0]
    wins = {**GRID, "SWMR": ("swmr", 0.95, 0.02), "HAMP": ("hamp", 0.94, 0.05)}
    table = leaderboard_table([run(rows=wins)], CONFIG)
    assert "**wins** over HAMP (on the front)" in wemem_verdicts(table)["digits"][0]
    close = {**GRID, "SWMR": ("swmr", 0.94, 0.06)}  # behind HAMP, within the intervals
    table = leaderboard_table([run(rows=close)], CONFIG)
    line = wemem_verdicts(table)["digits"][0]
    assert "cannot be told apart from the baselines (off the front)" in line


def test_the_report_has_a_table_per_dataset_and_a_figure_row_each():
    worst = {"dense": 0.9, "base": 0.7, "SWMR": 0.3, "HAMP": 0.5, "DP-SGD": 0.1}
    table = leaderboard_table([run(worst=worst), run("adult")], CONFIG)
    markdown = leaderboard_document(table, CONFIG).markdown()
    assert "## `digits` (1 seed, settings as configured)" in markdown and "## `adult`" in markdown
    assert "8 (the whole training)" in markdown  # DP-SGD's epsilon and what it covers
    assert "| digits    | fails        | undecided    |" in markdown  # the claim per dataset
    figure = leaderboard_figure(table, CONFIG)
    assert len(figure.axes) == 4


@pytest.mark.parametrize(
    "values, named",
    [
        ({"metric": "accuracy"}, "leaderboard.metric"),
        ({"worst_case": "population"}, "leaderboard.worst_case"),
        ({"tuned": "yes"}, "leaderboard.tuned"),
        ({"env": ""}, "leaderboard.env"),
        ({"env": [1]}, "leaderboard.env"),
    ],
)
def test_bad_leaderboard_parameters_are_refused(values, named):
    with pytest.raises(ParameterError, match=named):
        LeaderboardConfig(**values)


def test_the_environments_are_this_runs_or_those_named():
    assert LeaderboardConfig().envs("test") == ["test"]
    assert LeaderboardConfig(env="local fmnist").envs("test") == ["local", "fmnist"]
    assert LeaderboardConfig(env=["adult"]).envs("test") == ["adult"]


def test_the_papers_claim_by_who_is_on_the_front():
    table = leaderboard_table([run()], CONFIG)  # HAMP and DP-SGD on the front
    assert paper_claim(table, "population") == "fails"
    assert paper_claim(table, "worst_case") == "no data"
    ahead = {**GRID, "SWMR": ("swmr", 0.96, 0.005)}  # SWMR alone dominates every baseline
    assert paper_claim(leaderboard_table([run(rows=ahead)], CONFIG), "population") == "holds"
    both = {**GRID, "SWMR": ("swmr", 0.97, 0.06)}  # SWMR more accurate, HAMP less leaky
    assert paper_claim(leaderboard_table([run(rows=both)], CONFIG), "population") == "undecided"
