"""The report: a JSON document, tables, a markdown summary and plots a person can read.

``report.json`` has the schema ``{"dataset", "parameters", "models": [...], "rounds": [...]}``;
each model entry has ``name``, ``test_accuracy``, ``sparsity`` and
``attacks: {attack: {balanced_accuracy, auc, tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, seconds}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .datasets import Dataset  # noqa: E402
from .metrics import LOW_FPRS, METRIC_NAMES  # noqa: E402
from .splits import VICTIM  # noqa: E402

STAGE_TITLES = {"dense": "Dense", "one_shot": "One-shot pruned", "iterative": "Iteratively pruned"}


def round_stage(round_index: int) -> str:
    return f"round_{round_index}"


def attack_dict(metrics: pd.DataFrame, stage: str) -> dict[str, dict[str, float]]:
    """``{attack: {metric: value}}`` of one stage, with the attack's seconds where recorded."""
    rows = metrics[metrics["stage"] == stage]
    columns = [*METRIC_NAMES, *(["seconds"] if "seconds" in metrics else [])]
    return {row["attack"]: {m: float(row[m]) for m in columns} for _, row in rows.iterrows()}


def _victim_rows(history: pd.DataFrame, stage: str) -> pd.DataFrame:
    return history[(history["model"] == VICTIM) & (history["stage"] == stage)].sort_values("round")


def build_report(
    dataset: str, parameters: dict[str, Any], history: pd.DataFrame, metrics: pd.DataFrame
) -> dict[str, Any]:
    """Assemble ``report.json`` from the training history and the attack metrics."""
    iterative = _victim_rows(history, "iterative")
    last_round = int(iterative["round"].max())
    models = []
    for name in STAGE_TITLES:
        victim = _victim_rows(history, name).iloc[-1]
        attack_stage = round_stage(last_round) if name == "iterative" else name
        models.append(
            {
                "name": name,
                "test_accuracy": float(victim["test_accuracy"]),
                "sparsity": float(victim["sparsity"]),
                "epochs": int(victim["epochs_run"]),
                "attacks": attack_dict(metrics, attack_stage),
            }
        )
    rounds = [
        {
            "round": int(row["round"]),
            "target_sparsity": float(row["target_sparsity"]),
            "sparsity": float(row["sparsity"]),
            "test_accuracy": float(row["test_accuracy"]),
            "dev_accuracy": float(row["dev_accuracy"]),
            "epochs": int(row["epochs_run"]),
            "seconds": float(row["seconds"]),
            "attacks": attack_dict(metrics, round_stage(int(row["round"]))),
        }
        for _, row in iterative.iterrows()
    ]
    evaluation = {
        "members": int(metrics["members"].iloc[0]),
        "non_members": int(metrics["non_members"].iloc[0]),
    }
    return {
        "dataset": dataset,
        "parameters": parameters,
        "evaluation": evaluation,
        "models": models,
        "rounds": rounds,
    }


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, attack): accuracy, sparsity and the attack's metrics."""
    return pd.DataFrame(
        [
            {
                "model": model["name"],
                "test_accuracy": model["test_accuracy"],
                "sparsity": model["sparsity"],
                "attack": attack,
                **values,
            }
            for model in report["models"]
            for attack, values in model["attacks"].items()
        ]
    )


