"""Attack metrics turned into table cells, and DataFrames rendered as markdown."""

from __future__ import annotations

import math

import pandas as pd

from ..metrics import LOW_FPRS, METRIC_NAMES

Attacks = dict[str, dict[str, float]]  # {attack: {metric: value}} of one model
METRIC_TITLES = {
    "balanced_accuracy": "balanced acc",
    "auc": "AUC",
    "tpr_at_1pct_fpr": "TPR@1%FPR",
    "tpr_at_0_1pct_fpr": "TPR@0.1%FPR",
}


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a markdown table; cells are printed as they are (format them first)."""
    return frame.to_markdown(index=False, disable_numparse=True)


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table cell; an empty cell for NaN."""
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def attack_dict(metrics: pd.DataFrame, stage: str) -> Attacks:
    """``{attack: {metric: value}}`` of one stage, with the attack's seconds where recorded."""
    rows = metrics[metrics["stage"] == stage]
    columns = [*METRIC_NAMES, *(["seconds"] if "seconds" in metrics else [])]
    return {row["attack"]: {m: float(row[m]) for m in columns} for _, row in rows.iterrows()}


def strongest(attacks: Attacks, metric: str) -> tuple[str, float]:
    """The attack with the highest ``metric``, and its value."""
    name = max(attacks, key=lambda a: attacks[a][metric])
    return name, attacks[name][metric]


def strongest_cell(attacks: Attacks, metric: str, unresolvable: set[str] = frozenset()) -> str:
    """``"0.541 (nn)"``: the strongest attack's value and name."""
    name, value = strongest(attacks, metric)
    return f"{metric_cell(metric, value, unresolvable)} ({name})"


def unresolvable_metrics(non_members: int) -> set[str]:
    """TPR-at-FPR metrics that ``non_members`` cannot resolve: one false positive already
    exceeds that FPR, so the number would only reflect the luck of the top-ranked samples."""
    return {name for name, fpr in LOW_FPRS.items() if non_members < 1 / fpr}


def unresolvable_note(non_members: int) -> str:
    """The sentence that explains the ``n/r`` cells, or an empty string."""
    unresolvable = unresolvable_metrics(non_members)
    if not unresolvable:
        return ""
    return (
        f"n/r: with {non_members} non-members, {', '.join(sorted(unresolvable))} cannot be "
        "resolved (one false positive is already 1/non-members); report.json keeps the "
        "number, but it only reflects the few top-ranked samples."
    )


def metric_cell(metric: str, value: float, unresolvable: set[str], bold: bool = False) -> str:
    """A table cell: the value (bold if asked), or ``n/r`` where it cannot be resolved."""
    if metric in unresolvable:
        return "n/r"
    return f"**{fmt(value)}**" if bold else fmt(value)


def attack_table(attacks: Attacks, unresolvable: set[str]) -> pd.DataFrame:
    """One row per attack: every metric (the strongest attack per metric in bold), seconds."""
    best = {m: strongest(attacks, m)[0] for m in METRIC_NAMES}
    rows = []
    for attack, values in attacks.items():
        row = {"attack": attack}
        for metric in METRIC_NAMES:
            cell = metric_cell(metric, values[metric], unresolvable, best[metric] == attack)
            row[METRIC_TITLES[metric]] = cell
        row["time s"] = fmt(values["seconds"], 2) if "seconds" in values else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def attack_tables(models: dict[str, Attacks], unresolvable: set[str]) -> pd.DataFrame:
    """:func:`attack_table` of every ``{model title: attacks}``, a ``model`` column first."""
    frames = [
        attack_table(attacks, unresolvable).assign(model=model) for model, attacks in models.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    return table[["model", *table.columns.drop("model")]]
