"""The default pipeline's report: dense, one-shot and iterative pruning under every attack.

``report.json`` has the schema ``{"dataset", "parameters", "evaluation", "models": [...],
"rounds": [...], "chance_accuracy", "warnings"}``; each model entry has ``name``,
``test_accuracy``, ``sparsity``, ``epochs`` and ``attacks: {attack: {balanced_accuracy, auc,
tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, seconds}}``; each round entry the iterative victim's state
after it. ``warnings`` lists, in words, what makes (part of) the report meaningless: models at
chance accuracy (``chance_accuracy``) and settings the run was warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..chance import ChanceLevel
from ..errors import ArtifactError
from ..evaluation import round_stage
from ..pruning import PROCEDURES
from ..run_config import EvaluationConfig
from ..validation import from_mapping
from ..victim_and_shadows import victim_history
from .document import Document
from .tables import (
    METRIC_TITLES,
    above_chance_sentence,
    attack_dict,
    attack_tables,
    chance_accuracy,
    chance_warnings,
    checks_cells,
    flat_intervals,
    fmt,
    reading_note_items,
    stage_checks,
    strongest,
    strongest_cell,
    unresolvable_metrics,
    unresolvable_note,
    verdicts,
)
from .titles import title


def evaluation_sizes(
    metrics: pd.DataFrame, parameters: dict[str, Any] | None = None
) -> dict[str, int]:
    """How many members and non-members every attack scored, and (from ``parameters``) the
    resamples of the intervals and the shuffles of the chance reference."""
    evaluation = from_mapping(EvaluationConfig, "evaluation", (parameters or {}).get("evaluation"))
    return {
        "members": int(metrics["members"].iloc[0]),
        "non_members": int(metrics["non_members"].iloc[0]),
        "bootstrap": evaluation.bootstrap,
        "null_permutations": evaluation.null_permutations,
    }


def build_report(
    dataset: str,
    parameters: dict[str, Any],
    history: pd.DataFrame,
    metrics: pd.DataFrame,
    chance: ChanceLevel | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Assemble ``report.json`` from the training history and the attack metrics.

    ``chance``: the victim's chance level, against which every model's test accuracy is
    checked; ``warnings``: what the run's settings make meaningless
    (:func:`..run_checks.settings_warnings`). Both end in the report's ``warnings``.
    """
    iterative = victim_history(history[history["stage"] == "iterative"])
    last_round = int(iterative["round"].max())
    attacked = {round_stage(last_round) if name == "iterative" else name for name in PROCEDURES}
    if unattacked := sorted(attacked - set(metrics["stage"])):
        raise ArtifactError(
            f"attack_metrics holds no attacks on the {', '.join(unattacked)} stage (an "
            "`attacks` run that found no one-shot outputs makes such a table)",
            hint="attack every stage first: kedro run --pipelines=pruning,attacks",
        )
    models = []
    for name in PROCEDURES:
        victim = victim_history(history[history["stage"] == name]).iloc[-1]
        attack_stage = round_stage(last_round) if name == "iterative" else name
        models.append(
            {
                "name": name,
                "test_accuracy": float(victim["test_accuracy"]),
                "sparsity": float(victim["sparsity"]),
                "epochs": int(victim["epochs_run"]),
                "attacks": attack_dict(metrics, attack_stage),
                "checks": stage_checks(metrics, attack_stage),
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
            "checks": stage_checks(metrics, round_stage(int(row["round"]))),
        }
        for _, row in iterative.iterrows()
    ]
    evaluation = evaluation_sizes(metrics, parameters)
    by_name = {model["name"]: model["attacks"] for model in models}
    report = {
        "dataset": dataset,
        "parameters": parameters,
        "evaluation": evaluation,
        # What iterative pruning did to leakage, against the dense model.
        "verdicts": verdicts(by_name["dense"], by_name["iterative"], evaluation["non_members"]),
        "models": models,
        "rounds": rounds,
    }
    if chance is not None:
        report["chance_accuracy"] = chance_accuracy(models, chance)
    report["warnings"] = [*chance_warnings(report), *warnings]
    return report


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, attack): accuracy, sparsity and the attack's metrics."""
    columns = {"model": "name", "test_accuracy": "test_accuracy", "sparsity": "sparsity"}
    return per_attack_table(report["models"], columns)


