"""The comparison report: every defense run on one table, and where the Pareto fronts lie."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure as PlotFigure

from ..compare import ATTACK_METRICS, Run, above_chance
from ..defenses import WEMEM_NAMES
from ..defenses.dpsgd import COVERS
from .audit import audit_document, audit_figure
from .document import Document, Figure, Heading
from .figures import PRIVACY_METRICS, privacy_utility_figure
from .tables import (
    METRIC_TITLES,
    autotune_source,
    fmt,
    metric_cell,
    metric_verdict,
    predicted_loss,
    predicted_where,
    settings_line,
    unresolvable_metrics,
)


def comparison_document(
    comparison: pd.DataFrame,
    dataset: str,
    non_members: int,
    runs: Sequence[Run] = (),
    sources: Mapping[str, Mapping[str, Any]] | None = None,
    audit_report: dict[str, Any] | None = None,
) -> Document:
    """The comparison table, the Pareto fronts, where the WeMem defenses stand, and the
    settings of every run (``runs``: :func:`..compare.comparison_runs`; ``sources``: the
    autotune study of each defense whose settings were ``auto``, by defense); with
    ``audit_report`` (``compare.audit``) every run's audit, both evaluations."""
    document = Document(f"Defense comparison on `{dataset}`")
    document.paragraph(
        "Every run prunes the victim and its shadows iteratively with one defense setting and "
        f"is attacked with the whole suite ({non_members} members against as many "
        "non-members); the strongest attack per metric is reported. Time is the victim's "
        "fine-tuning time over all rounds relative to Base (with DP-SGD's own dense training "
        "where its epsilon covers it)."
    )
    document.table(_runs_table(comparison, non_members))
    privacy = privacy_bullets(comparison)
    if privacy:
        document.paragraph("What each epsilon covers:")
        document.bullets(privacy)
    document.figure("compare_plot.png", "Test accuracy against the strongest attack, every run")
    document.heading("Where the WeMem defenses stand")
    bullets = [
        front_sentence(comparison, metric).removeprefix("- ")
        for metric in ("tpr_at_1pct_fpr", "auc")
    ]
    if non_members < 100:
        bullets.append(
            f"With {non_members} non-members TPR at 1% FPR cannot be resolved (one false "
            "positive is already more than 1%): use the AUC front."
        )
    chance = comparison["chance_auc_q95"].max()
    bullets.append(
        f"Chance: the strongest attack on shuffled member labels reaches AUC {fmt(chance)} "
        "(95th percentile); a strongest AUC below it is no evidence of leakage. Intervals are "
        "95% bootstrap over the scored samples; 'vs Base' says lowered/raised only where the "
        "intervals do not overlap."
    )
    document.bullets(bullets)
    document.paragraph(
        "Single runs vary by as much as many of these differences: `evaluation.seeds=3` "
        "repeats the comparison and reports the spread. Plot: `compare_plot.png`."
    )
    if runs:
        document.heading("Settings used")
        document.paragraph(
            "Each run's settings as `compare.defenses` gave them (a defense's other settings "
            "are its defaults); Base and Dense use none."
        )
        document.table(_settings_table(runs, sources or {}, comparison))
    if audit_report:
        document.heading("Worst case: every run through the audit")
        # Its sections one level down; its plot is the lower half of compare_plot.png.
        document.extend(
            [
                replace(block, level=block.level + 1) if isinstance(block, Heading) else block
                for block in audit_document(audit_report).blocks
                if not isinstance(block, Figure)
            ]
        )
    return document


def _settings_table(
    runs: Sequence[Run], sources: Mapping[str, Mapping[str, Any]], comparison: pd.DataFrame
) -> pd.DataFrame:
    """Each run's settings and where they came from; for tuned ones, the accuracy loss their
    study predicted (at the victim's size, or on its tuning models) beside the victim's."""
    accuracy = comparison.set_index("run")["test_accuracy"]
    base = accuracy.get("Base", np.nan)
    rows = []
    for label, defense, settings in runs:
        row = {
            "run": label,
            "settings": settings_line(settings),
            "from": autotune_source(sources[defense]) if defense in sources else "parameters",
        }
        estimate = sources.get(defense, {}).get("estimate")
        if estimate:
            row["predicted loss"] = predicted_loss(estimate)
            row["predicted on"] = predicted_where(estimate).removeprefix("on ")
            row["victim's loss"] = fmt(base - accuracy.get(label, np.nan), 3)
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def _runs_table(comparison: pd.DataFrame, non_members: int) -> pd.DataFrame:
    table = pd.DataFrame(
        {"run": comparison["run"], "test acc": comparison["test_accuracy"].map(fmt)}
    )
    unresolvable = unresolvable_metrics(non_members)
    for metric in ATTACK_METRICS:
        table[f"strongest {METRIC_TITLES[metric]}"] = [
            f"{metric_cell(metric, row[metric], unresolvable, interval=_interval(row, metric))} "
            f"({row[f'{metric}_attack']})"
            for _, row in comparison.iterrows()
        ]
    table["vs Base (AUC / TPR@1%FPR)"] = _verdicts_against_base(comparison, non_members)
    table["shift check AUC"] = comparison["shift_auc"].map(fmt)
    relative = comparison["time_relative_to_base"]
    table["time vs Base"] = [("" if np.isnan(r) else f"{r:.2f}x") for r in relative]
    table["epsilon"] = comparison["epsilon"].map(lambda e: fmt(e, 1))
    for metric in ("tpr_at_1pct_fpr", "auc"):
        column = f"front ({METRIC_TITLES[metric]})"
        table[column] = comparison[f"pareto_{metric}"].map({True: "yes", False: ""})
    return table


