"""Attack metrics turned into table cells, and DataFrames rendered as markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..chance import ChanceLevel
from ..metrics import INTERVAL_METRICS, LOW_FPRS, METRIC_NAMES
from ..verdicts import UNRESOLVABLE, interval_verdict
from .titles import title

Attacks = dict[str, dict[str, Any]]  # {attack: {metric: value, "<metric>_ci": [low, high]}}
# Per-attack values kept beside the metrics where the evaluation recorded them.
_EXTRAS = ("raw_signal_auc", "shift_auc", "shift_tpr_at_1pct_fpr", "seconds")
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
    """``{attack: {metric: value}}`` of one stage, with each metric's bootstrap interval
    (``<metric>_ci``), the raw-signal AUC, the shift check and the seconds where recorded."""
    attacks = {}
    for _, row in metrics[metrics["stage"] == stage].iterrows():
        values: dict[str, Any] = {m: float(row[m]) for m in METRIC_NAMES}
        for metric in INTERVAL_METRICS:
            if f"{metric}_ci_low" in row:
                values[f"{metric}_ci"] = [
                    float(row[f"{metric}_ci_low"]),
                    float(row[f"{metric}_ci_high"]),
                ]
        values |= {k: float(row[k]) for k in _EXTRAS if k in row and not pd.isna(row[k])}
        attacks[row["attack"]] = values
    return attacks


def flat_intervals(values: dict[str, Any]) -> dict[str, Any]:
    """An attack's values with each interval ``<metric>_ci`` split into ``_ci_low/_ci_high``."""
    flat = {}
    for key, value in values.items():
        if key.endswith("_ci"):
            flat[f"{key}_low"], flat[f"{key}_high"] = value
        else:
            flat[key] = value
    return flat


def stage_checks(metrics: pd.DataFrame, stage: str) -> dict[str, Any]:
    """What a stage's numbers mean against chance: the strongest attack under shuffled labels
    (``chance``: mean and 95th percentile per metric), whether the strongest attack beats that
    95th percentile (``above_chance``: the stage shows leakage), and the shift check
    (``shift``: the strongest attack against a model that trained on neither side). Empty for
    metrics recorded without them."""
    rows = metrics[metrics["stage"] == stage]
    if rows.empty or "chance_auc_q95" not in rows:
        return {}
    first = rows.iloc[0]
    checks: dict[str, Any] = {
        "chance": {
            m: {"mean": float(first[f"chance_{m}_mean"]), "q95": float(first[f"chance_{m}_q95"])}
            for m in INTERVAL_METRICS
        }
    }
    checks["above_chance"] = {
        m: bool(rows[m].max() > checks["chance"][m]["q95"]) for m in INTERVAL_METRICS
    }
    shift = rows.dropna(subset=["shift_auc"])
    if not shift.empty:
        best = shift.loc[shift["shift_auc"].idxmax()]
        checks["shift"] = {
            "auc": float(best["shift_auc"]),
            "attack": str(best["attack"]),
            "tpr_at_1pct_fpr": float(shift["shift_tpr_at_1pct_fpr"].max()),
        }
    return checks


def strongest(attacks: Attacks, metric: str) -> tuple[str, float]:
    """The attack with the highest ``metric``, and its value."""
    name = max(attacks, key=lambda a: attacks[a][metric])
    return name, attacks[name][metric]


def strongest_interval(attacks: Attacks, metric: str) -> tuple[float, float] | None:
    """The bootstrap interval of the strongest attack's ``metric``, if recorded."""
    interval = attacks[strongest(attacks, metric)[0]].get(f"{metric}_ci")
    return None if interval is None else (interval[0], interval[1])


def strongest_cell(attacks: Attacks, metric: str, unresolvable: set[str] = frozenset()) -> str:
    """``"0.541 [0.50, 0.58] (nn)"``: the strongest attack's value, interval and name."""
    name, value = strongest(attacks, metric)
    cell = metric_cell(metric, value, unresolvable, interval=attacks[name].get(f"{metric}_ci"))
    return f"{cell} ({name})"


STRONGEST_COLUMNS = {
    "auc": ("strongest_auc", "strongest_auc_attack"),
    "tpr_at_1pct_fpr": ("strongest_tpr_at_1pct_fpr", "strongest_tpr_attack"),
    "balanced_accuracy": ("strongest_balanced_accuracy", "strongest_balanced_accuracy_attack"),
}