def rounds_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (round, attack) of the iterative run: how leakage grows round by round."""
    columns = {key: key for key in ("round", "sparsity", "test_accuracy", "epochs")}
    return per_attack_table(report["rounds"], columns)


def per_attack_table(entries: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """One row per entry and attack: the entry's ``{column: key}`` values, then the attack's
    (an interval ``<metric>_ci`` as two columns, ``_ci_low`` and ``_ci_high``)."""
    return pd.DataFrame(
        [
            {
                **{column: entry[key] for column, key in columns.items()},
                "attack": attack,
                **flat_intervals(values),
            }
            for entry in entries
            for attack, values in entry["attacks"].items()
        ]
    )


def roc_panels(report: dict[str, Any]) -> dict[str, str]:
    """``{title: stage}`` of the three victims, for the ROC figure."""
    last_round = round_stage(report["rounds"][-1]["round"])
    return {
        title(m["name"]): last_round if m["name"] == "iterative" else m["name"]
        for m in report["models"]
    }


def run_document(report: dict[str, Any]) -> Document:
    """The summary: what pruning did to leakage, every attack per victim, round by round
    (``report.md`` and ``report.html``)."""
    models = {m["name"]: m for m in report["models"]}
    dense, pruned, one_shot = models["dense"], models["iterative"], models["one_shot"]
    pruning = report["parameters"].get("pruning", {})
    rounds = pruning.get("rounds", "?")
    non_members = report["evaluation"]["non_members"]
    unresolvable = unresolvable_metrics(non_members)
    changes = [
        f"{METRIC_TITLES[metric]} {strongest_cell(dense['attacks'], metric, unresolvable)} "
        f"(dense) -> {strongest_cell(pruned['attacks'], metric, unresolvable)}: "
        f"**{report['verdicts'][metric]}**"
        for metric in ("auc", "tpr_at_1pct_fpr")
    ]
    checks = checks_cells(pruned.get("checks", {}))
    document = Document(f"Membership leakage of pruned models: `{report['dataset']}`")
    document.warnings(report.get("warnings") or [])
    document.paragraph(
        f"Iterative pruning to sparsity {fmt(pruned['sparsity'])} ({rounds} rounds), strongest "
        f"attack: {'; '.join(changes)}. Chance (strongest attack, shuffled labels, 95th pct): "
        f"AUC {checks['chance AUC (95th pct)'] or '-'}; shift check: AUC "
        f"{checks['shift check AUC'] or '-'}. Test accuracy went from "
        f"{fmt(dense['test_accuracy'])} to {fmt(pruned['test_accuracy'])}. One-shot pruning to "
        f"the same sparsity: test accuracy {fmt(one_shot['test_accuracy'])}, strongest AUC "
        f"{fmt(strongest(one_shot['attacks'], 'auc')[1])}."
    )
    document.paragraph(above_chance_sentence(models))
    document.heading("Victim models")
    document.table(_checks_table(models))
    document.table(_victims_table(report, unresolvable))
    document.paragraph("Bold marks the strongest attack per metric and model.")
    document.figure("roc_curves.png", "Log-log ROC curves of every attack, per victim model")
    document.heading("Settings used")
    document.paragraph(
        f"Pruning: sparsity {pruning.get('sparsity', '?')} in {rounds} rounds of up to "
        f"{pruning.get('epochs_per_round', '?')} fine-tuning epochs (`pruning`); one-shot "
        "pruning reaches the same sparsity at once with the same fine-tuning budget. No "
        "defense."
    )
    document.heading("Leakage round by round (iterative pruning)")
    document.table(_rounds_summary(report))
    document.figure("rounds.png", "Accuracy, sparsity and attack AUC per prune round")
    document.heading("How to read this")
    note = unresolvable_note(non_members)
    document.bullets(
        [
            "Each attack is calibrated on shadow models that went through the same training "
            "and pruning as the victim, then scores the victim's members against an equal "
            f"number of non-members ({non_members} each).",
            "Balanced accuracy 0.5 and AUC 0.5 mean no leakage; TPR at a low FPR is the share "
            "of members an attacker identifies while almost never accusing a non-member.",
            *reading_note_items(report["evaluation"]),
            note,
            "Plots: `roc_curves.png` (log-log ROC per model), `rounds.png` (accuracy, sparsity "
            "and attack metrics per round).",
        ]
    )
    return document


def run_markdown(report: dict[str, Any]) -> str:
    """The summary as markdown (:func:`run_document`)."""
    return run_document(report).markdown()


def _checks_table(models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": title(name),
                "test acc": fmt(model["test_accuracy"]),
                "strongest AUC": strongest_cell(model["attacks"], "auc"),
                **checks_cells(model.get("checks", {})),
            }
            for name, model in models.items()
        ]
    )


def _victims_table(report: dict[str, Any], unresolvable: set[str]) -> pd.DataFrame:
    models = report["models"]
    table = attack_tables({title(m["name"]): m["attacks"] for m in models}, unresolvable)
    accuracy = {title(m["name"]): fmt(m["test_accuracy"]) for m in models}
    sparsity = {title(m["name"]): fmt(m["sparsity"]) for m in models}
    table.insert(1, "test acc", table["model"].map(accuracy))
    table.insert(2, "sparsity", table["model"].map(sparsity))
    return table


def _rounds_summary(report: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "round": str(entry["round"]),
                "sparsity": fmt(entry["sparsity"]),
                "test acc": fmt(entry["test_accuracy"]),
                "epochs": str(entry["epochs"]),
                "strongest AUC": strongest_cell(entry["attacks"], "auc"),
                "strongest balanced acc": strongest_cell(entry["attacks"], "balanced_accuracy"),
            }
            for entry in report["rounds"]
        ]
    )