def privacy_bullets(comparison: pd.DataFrame) -> list[str]:
    """One line per run with a privacy guarantee (DP-SGD): its epsilon, delta, sampling and
    what the epsilon covers."""
    bullets = []
    for _, row in comparison[comparison["epsilon_covers"].fillna("") != ""].iterrows():
        accountant = (
            f"at delta {row['epsilon_delta']:.2g} (RDP accountant; Poisson sampling at rate "
            f"{row['sample_rate']:.3g}, {int(row['epsilon_steps'])} steps)"
        )
        if row["epsilon_covers"] == COVERS["finetune"]:
            covers = (
                "the prune rounds only: the dense model they start from was trained without "
                "DP on the same members, so it is no guarantee for the model"
            )
        else:
            covers = "the dense training and every prune round: every step the model took"
        bullets.append(f"{row['run']}: epsilon {fmt(row['epsilon'], 1)} {accountant}; {covers}.")
    return bullets


def _interval(row: pd.Series, metric: str) -> list[float] | None:
    low, high = row.get(f"{metric}_ci_low", np.nan), row.get(f"{metric}_ci_high", np.nan)
    return None if pd.isna(low) else [low, high]


def _verdicts_against_base(comparison: pd.DataFrame, non_members: int) -> list[str]:
    """Each run's verdicts against Base by the intervals of the strongest attack."""
    base = comparison[comparison["defense"] == "base"].iloc[0]
    cells = []
    for _, row in comparison.iterrows():
        if row["defense"] in ("base", "dense"):
            cells.append("")
            continue
        words = [
            metric_verdict(metric, _interval(base, metric), _interval(row, metric), non_members)
            for metric in ("auc", "tpr_at_1pct_fpr")
        ]
        cells.append(" / ".join(words))
    return cells


def front_sentence(comparison: pd.DataFrame, metric: str) -> str:
    """Which runs are on the accuracy-``metric`` Pareto front, WeMem's first; none when no
    run's strongest attack is above its chance reference."""
    if not above_chance(comparison, metric).any():
        return (
            f"- Accuracy against {PRIVACY_METRICS[metric]}: no front, since no run's strongest "
            "attack is above its chance reference: the runs' differences in leakage are noise."
        )
    on_front = comparison[comparison[f"pareto_{metric}"]]
    wemem = on_front[on_front["defense"].isin(WEMEM_NAMES)]["run"].tolist()
    others = on_front[~on_front["defense"].isin(WEMEM_NAMES)]["run"].tolist()
    if wemem:
        verdict = f"{', '.join(wemem)} {'is' if len(wemem) == 1 else 'are'} on the front"
        rest = f"; with {', '.join(others)}" if others else ", alone"
    else:
        verdict, rest = "no WeMem defense is on the front", f"; it holds {', '.join(others)}"
    return f"- Accuracy against {PRIVACY_METRICS[metric]}: {verdict}{rest}."


def comparison_figure(
    comparison: pd.DataFrame, audit_report: dict[str, Any] | None = None
) -> PlotFigure:
    """Test accuracy against the strongest attack, every run, each panel's front marked;
    with ``audit_report`` (``compare.audit``) the audit's panels below."""
    intervals = {
        f"{metric}_{end}": comparison[f"{metric}_ci_{end}"]
        for metric in ("auc", "tpr_at_1pct_fpr")
        for end in ("low", "high")
    }
    points = comparison.assign(
        label=comparison["run"], chance_auc=comparison["chance_auc_q95"], **intervals
    )
    heading = "Defenses after iterative pruning"
    if not audit_report:
        return privacy_utility_figure(points, heading)
    fig = plt.figure(figsize=(15, 10), layout="constrained")
    victim, audit = fig.subfigures(2, 1, height_ratios=[1, 0.9])
    privacy_utility_figure(points, heading, victim)
    audit_figure(audit_report, audit)
    return fig