def model_row(model: dict[str, Any]) -> dict[str, Any]:
    """A report's model entry as one table row: accuracy, sparsity, the strongest attack per
    metric with its interval, the chance reference and the shift check."""
    row = {
        "model": model["name"],
        "test_accuracy": model["test_accuracy"],
        "sparsity": model["sparsity"],
    }
    for metric, (value_column, attack_column) in STRONGEST_COLUMNS.items():
        row[attack_column], row[value_column] = strongest(model["attacks"], metric)
        interval = strongest_interval(model["attacks"], metric) or (math.nan, math.nan)
        row[f"{value_column}_ci_low"], row[f"{value_column}_ci_high"] = interval
    checks = model.get("checks", {})
    for metric in ("auc", "tpr_at_1pct_fpr"):
        row[f"chance_{metric}_q95"] = checks.get("chance", {}).get(metric, {}).get("q95", math.nan)
    row["shift_auc"] = checks.get("shift", {}).get("auc", math.nan)
    return row


def plot_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """The columns a privacy-utility plot takes from :func:`model_row` rows: test accuracy and
    the strongest attack's AUC and TPR@1%FPR with their intervals and chance references."""
    columns = {"test_accuracy": rows["test_accuracy"]}
    for metric in ("auc", "tpr_at_1pct_fpr"):
        value = STRONGEST_COLUMNS[metric][0]
        columns[metric] = rows[value]
        columns[f"{metric}_low"] = rows[f"{value}_ci_low"]
        columns[f"{metric}_high"] = rows[f"{value}_ci_high"]
        columns[f"chance_{metric}"] = rows[f"chance_{metric}_q95"]
    return columns


def verdicts(reference: Attacks, other: Attacks, non_members: int) -> dict[str, str]:
    """``other`` against ``reference`` on the strongest AUC and TPR@1%FPR, by their intervals
    (see :mod:`..verdicts`)."""
    return {
        metric: metric_verdict(
            metric,
            strongest_interval(reference, metric),
            strongest_interval(other, metric),
            non_members,
        )
        for metric in ("auc", "tpr_at_1pct_fpr")
    }


def metric_verdict(
    metric: str, reference: Sequence[float] | None, other: Sequence[float] | None, non_members: int
) -> str:
    """The verdict of two intervals of ``metric``; ``not resolvable`` where the non-members
    cannot resolve the metric or an interval is missing."""
    if metric in unresolvable_metrics(non_members) or reference is None or other is None:
        return UNRESOLVABLE
    return interval_verdict(reference, other)


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


def metric_cell(
    metric: str,
    value: float,
    unresolvable: set[str],
    bold: bool = False,
    interval: list[float] | None = None,
) -> str:
    """A table cell: the value (bold if asked) and its interval ``[low, high]`` if given, or
    ``n/r`` where it cannot be resolved."""
    if metric in unresolvable:
        return "n/r"
    cell = f"**{fmt(value)}**" if bold else fmt(value)
    return f"{cell} [{fmt(interval[0], 2)}, {fmt(interval[1], 2)}]" if interval else cell


def attack_table(attacks: Attacks, unresolvable: set[str]) -> pd.DataFrame:
    """One row per attack: every metric with its interval (the strongest attack per metric in
    bold), the raw-signal AUC of per-class attacks, the shift check and the seconds."""
    best = {m: strongest(attacks, m)[0] for m in METRIC_NAMES}
    rows = []
    for attack, values in attacks.items():
        row = {"attack": attack}
        for metric in METRIC_NAMES:
            interval = values.get(f"{metric}_ci")
            cell = metric_cell(
                metric, values[metric], unresolvable, best[metric] == attack, interval
            )
            row[METRIC_TITLES[metric]] = cell
        if any("raw_signal_auc" in v for v in attacks.values()):
            row["raw-signal AUC"] = fmt(values.get("raw_signal_auc", math.nan))
        if any("shift_auc" in v for v in attacks.values()):
            row["shift AUC"] = fmt(values.get("shift_auc", math.nan))
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


def checks_cells(checks: dict[str, Any]) -> dict[str, str]:
    """Table cells of :func:`stage_checks`: chance reference and shift check of the AUC."""
    chance = checks.get("chance", {}).get("auc", {}).get("q95", math.nan)
    shift = checks.get("shift", {}).get("auc", math.nan)
    above = checks.get("above_chance", {}).get("auc")
    return {
        "chance AUC (95th pct)": fmt(chance),
        "leaks (AUC above chance)": "" if above is None else ("yes" if above else "no"),
        "shift check AUC": fmt(shift),
    }


