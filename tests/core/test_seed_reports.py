"""Tests for the reports over several seeds: mean ± sd of every row, verdicts paired over
seeds, and the per-seed verdicts beside them, on hand-made reports whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from wemem_pipeline.core.reports import seeds
from wemem_pipeline.core.reports.headline import seeds_headline
from wemem_pipeline.core.verdicts import LOWERED, UNCLEAR


def test_seed_table_gives_mean_and_sd_per_key() -> None:
    tables = {
        0: pd.DataFrame({"model": ["a", "b"], "x": [1.0, 10.0], "name": ["p", "q"]}),
        1: pd.DataFrame({"model": ["a", "b"], "x": [3.0, 10.0], "name": ["p", "q"]}),
    }
    table = seeds.seed_table(tables, ["model"]).set_index("model")
    assert table.loc["a", "x_mean"] == 2.0
    assert table.loc["a", "x_sd"] == pytest.approx(np.sqrt(2.0))
    assert table.loc["b", "x_sd"] == 0.0
    assert "name_mean" not in table  # text columns are not averaged
    assert (table["seeds"] == 2).all()


def scenario_report(seed: int, base_auc: float, defended_auc: float) -> dict:
    def model(name: str, accuracy: float, auc: float) -> dict:
        attack = {
            "balanced_accuracy": auc,
            "auc": auc,
            "tpr_at_1pct_fpr": auc / 10,
            "tpr_at_0_1pct_fpr": 0.0,
            "auc_ci": [auc - 0.05, auc + 0.05],
        }
        return {
            "name": name,
            "test_accuracy": accuracy,
            "sparsity": 0.6,
            "attacks": {"conf": attack},
        }

    return {
        "dataset": "digits",
        "scenario": "scenario3",
        "defense": "swmr",
        "evaluation": {"members": 100, "non_members": 100, "bootstrap": 1000},
        "verdicts": {"auc": UNCLEAR, "tpr_at_1pct_fpr": UNCLEAR},
        "models": [
            model("dense", 0.9, 0.55),
            model("base", 0.91, base_auc),
            model("swmr", 0.89 + seed / 100, defended_auc),
        ],
    }


def test_verdicts_over_seeds_pair_the_seeds_and_keep_each_seed_s_own() -> None:
    # SWMR is 0.02 lower than Base in every seed, while Base itself moves by 0.04 between
    # seeds: no single seed's intervals separate them, the pairing does.
    reports = {s: scenario_report(s, 0.58 + 0.02 * s, 0.56 + 0.02 * s) for s in (0, 1, 2)}
    aggregate = seeds.seeds_report(reports)
    assert aggregate["seeds"] == [0, 1, 2]
    assert aggregate["verdicts"]["auc"]["verdict"] == LOWERED
    assert aggregate["verdicts"]["auc"]["difference"] == pytest.approx(-0.02)
    assert aggregate["verdicts"]["auc"]["per_seed"] == {"0": UNCLEAR, "1": UNCLEAR, "2": UNCLEAR}
    models = {row["model"]: row for row in aggregate["models"]}
    assert models["swmr"]["test_accuracy_mean"] == pytest.approx(0.90)
    assert models["swmr"]["test_accuracy_sd"] == pytest.approx(0.01)
    assert models["base"]["strongest_auc_mean"] == pytest.approx(0.60)
    markdown = seeds.seeds_markdown(aggregate)
    assert "**lowered**" in markdown and "no clear difference in 3 of 3" in markdown
    assert "0.600 ± 0.020" in markdown
    assert isinstance(seeds.seeds_figure(aggregate), Figure)
    # Each ± says what it is: sd over the seeds in the table, a t-interval in the verdict.
    headline = seeds_headline(aggregate)
    assert headline.heading.endswith("(mean ± sd over the seeds)")
    assert "AUC -0.020 ± 0.000 (95% t-interval), lowered" in headline.verdict
    assert "difference -0.020 ± 0.000 (95% t-interval): **lowered**" in markdown


def test_compare_over_seeds_judges_each_run_against_base() -> None:
    def table(seed: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "run": ["Dense", "Base", "PPB lambda=4", "HAMP gamma=0.5"],
                "defense": ["dense", "base", "ppb", "hamp"],
                "test_accuracy": [0.9, 0.9, 0.88, 0.9],
                "auc": [0.55, 0.60 + seed / 50, 0.55 + seed / 50, 0.63 + seed / 50 + seed / 1000],
                "tpr_at_1pct_fpr": [0.02, 0.03, 0.02, 0.03],
                "balanced_accuracy": [0.5, 0.5, 0.5, 0.5],
                "time_relative_to_base": [np.nan, 1.0, 1.2, 1.3],
                "pareto_auc": [True, False, True, False],
            }
        )

    summary = seeds.comparison_seeds({s: table(s) for s in (0, 1, 2)}).set_index("run")
    assert summary.loc["PPB lambda=4", "auc_vs_base"] == LOWERED
    assert summary.loc["HAMP gamma=0.5", "auc_vs_base"] == "raised"
    assert summary.loc["Base", "auc_vs_base"] == ""
    assert summary.loc["PPB lambda=4", "pareto_auc_mean"] == 1.0
    markdown = seeds.comparison_seeds_markdown(summary.reset_index(), "digits", [0, 1, 2])
    assert "lowered" in markdown and "100% of seeds" in markdown
    assert isinstance(seeds.comparison_seeds_figure(summary.reset_index()), Figure)


def test_the_aggregate_keeps_every_seeds_warnings() -> None:
    reports = {s: scenario_report(s, 0.58, 0.56) for s in (0, 1, 2)}
    for report in reports.values():
        report["warnings"] = ["SWMR: none of the risky members entered a window"]
    reports[2]["warnings"].append("Base is at chance")
    aggregate = seeds.seeds_report(reports)
    assert aggregate["warnings"] == [
        "SWMR: none of the risky members entered a window",  # every seed: said once
        "seed 2: Base is at chance",
    ]
    assert "- **seed 2: Base is at chance**" in seeds.seeds_markdown(aggregate)
    assert seeds_headline(aggregate).warnings == aggregate["warnings"]
