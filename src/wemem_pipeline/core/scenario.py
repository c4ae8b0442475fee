"""A WeMem scenario: Dense vs Base iterative pruning vs a defended iterative pruning.

Builds the defended run for every model (victim and shadows alike), attacks the three
victims, and assembles the scenario report (same schema as ``report.json``: one entry per
model, plus the defense's cost and its data-reuse statistics).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .datasets import Dataset
from .defenses import Defense, build_defense
from .reporting import (
    ATTACK_HEADER,
    attack_dict,
    attack_rows,
    metric_cell,
    plt,
    round_stage,
    strongest,
    unresolvable_metrics,
)
from .splits import VICTIM, model_names, roles_of

DEFENSE_TITLES = {"rsw": "RSW", "rmr": "RMR", "swmr": "SWMR", "base": "Base", "dense": "Dense"}


def defense_factory(
    name: str,
    settings: Mapping[str, Any] | None,
    dataset: Dataset,
    mem_scores: Mapping[str, pd.DataFrame],
    base_weight_decay: float,
    seed: int,
    section: str = "settings",
):
    """``(model_name, members) -> Defense``: the victim uses the victim pool's scores and
    every shadow the shadow pool's (computed by the attacker on its own data).

    Each model's defense is built once and then returned again, so that after pruning its
    ``summary()`` covers every round (DP-SGD's privacy spent, for one).
    """
    built: dict[str, Defense] = {}

    def build(model_name: str, members: np.ndarray) -> Defense:
        if model_name not in built:
            pool = "victim" if model_name == VICTIM else "shadow"
            built[model_name] = build_defense(
                name,
                settings,
                members,
                dataset.labels,
                mem_scores.get(pool),
                base_weight_decay,
                seed,
                section,
            )
        return built[model_name]

    return build


def defense_summaries(defense_for, table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """What a user needs to know about each model's defense (risky members, epsilon)."""
    summaries = {}
    for name in model_names(table):
        defense = defense_for(name, roles_of(table, name)["member"])
        summaries[name] = {"defense": defense.name, **defense.summary()}
    return summaries


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


def scenario_stages(
    dense: Any, base: Mapping[int, Any], defended: Mapping[int, Any], defense: str
) -> dict[str, Any]:
    """The outputs to attack: dense, the last Base round, and the defended run's rounds."""
    stages = {"dense": dense, "base": base[max(base)]}
    stages |= {f"{defense}_{round_stage(r)}": outputs for r, outputs in sorted(defended.items())}
    return stages


def _victim_last(history: pd.DataFrame) -> pd.Series:
    rows = history[history["model"] == VICTIM].sort_values("round")
    return rows.iloc[-1]


def build_scenario_report(
    dataset: str,
    parameters: dict[str, Any],
    scenario: str,
    defense: str,
    histories: Mapping[str, pd.DataFrame],
    metrics: pd.DataFrame,
    sample_uses: Mapping[str, pd.DataFrame],
    summaries: Mapping[str, Any],
) -> dict[str, Any]:
    """``report.json`` of a scenario: Dense, Base and the defended victim.

    ``histories`` and ``sample_uses`` are keyed ``dense``/``base``/``defended``; fine-tuning
    time is summed over the victim and its shadows, which all run the same procedure.
    """
    defended = histories["defended"]
    last_round = int(defended["round"].max())
    stages = {"dense": "dense", "base": "base", defense: f"{defense}_{round_stage(last_round)}"}
    seconds = {
        "dense": float(histories["dense"]["seconds"].sum()),
        "base": float(histories["base"]["seconds"].sum()),
        defense: float(defended["seconds"].sum()),
    }
    uses = {"base": sample_uses["base"], defense: sample_uses["defended"]}
    models = []
    for name, history in (
        ("dense", histories["dense"]),
        ("base", histories["base"]),
        (defense, defended),
    ):
        victim = _victim_last(history)
        entry = {
            "name": name,
            "test_accuracy": float(victim["test_accuracy"]),
            "sparsity": float(victim["sparsity"]),
            "training_seconds": seconds[name],
            "attacks": attack_dict(metrics, stages[name]),
        }
        if name != "dense":
            entry["time_relative_to_base"] = seconds[name] / seconds["base"]
            entry["reuse"] = reuse_statistics(uses[name])
        models.append(entry)
    rounds = [
        {
            "round": int(row["round"]),
            "sparsity": float(row["sparsity"]),
            "test_accuracy": float(row["test_accuracy"]),
            "epochs": int(row["epochs_run"]),
            "members_seen": int(row["members_seen"]),
            "attacks": attack_dict(metrics, f"{defense}_{round_stage(int(row['round']))}"),
        }
        for _, row in defended[defended["model"] == VICTIM].sort_values("round").iterrows()
    ]
    return {
        "dataset": dataset,
        "scenario": scenario,
        "defense": defense,
        "parameters": parameters,
        "evaluation": {
            "members": int(metrics["members"].iloc[0]),
            "non_members": int(metrics["non_members"].iloc[0]),
        },
        "defense_summary": dict(summaries),
        "models": models,
        "rounds": rounds,
    }


def scenario_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per model: accuracy, sparsity, cost, reuse, and the strongest attack."""
    rows = []
    for model in report["models"]:
        auc_attack, auc = strongest(model["attacks"], "auc")
        tpr_attack, tpr = strongest(model["attacks"], "tpr_at_1pct_fpr")
        acc_attack, acc = strongest(model["attacks"], "balanced_accuracy")
        reuse = model.get("reuse", {})
        rows.append(
            {
                "model": model["name"],
                "test_accuracy": model["test_accuracy"],
                "sparsity": model["sparsity"],
                "training_seconds": model["training_seconds"],
                "time_relative_to_base": model.get("time_relative_to_base", np.nan),
                "mean_uses_total": reuse.get("mean_uses_total", np.nan),
                "max_uses_total": reuse.get("max_uses_total", np.nan),
                "members_never_seen": reuse.get("members_never_seen", np.nan),
                "strongest_auc": auc,
                "strongest_auc_attack": auc_attack,
                "strongest_tpr_at_1pct_fpr": tpr,
                "strongest_tpr_attack": tpr_attack,
                "strongest_balanced_accuracy": acc,
                "strongest_balanced_accuracy_attack": acc_attack,
            }
        )
    return pd.DataFrame(rows)


def scenario_markdown(report: dict[str, Any]) -> str:
    """The scenario summary in words and tables."""
    models = {m["name"]: m for m in report["models"]}
    defense = report["defense"]
    dense, base, defended = models["dense"], models["base"], models[defense]
    title = DEFENSE_TITLES.get(defense, defense)
    auc = {name: strongest(m["attacks"], "auc") for name, m in models.items()}
    tpr = {name: strongest(m["attacks"], "tpr_at_1pct_fpr") for name, m in models.items()}
    unresolvable = unresolvable_metrics(report["evaluation"]["non_members"])
    if auc[defense][1] < auc["base"][1]:
        verdict = (
            f"{title} **lowered** the strongest attack's AUC against the pruned victim from "
            f"{auc['base'][1]:.3f} (Base) to {auc[defense][1]:.3f}"
        )
    else:
        verdict = (
            f"{title} **did not lower** the strongest attack's AUC against the pruned victim: "
            f"{auc[defense][1]:.3f} against {auc['base'][1]:.3f} for Base"
        )
    relation = "at or below" if auc[defense][1] <= auc["dense"][1] else "above"
    lines = [
        f"# {report['scenario']}: {title} on `{report['dataset']}`",
        "",
        f"{verdict}; that is {relation} the dense model's {auc['dense'][1]:.3f}. Test accuracy: "
        f"dense {dense['test_accuracy']:.3f}, Base {base['test_accuracy']:.3f}, {title} "
        f"{defended['test_accuracy']:.3f} "
        f"({100 * (defended['test_accuracy'] - base['test_accuracy']):+.1f} points against Base). "
        f"Fine-tuning time: {defended['time_relative_to_base']:.2f}x Base's.",
        "",
        "| model | test acc | sparsity | strongest AUC | strongest TPR@1%FPR | strongest balanced "
        "acc | fine-tuning time vs Base |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, model in models.items():
        bacc = strongest(model["attacks"], "balanced_accuracy")
        relative = model.get("time_relative_to_base")
        tpr_cell = metric_cell("tpr_at_1pct_fpr", tpr[name][1], unresolvable)
        lines.append(
            f"| {name} | {model['test_accuracy']:.3f} | {model['sparsity']:.3f} | "
            f"{auc[name][1]:.3f} ({auc[name][0]}) | {tpr_cell} ({tpr[name][0]}) | "
            f"{bacc[1]:.3f} ({bacc[0]}) | "
            + ("" if relative is None else f"{relative:.2f}x")
            + " |"
        )
    lines += [
        "",
        "## Data reuse (victim members, all prune rounds)",
        "",
        "| model | members | seen per round | never seen | mean uses | max uses |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("base", defense):
        reuse = models[name]["reuse"]
        lines.append(
            f"| {name} | {reuse['members']} | {reuse['members_seen_per_round']:.0f} | "
            f"{reuse['members_never_seen']} | {reuse['mean_uses_total']:.1f} | "
            f"{reuse['max_uses_total']} |"
        )
    risky = report["defense_summary"].get("victim", {}).get("risky_per_class")
    if risky:
        lines += [
            "",
            "## Risky members per class (victim)",
            "",
            "| class | " + " | ".join(risky) + " |",
            "|---|" + "---|" * len(risky),
            "| risky | " + " | ".join(str(n) for n in risky.values()) + " |",
        ]
    lines += [
        "",
        "## Per attack",
        "",
        f"| model | attack | {ATTACK_HEADER} |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, model in models.items():
        for attack, cells in attack_rows(model["attacks"], unresolvable):
            lines.append(f"| {name} | {attack} | {cells} |")
    lines += [
        "",
        "Bold marks the strongest attack per metric and model. Attacks are adaptive: the "
        "shadow models went through the same pruning and the same "
        f"defense, with mem-scores computed on the shadow pool. {report['evaluation']['members']} "
        "members are scored against as many non-members. Single runs vary by as much as the "
        "differences between defenses: repeat with other `seed`s before drawing conclusions.",
        "",
        "Plots: `privacy_utility.png` (test accuracy against the strongest attack), "
        "`roc_curves.png` (log-log ROC of every attack).",
        "",
    ]
    if unresolvable:
        lines[-1:-1] = [
            f"n/r: with {report['evaluation']['non_members']} non-members, "
            f"{', '.join(sorted(unresolvable))} cannot be resolved (one false positive is "
            "already 1/non-members); report.json keeps the number.",
            "",
        ]
    return "\n".join(lines)


def privacy_utility_figure(report: dict[str, Any]) -> plt.Figure:
    """Test accuracy against the strongest attack's AUC and TPR at 1% FPR, one point a model."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric, label in (
        (axes[0], "auc", "strongest attack AUC"),
        (axes[1], "tpr_at_1pct_fpr", "strongest attack TPR at 1% FPR"),
    ):
        for model in report["models"]:
            value = strongest(model["attacks"], metric)[1]
            ax.scatter(model["test_accuracy"], value, s=80)
            ax.annotate(
                DEFENSE_TITLES.get(model["name"], model["name"]),
                (model["test_accuracy"], value),
                textcoords="offset points",
                xytext=(6, 6),
            )
        ax.set(xlabel="victim test accuracy", ylabel=label)
        ax.margins(0.2)
        ax.grid(True, alpha=0.3)
    axes[0].axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    axes[1].axhline(0.01, color="grey", linestyle=":", linewidth=0.8)
    fig.suptitle("Privacy-utility: lower right is better (dotted = chance)")
    fig.tight_layout()
    return fig