def above_chance_sentence(models: dict[str, dict[str, Any]]) -> str:
    """Which models leak: their strongest AUC above the chance reference's 95th percentile."""
    verdicts = [
        f"{title(name)} {'yes' if above else 'no'}"
        for name, model in models.items()
        if (above := model.get("checks", {}).get("above_chance", {}).get("auc")) is not None
    ]
    if not verdicts:
        return ""
    return (
        "Leaks, i.e. the strongest AUC is above what the attacks reach on shuffled labels "
        f"(95th percentile): {', '.join(verdicts)}."
    )


def reading_note_items(evaluation: dict[str, Any]) -> list[str]:
    """What the intervals, the chance reference and the shift check mean (one item each)."""
    return [
        f"Intervals `[low, high]`: 95% bootstrap over the scored samples ("
        f"{evaluation.get('bootstrap', '?')} resamples, members and non-members resampled "
        "separately). They cover the luck of the evaluation set, not of training: repeat "
        "with `evaluation.seeds` for that. A verdict says lowered/raised only when the "
        "intervals do not overlap.",
        "Chance AUC (95th pct): the strongest of the attacks on the same samples with the "
        "member labels shuffled; a strongest AUC below it is no evidence of leakage.",
        "Shift check AUC: the same fitted attacks against a shadow model, which trained on "
        "neither the scored members nor the non-members; it should sit near 0.5, within "
        "chance. Clearly above means members and non-members differ in distribution (try "
        "`split.nonmember_source=pool`).",
        "conf, entr and mentr learn one threshold per class, so their AUC ranks signal minus "
        "its class's threshold; the raw-signal AUC ranks the signal itself.",
    ]


def chance_accuracy(models: Sequence[dict[str, Any]], chance: ChanceLevel) -> dict[str, Any]:
    """The report's ``chance_accuracy``: the majority-class rate of the victim's test samples,
    and the models whose test accuracy is not above it (see :mod:`..chance`)."""
    at_chance = [m["name"] for m in models if not chance.above(m["test_accuracy"])]
    return {**chance.as_dict(), "models_at_chance": at_chance}


def chance_warnings(report: dict[str, Any]) -> list[str]:
    """One warning per model of ``report`` at chance accuracy."""
    entry = report.get("chance_accuracy")
    if not entry:
        return []
    chance = ChanceLevel(entry["majority_rate"], entry["test_samples"])
    accuracy = {m["name"]: m["test_accuracy"] for m in report["models"]}
    return [chance.sentence(title(name), accuracy[name]) for name in entry["models_at_chance"]]


def settings_table(settings: dict[str, Any]) -> pd.DataFrame:
    """One row per setting (nested keys joined by dots) and its value."""
    rows = [{"setting": key, "value": str(value)} for key, value in flat_settings(settings).items()]
    return pd.DataFrame(rows, columns=["setting", "value"])


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``settings`` with nested keys joined by dots (``window.width``); an empty section
    stays as its key."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat |= flat_settings(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def settings_line(settings: dict[str, Any]) -> str:
    """``settings`` on one line: ``window.width=0.25, window.stride=0.17`` (a tuned number
    to 4 significant digits; the exact value is in its ``tuned_settings.json``)."""
    return ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in flat_settings(settings).items()
    )


def predicted_loss(estimate: Mapping[str, Any]) -> str:
    """An autotune study's predicted accuracy loss, ``0.004 ± 0.013`` (± its noise)."""
    noise = estimate.get("accuracy_noise")
    spread = f" ± {fmt(noise, 3)}" if noise is not None else ""
    return f"{fmt(estimate['accuracy_loss'], 3)}{spread}"


def predicted_where(estimate: Mapping[str, Any]) -> str:
    """Which models an autotune prediction comes from (the victim-size check, or else the
    half-size tuning models)."""
    if estimate.get("loss_measured_on") == "victim_size":
        return "on models of the victim's size"
    return "on its tuning models"


def autotune_source(source: dict[str, Any]) -> str:
    """Where ``auto`` settings came from: ``autotune study `<name>` (run <id>, `<file>`)``."""
    return f"autotune study `{source['study']}` (run {source['run']}, `{source['file']}`)"