def rounds_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (round, attack) of the iterative run: how leakage grows round by round."""
    return pd.DataFrame(
        [
            {
                "round": entry["round"],
                "sparsity": entry["sparsity"],
                "test_accuracy": entry["test_accuracy"],
                "epochs": entry["epochs"],
                "attack": attack,
                **values,
            }
            for entry in report["rounds"]
            for attack, values in entry["attacks"].items()
        ]
    )


def strongest(attacks: dict[str, dict[str, float]], metric: str) -> tuple[str, float]:
    name = max(attacks, key=lambda a: attacks[a][metric])
    return name, attacks[name][metric]


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def unresolvable_metrics(non_members: int) -> set[str]:
    """TPR-at-FPR metrics that ``non_members`` cannot resolve: one false positive already
    exceeds that FPR, so the number would only reflect the luck of the top-ranked samples."""
    return {name for name, fpr in LOW_FPRS.items() if non_members < 1 / fpr}


def metric_cell(metric: str, value: float, unresolvable: set[str], bold: bool = False) -> str:
    """A table cell: the value (bold if asked), or ``n/r`` where it cannot be resolved."""
    if metric in unresolvable:
        return "n/r"
    return f"**{_fmt(value)}**" if bold else _fmt(value)


ATTACK_HEADER = "balanced acc | AUC | TPR@1%FPR | TPR@0.1%FPR | time s"


def attack_rows(
    attacks: dict[str, dict[str, float]], unresolvable: set[str]
) -> list[tuple[str, str]]:
    """``(attack, cells)`` for a markdown table under :data:`ATTACK_HEADER`; the strongest
    attack per metric is bold."""
    best = {m: strongest(attacks, m)[0] for m in METRIC_NAMES}
    rows = []
    for attack, values in attacks.items():
        cells = [metric_cell(m, values[m], unresolvable, best[m] == attack) for m in METRIC_NAMES]
        cells.append(f"{values['seconds']:.2f}" if "seconds" in values else "-")
        rows.append((attack, " | ".join(cells)))
    return rows


def stage_comparison_markdown(
    metrics: pd.DataFrame, panels: dict[str, str], *, title: str, note: str
) -> str:
    """A markdown table of every attack on each ``{title: stage}``, strongest in bold."""
    non_members = int(metrics["non_members"].iloc[0])
    unresolvable = unresolvable_metrics(non_members)
    lines = [
        f"# {title}",
        "",
        f"{note} {int(metrics['members'].iloc[0])} members against {non_members} non-members; "
        "bold marks the strongest attack per metric and model.",
        "",
        f"| model | attack | {ATTACK_HEADER} |",
        "|---|---|---|---|---|---|---|",
    ]
    for panel, stage in panels.items():
        for attack, cells in attack_rows(attack_dict(metrics, stage), unresolvable):
            lines.append(f"| {panel} | {attack} | {cells} |")
    if unresolvable:
        lines += [
            "",
            f"n/r: {', '.join(sorted(unresolvable))} cannot be resolved with "
            f"{non_members} non-members.",
        ]
    lines += ["", "Plot: `roc_curves.png` (log-log ROC of every attack per model).", ""]
    return "\n".join(lines)


def markdown_summary(report: dict[str, Any]) -> str:
    """A short human-readable summary of ``report``."""
    models = {m["name"]: m for m in report["models"]}
    dense, pruned = models["dense"], models["iterative"]
    metric = "auc"
    dense_attack, dense_auc = strongest(dense["attacks"], metric)
    pruned_attack, pruned_auc = strongest(pruned["attacks"], metric)
    pruning = report["parameters"].get("pruning", {})
    lines = [
        f"# Membership leakage of pruned models: `{report['dataset']}`",
        "",
        f"Iterative pruning to sparsity {pruned['sparsity']:.3f} "
        f"({pruning.get('rounds', '?')} rounds) moved the strongest attack's AUC from "
        f"**{_fmt(dense_auc)}** ({dense_attack}, dense) to **{_fmt(pruned_auc)}** "
        f"({pruned_attack}, iteratively pruned); test accuracy went from "
        f"{_fmt(dense['test_accuracy'])} to {_fmt(pruned['test_accuracy'])}. "
        f"One-shot pruning to the same sparsity: test accuracy "
        f"{_fmt(models['one_shot']['test_accuracy'])}, strongest AUC "
        f"{_fmt(strongest(models['one_shot']['attacks'], metric)[1])}.",
        "",
        "## Victim models",
        "",
        f"| model | test acc | sparsity | attack | {ATTACK_HEADER} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    non_members = report["evaluation"]["non_members"]
    unresolvable = unresolvable_metrics(non_members)
    for model in report["models"]:
        for attack, cells in attack_rows(model["attacks"], unresolvable):
            lines.append(
                f"| {STAGE_TITLES[model['name']]} | {_fmt(model['test_accuracy'])} | "
                f"{_fmt(model['sparsity'])} | {attack} | {cells} |"
            )
    lines += [
        "",
        "Bold marks the strongest attack per metric and model.",
        "",
        "## Leakage round by round (iterative pruning)",
        "",
        "| round | sparsity | test acc | epochs | strongest AUC | strongest balanced acc |",
        "|---|---|---|---|---|---|",
    ]
    for entry in report["rounds"]:
        auc_attack, auc = strongest(entry["attacks"], "auc")
        acc_attack, acc = strongest(entry["attacks"], "balanced_accuracy")
        lines.append(
            f"| {entry['round']} | {_fmt(entry['sparsity'])} | {_fmt(entry['test_accuracy'])} | "
            f"{entry['epochs']} | {_fmt(auc)} ({auc_attack}) | {_fmt(acc)} ({acc_attack}) |"
        )
    lines += [
        "",
        "## How to read this",
        "",
        "- Each attack is calibrated on shadow models that went through the same training and "
        "pruning as the victim, then scores the victim's members against an equal number of "
        f"non-members ({non_members} each).",
        "- Balanced accuracy 0.5 and AUC 0.5 mean no leakage; TPR at a low FPR is the share of "
        "members an attacker identifies while almost never accusing a non-member.",
    ]
    if unresolvable:
        lines.append(
            f"- n/r: with {non_members} non-members, {', '.join(sorted(unresolvable))} cannot be "
            "resolved (one false positive is already 1/non-members); report.json keeps the "
            "number, but it only reflects the few top-ranked samples."
        )
    lines += [
        "- Plots: `roc_curves.png` (log-log ROC per model), `rounds.png` (accuracy, sparsity "
        "and attack metrics per round).",
        "",
    ]
    return "\n".join(lines)


def roc_figure(roc: pd.DataFrame, panels: dict[str, str]) -> plt.Figure:
    """Log-log ROC curves of every attack, one panel per ``{title: stage}``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.8), sharey=True)
    for ax, (title, stage) in zip(axes, panels.items(), strict=True):
        curves = roc[roc["stage"] == stage].groupby("attack", sort=False)
        for index, (attack, curve) in enumerate(curves):
            # tab20 and two line styles keep a dozen attacks apart.
            ax.plot(
                curve["fpr"].clip(lower=1e-4),
                curve["tpr"].clip(lower=1e-4),
                label=attack,
                color=plt.cm.tab20(index % 20),
                linestyle="-" if index % 2 == 0 else "--",
            )
        ax.plot([1e-4, 1], [1e-4, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set(
            xscale="log",
            yscale="log",
            xlim=(1e-3, 1),
            ylim=(1e-3, 1.02),
            title=title,
            xlabel="false positive rate",
        )
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("true positive rate")
    axes[-1].legend(loc="lower right", fontsize="small", ncols=2)
    fig.suptitle("Membership inference ROC of the victim (log-log; dashed = chance)")
    fig.tight_layout()
    return fig


def rounds_figure(report: dict[str, Any]) -> plt.Figure:
    """Accuracy and sparsity per round (left) and attack AUC per round (right)."""
    rounds = report["rounds"]
    x = [entry["round"] for entry in rounds]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(x, [e["test_accuracy"] for e in rounds], marker="o", label="test accuracy")
    left.plot(x, [e["dev_accuracy"] for e in rounds], marker="s", label="dev accuracy")
    left.plot(x, [e["sparsity"] for e in rounds], marker="^", linestyle="--", label="sparsity")
    left.set(xlabel="prune round", ylim=(0, 1.02), title="Victim accuracy and sparsity")
    left.legend()
    for attack in rounds[0]["attacks"]:
        right.plot(x, [e["attacks"][attack]["auc"] for e in rounds], marker="o", label=attack)
    dense_best = strongest(report["models"][0]["attacks"], "auc")[1]
    right.axhline(dense_best, color="black", linestyle=":", label="dense (strongest)")
    right.set(xlabel="prune round", ylabel="attack AUC", title="Leakage per round")
    right.legend()
    for ax in (left, right):
        ax.set_xticks(x)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def mem_histogram_figure(pools: dict[str, pd.DataFrame], class_names: Sequence[str]) -> plt.Figure:
    """Histogram of raw mem-scores per class, one panel per class, pools overlaid."""
    num_classes = len(class_names)
    columns = min(5, num_classes)
    rows = -(-num_classes // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.6 * rows), sharex=True, squeeze=False
    )
    all_scores = pd.concat([table["raw_score"] for table in pools.values()])
    bins = np.linspace(min(all_scores.min(), 0.0), max(all_scores.max(), 1e-9), 21)
    for label, ax in enumerate(axes.flat):
        if label >= num_classes:
            ax.axis("off")
            continue
        for pool, table in pools.items():
            ax.hist(
                table.loc[table["label"] == label, "raw_score"],
                bins=bins,
                alpha=0.6,
                label=f"{pool} pool",
            )
        ax.set_title(str(class_names[label]), fontsize=10)
        ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("mem-score (raw)")
    fig.suptitle(
        "Mem-scores per class (log counts): most samples sit near 0, memorized ones far right"
    )
    fig.tight_layout()
    return fig


def mem_extremes_figure(dataset: Dataset, scores: pd.DataFrame, count: int = 10) -> plt.Figure:
    """The ``count`` most and least memorable samples; images for image data, a table else."""
    ordered = scores.sort_values("raw_score", kind="stable")
    extremes = {
        "most memorable": ordered.tail(count).iloc[::-1],
        "least memorable": ordered.head(count),
    }
    if not dataset.is_image:
        fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * count + 1.2))
        for ax, (title, rows) in zip(axes, extremes.items(), strict=True):
            ax.axis("off")
            cells = [
                [int(r.sample_index), dataset.class_names[int(r.label)], f"{r.raw_score:.3f}"]
                for r in rows.itertuples()
            ]
            ax.table(cells, colLabels=["sample", "label", "mem-score"], loc="center")
            ax.set_title(title)
        fig.tight_layout()
        return fig
    fig, axes = plt.subplots(2, count, figsize=(1.4 * count, 4.4), squeeze=False)
    for row, (title, rows) in zip(axes, extremes.items(), strict=True):
        for ax, sample in zip(row, rows.itertuples(), strict=False):
            image = dataset.features[int(sample.sample_index)]
            image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
            low, high = image.min(), image.max()
            ax.imshow((image - low) / (high - low + 1e-12), cmap="gray")
            ax.set_title(
                f"{dataset.class_names[int(sample.label)]}\n{sample.raw_score:.2f}", fontsize=8
            )
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(title, fontsize=9)
    fig.suptitle("Victim pool: most (top) and least (bottom) memorable samples, label and score")
    fig.tight_layout()
    return fig
