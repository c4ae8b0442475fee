"""Tests for wemem_pipeline.core.reports: table cells, titles and the default run's report,
on hand-made histories and attack metrics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from wemem_pipeline.core.chance import ChanceLevel
from wemem_pipeline.core.defenses import DEFENSES, idle_in_summary
from wemem_pipeline.core.errors import ArtifactError
from wemem_pipeline.core.metrics import METRIC_NAMES
from wemem_pipeline.core.pruning import PROCEDURES
from wemem_pipeline.core.reports import run, stored
from wemem_pipeline.core.reports.headline import attacks_headline, report_headline, stored_headline
from wemem_pipeline.core.reports.scenario import budget_margin, predicted_against_measured
from wemem_pipeline.core.reports.tables import (
    attack_dict,
    attack_table,
    fmt,
    markdown_table,
    metric_cell,
    strongest,
    strongest_cell,
    unresolvable_metrics,
    unresolvable_note,
)
from wemem_pipeline.core.reports.titles import TITLES, title

# ----------------------------------------------------------------------------- table cells


def test_low_fpr_metrics_need_enough_non_members():
    assert unresolvable_metrics(99) == {"tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"}
    assert unresolvable_metrics(219) == {"tpr_at_0_1pct_fpr"}
    assert unresolvable_metrics(1000) == set()
    assert metric_cell("tpr_at_0_1pct_fpr", 0.25, {"tpr_at_0_1pct_fpr"}) == "n/r"
    assert metric_cell("auc", 0.25, {"tpr_at_0_1pct_fpr"}, bold=True) == "**0.250**"
    assert unresolvable_note(1000) == ""
    assert "tpr_at_0_1pct_fpr" in unresolvable_note(219)


def test_fmt_and_markdown_table_print_cells_as_they_are():
    assert fmt(0.12345) == "0.123"
    assert fmt(2.0, 2) == "2.00"
    assert fmt(float("nan")) == fmt(None) == ""
    table = markdown_table(pd.DataFrame({"a": ["0.100", "x"], "b": ["1", ""]}))
    assert "0.100" in table  # not parsed back into the number 0.1
    assert table.splitlines()[0].split("|")[1].strip() == "a"


ATTACKS = {
    "conf": {"balanced_accuracy": 0.6, "auc": 0.7, "tpr_at_1pct_fpr": 0.05, "tpr_at_0_1pct_fpr": 0},
    "lira": {"balanced_accuracy": 0.55, "auc": 0.8, "tpr_at_1pct_fpr": 0.1, "tpr_at_0_1pct_fpr": 0},
}


def test_strongest_attack_per_metric_is_bold():
    assert strongest(ATTACKS, "auc") == ("lira", 0.8)
    assert strongest(ATTACKS, "balanced_accuracy") == ("conf", 0.6)
    assert strongest_cell(ATTACKS, "auc") == "0.800 (lira)"
    assert strongest_cell(ATTACKS, "tpr_at_1pct_fpr", {"tpr_at_1pct_fpr"}) == "n/r (lira)"
    table = attack_table(ATTACKS, {"tpr_at_0_1pct_fpr"}).set_index("attack")
    assert table.loc["lira", "AUC"] == "**0.800**" and table.loc["conf", "AUC"] == "0.700"
    assert table.loc["conf", "balanced acc"] == "**0.600**"
    assert set(table["TPR@0.1%FPR"]) == {"n/r"}
    assert set(table["time s"]) == {"-"}  # no seconds recorded


def test_titles_name_every_stage_and_defense():
    for stage in PROCEDURES:
        assert stage in TITLES
    for name, defense in DEFENSES.items():
        assert title(name) == defense.title
    assert (title("rsw"), title("dpsgd"), title("base")) == ("RSW", "DP-SGD", "Base")
    assert title("round_2") == "round_2"  # other names stay as they are


# ----------------------------------------------------------------------------- the run's report


def _history() -> pd.DataFrame:
    rows = []
    for stage, rounds in (("dense", [0]), ("one_shot", [0]), ("iterative", [1, 0])):
        for model in ("victim", "shadow_0"):
            for r in rounds:  # out of order: the report sorts the victim's rounds
                rows.append(
                    {
                        "model": model,
                        "stage": stage,
                        "round": r,
                        "target_sparsity": 0.3 * r,
                        "sparsity": 0.0 if stage == "dense" else 0.3 * (r + 1),
                        "dev_accuracy": 0.8,
                        "test_accuracy": 0.9 - 0.1 * r if model == "victim" else 0.5,
                        "epochs_run": 3 + r,
                        "seconds": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def _metrics(stages: list[str]) -> pd.DataFrame:
    rows = []
    for i, stage in enumerate(stages):
        for attack, values in ATTACKS.items():
            shifted = {m: values[m] + 0.01 * i for m in METRIC_NAMES}
            rows.append(
                {"stage": stage, "attack": attack, **shifted, "members": 50, "non_members": 50}
            )
    return pd.DataFrame(rows).assign(seconds=0.5)


def test_build_report_takes_each_victim_at_its_last_stage():
    metrics = _metrics(["dense", "one_shot", "round_0", "round_1"])
    report = run.build_report("toy", {"pruning": {"rounds": 2}}, _history(), metrics)
    assert report["evaluation"] == {
        "members": 50,
        "non_members": 50,
        "bootstrap": 1000,
        "null_permutations": 100,
    }
    models = {m["name"]: m for m in report["models"]}
    assert list(models) == list(PROCEDURES)
    assert models["iterative"]["test_accuracy"] == pytest.approx(0.8)  # round 1's victim
    assert models["iterative"]["sparsity"] == pytest.approx(0.6)
    assert models["iterative"]["attacks"] == attack_dict(metrics, "round_1")
    assert models["one_shot"]["attacks"]["lira"]["auc"] == pytest.approx(0.81)
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    assert report["rounds"][0]["attacks"] == attack_dict(metrics, "round_0")
    assert run.roc_panels(report) == {
        "Dense": "dense",
        "One-shot pruned": "one_shot",
        "Iteratively pruned": "round_1",
    }
    assert len(run.report_table(report)) == 3 * len(ATTACKS)
    assert len(run.rounds_table(report)) == 2 * len(ATTACKS)
    markdown = run.run_markdown(report)
    assert markdown.startswith("# Membership leakage of pruned models: `toy`")
    assert "(2 rounds)" in markdown and "n/r" in markdown  # 50 non-members resolve no TPR


def test_a_report_refuses_attack_metrics_without_the_one_shot_stage():
    metrics = _metrics(["dense", "round_0", "round_1"])  # an `attacks` run without one-shot
    with pytest.raises(ArtifactError, match="no attacks on the one_shot stage") as raised:
        run.build_report("toy", {}, _history(), metrics)
    assert "kedro run --pipelines=pruning,attacks" in raised.value.hint


def test_the_attacks_headline_says_when_the_one_shot_stage_was_not_attacked():
    # Each later stage's metrics are 0.01 higher: round_1's strongest AUC is lira's 0.8 + 0.02.
    headline = attacks_headline(_metrics(["dense", "round_0", "round_1"]))
    assert list(headline.table["model"]) == ["Dense", "Iteratively pruned (round 1)"]
    assert headline.numbers["round_1"]["auc"] == pytest.approx(0.82)
    assert headline.verdict.startswith("Iteratively pruned against Dense, strongest attack: AUC")
    assert "0.800 -> 0.820" in headline.verdict
    assert "One-shot pruned: not attacked" in headline.verdict
    assert set(headline.table["strongest TPR@1%FPR"]) == {"n/r"}  # 50 non-members

    complete = attacks_headline(_metrics(["dense", "one_shot", "round_0", "round_1"]))
    assert list(complete.table["model"])[1] == "One-shot pruned"
    assert "not attacked" not in complete.verdict


def test_the_stored_headline_puts_the_stored_model_against_the_project_victim():
    headline = stored_headline(_metrics(["stored", "project_iterative"]))
    assert list(headline.table["model"]) == [
        "Stored model",
        "The project's iteratively pruned victim",
    ]
    assert headline.verdict.startswith(
        "The stored model against the project's iteratively pruned victim, strongest attack: "
        "AUC 0.810 -> 0.800"
    )


def test_stored_markdown_lists_every_panel():
    metrics = _metrics(["stored", "project_iterative"])
    panels = {"Stored": "stored", "Project": "project_iterative"}
    document = stored.stored_document(metrics, panels, {}, title="Stored model", note="A note.")
    markdown = document.markdown()
    assert markdown.startswith("# Stored model")
    assert "A note. 50 members against 50 non-members" in markdown
    assert "| Stored" in markdown and "| Project" in markdown


def test_a_victim_at_chance_accuracy_makes_the_report_say_its_numbers_mean_nothing():
    metrics = _metrics(["dense", "one_shot", "round_0", "round_1"])
    chance = ChanceLevel(majority_rate=0.8, samples=100)  # victims: 0.9, 0.9, then 0.8
    settings = "pruning.sparsity=0.99 leaves few weights"
    report = run.build_report("toy", {}, _history(), metrics, chance, [settings])
    assert report["chance_accuracy"] == {
        "majority_rate": 0.8,
        "test_samples": 100,
        "models_at_chance": ["iterative"],
    }
    assert len(report["warnings"]) == 2 and report["warnings"][1] == settings
    assert report["warnings"][0].startswith("Iteratively pruned is at chance: test accuracy")
    markdown = run.run_markdown(report)
    assert markdown.index("## Warnings") < markdown.index("Iterative pruning to sparsity")
    assert f"- **{settings}**" in markdown
    headline = report_headline(report)
    assert headline.verdict.startswith(
        "Meaningless: Iteratively pruned is at chance accuracy, so its leakage numbers mean "
        "nothing. Iteratively pruned against Dense"
    )
    assert headline.warnings == [settings]  # the chance warning is in the verdict already
    plain = run.build_report("toy", {}, _history(), metrics)
    assert plain["warnings"] == [] and "## Warnings" not in run.run_markdown(plain)
    assert not report_headline(plain).verdict.startswith("Meaningless")


def test_defense_parts_that_never_acted_are_named_from_the_summary():
    swmr = {"risky_total": 104, "risky_in_window_per_round": [0, 0, 0]}
    (warning,) = idle_in_summary("swmr", swmr)
    assert "none of the victim's 104 risky members entered a window in any of the 3 rounds" in (
        warning
    )
    assert "SWMR trained as RSW" in warning
    assert idle_in_summary("swmr", swmr | {"risky_in_window_per_round": [0, 3, 9]}) == []
    (warning,) = idle_in_summary("rmr", {"risky_total": 0})
    assert "no member of the victim was risky" in warning and "RMR trained as Base" in warning
    assert idle_in_summary("rsw", {}) == []


def test_the_predicted_accuracy_loss_is_set_beside_the_victims():
    estimate = {"accuracy_loss": 0.004, "accuracy_noise": 0.013, "max_accuracy_loss": 0.01}
    # The victim's own measure: Base at 0.95 on 352 test samples, a difference of two such
    # accuracies uncertain by sqrt(2 * 0.95 * 0.05 / 352) = 0.0164; with the study's 0.013,
    # 0.0210 together.
    margin = budget_margin(estimate, 0.95, 352)
    assert margin == pytest.approx(math.hypot(0.013, math.sqrt(2 * 0.95 * 0.05 / 352)))
    within = predicted_against_measured(estimate, 0.02, "SWMR", 0.95, 352)
    assert within == (
        "Accuracy loss against Base: autotune predicted 0.004 ± 0.013 on its tuning models "
        "(budget 0.010); the victim lost 0.020 with SWMR, measured on 352 test samples. With "
        "the standard errors of both measures (±0.021 together) that is within the budget "
        "(0.031 at most)."
    )
    assert "is **outside** the budget" in predicted_against_measured(
        estimate, 0.032, "SWMR", 0.95, 352
    )
