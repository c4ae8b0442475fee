"""A scenario's report: Dense, Base and the defended iterative pruning of the victim.

``report.json`` has the schema of the default report (one entry per model: ``dense``,
``base``, the defense; ``chance_accuracy`` and ``warnings``) plus each pruned model's
fine-tuning cost and data reuse, the defense's summary per model, and the defended victim
round by round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..chance import ChanceLevel
from ..defenses import idle_in_summary
from ..evaluation import round_stage
from ..scenario import reuse_statistics
from ..splits import VICTIM
from ..victim_and_shadows import victim_history
from .document import Document
from .figures import privacy_utility_figure
from .run import evaluation_sizes
from .tables import (
    METRIC_TITLES,
    above_chance_sentence,
    attack_dict,
    attack_tables,
    autotune_source,
    chance_accuracy,
    chance_warnings,
    checks_cells,
    fmt,
    model_row,
    plot_columns,
    predicted_loss,
    predicted_where,
    reading_note_items,
    settings_table,
    stage_checks,
    strongest_cell,
    unresolvable_metrics,
    unresolvable_note,
    verdicts,
)
from .titles import title


def build_scenario_report(
    dataset: str,
    parameters: dict[str, Any],
    scenario: str,
    defense: str,
    histories: Mapping[str, pd.DataFrame],
    metrics: pd.DataFrame,
    sample_uses: Mapping[str, pd.DataFrame],
    summaries: Mapping[str, Any],
    record_risk: Mapping[str, Any] | None = None,
    chance: ChanceLevel | None = None,
    warnings: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    settings_source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``report.json`` of a scenario.

    Args:
        dataset: the dataset's name.
        parameters: the run's parameters, kept in the report.
        scenario: the scenario's name (``scenario1`` ...).
        defense: the defense's name (``rsw`` ...).
        histories: the histories of ``dense``, ``base`` and ``defended``.
        metrics: every attack on every stage (see :func:`..scenario.scenario_stages`).
        sample_uses: the member reuse of ``base`` and ``defended``.
        summaries: the defense's summary per model.
        record_risk: which members are exposed under Base and the defense
            (:func:`..record_risk.risk_summary`).
        chance: the victim's chance level, against which every model's test accuracy is
            checked.
        warnings: what the run's settings make meaningless
            (:func:`..run_checks.settings_warnings`).
        settings: the defense's settings as the run used them (``auto`` resolved).
        settings_source: for settings asked as ``auto``, the autotune study they came from
            (``{"study", "run", "file"}``).

    The report's ``defense_settings`` holds ``settings`` and, under ``autotune``, their
    source (``null`` for settings given in the parameters). The report's ``warnings`` list
    ``warnings``, the models at chance accuracy, and the parts of the defense that never
    acted on the victim (an empty risky group; risky members that never entered a window).

    Fine-tuning time is summed over the victim and its shadows, which all run the same
    procedure.
    """
    defended = histories["defended"]
    last_stage = f"{defense}_{round_stage(int(defended['round'].max()))}"
    runs = {
        "dense": (histories["dense"], "dense", None),
        "base": (histories["base"], "base", sample_uses["base"]),
        defense: (defended, last_stage, sample_uses["defended"]),
    }
    base_seconds = float(histories["base"]["seconds"].sum())
    models = [_model_entry(name, *run, metrics, base_seconds) for name, run in runs.items()]
    evaluation = evaluation_sizes(metrics, parameters)
    base, defended_model = models[1]["attacks"], models[2]["attacks"]
    report = {
        "dataset": dataset,
        "scenario": scenario,
        "defense": defense,
        "parameters": parameters,
        "evaluation": evaluation,
        "verdicts": verdicts(base, defended_model, evaluation["non_members"]),
        **(
            {"defense_settings": {"settings": dict(settings), "autotune": settings_source}}
            if settings is not None
            else {}
        ),
        "defense_summary": dict(summaries),
        "models": models,
        "rounds": _defended_rounds(defended, defense, metrics),
        **({"record_risk": dict(record_risk)} if record_risk else {}),
    }
    if chance is not None:
        report["chance_accuracy"] = chance_accuracy(models, chance)
    report["warnings"] = [
        *chance_warnings(report),
        *warnings,
        *idle_in_summary(defense, summaries.get(VICTIM, {})),
    ]
    return report


def _model_entry(
    name: str,
    history: pd.DataFrame,
    stage: str,
    uses: pd.DataFrame | None,
    metrics: pd.DataFrame,
    base_seconds: float,
) -> dict[str, Any]:
    """One model of the report; a pruned one with its cost against Base and its data reuse."""
    victim = victim_history(history).iloc[-1]
    entry = {
        "name": name,
        "test_accuracy": float(victim["test_accuracy"]),
        "sparsity": float(victim["sparsity"]),
        "training_seconds": float(history["seconds"].sum()),
        "attacks": attack_dict(metrics, stage),
        "checks": stage_checks(metrics, stage),
    }
    if uses is not None:
        entry["time_relative_to_base"] = entry["training_seconds"] / base_seconds
        entry["reuse"] = reuse_statistics(uses)
    return entry


def _defended_rounds(
    defended: pd.DataFrame, defense: str, metrics: pd.DataFrame
) -> list[dict[str, Any]]:
    return [
        {
            "round": int(row["round"]),
            "sparsity": float(row["sparsity"]),
            "test_accuracy": float(row["test_accuracy"]),
            "epochs": int(row["epochs_run"]),
            "members_seen": int(row["members_seen"]),
            "attacks": attack_dict(metrics, f"{defense}_{round_stage(int(row['round']))}"),
        }
        for _, row in victim_history(defended).iterrows()
    ]


def scenario_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per model: accuracy, sparsity, cost, reuse, and the strongest attack."""
    rows = []
    for model in report["models"]:
        reuse = model.get("reuse", {})
        row = model_row(model)
        row["training_seconds"] = model["training_seconds"]
        row["time_relative_to_base"] = model.get("time_relative_to_base", np.nan)
        rows.append(row | {k: reuse.get(k, np.nan) for k in _REUSE_COLUMNS})
    return pd.DataFrame(rows)


_REUSE_COLUMNS = ("mean_uses_total", "max_uses_total", "members_never_seen")


def scenario_document(report: dict[str, Any]) -> Document:
    """The scenario summary in words, tables and plots (``report.md`` and ``report.html``)."""
    models = {m["name"]: m for m in report["models"]}
    defense = report["defense"]
    non_members = report["evaluation"]["non_members"]
    unresolvable = unresolvable_metrics(non_members)
    document = Document(f"{report['scenario']}: {title(defense)} on `{report['dataset']}`")
    document.warnings(report.get("warnings") or [])
    document.paragraph(_verdict(models, defense, report["verdicts"], unresolvable))
    document.paragraph(above_chance_sentence(models))
    document.table(_models_table(models, unresolvable))
    document.figure("privacy_utility.png", "Test accuracy against the strongest attack")
    _settings_section(document, report)
    document.heading("Data reuse (victim members, all prune rounds)")
    document.table(_reuse_table(models))
    _risky_section(document, report)
    _record_risk_section(document, report)
    document.heading("Per attack")
    document.table(attack_tables({title(n): m["attacks"] for n, m in models.items()}, unresolvable))
    document.figure("roc_curves.png", "Log-log ROC curves of every attack, per model")
    document.paragraph(
        "Bold marks the strongest attack per metric and model. Attacks are adaptive: the "
        "shadow models went through the same pruning and the same defense, with mem-scores "
        f"computed on the shadow pool. {report['evaluation']['members']} members are scored "
        "against as many non-members. Single runs vary by as much as the differences between "
        "defenses: `evaluation.seeds=3` repeats the whole scenario and reports the spread."
    )
    document.bullets(reading_note_items(report["evaluation"]))
    document.paragraph(unresolvable_note(non_members))
    document.paragraph(
        "Plots: `privacy_utility.png` (test accuracy against the strongest attack), "
        "`roc_curves.png` (log-log ROC of every attack)."
    )
    return document


def scenario_markdown(report: dict[str, Any]) -> str:
    """The scenario summary as markdown (:func:`scenario_document`)."""
    return scenario_document(report).markdown()


def _settings_section(document: Document, report: dict[str, Any]) -> None:
    """The defense's settings as the run used them, where they came from, and the pruning
    that Base and the defense share."""
    defense, scenario = title(report["defense"]), report["scenario"]
    used = report.get("defense_settings")
    if used is None:
        return
    document.heading(f"Settings used ({defense})")
    source = used.get("autotune")
    if source:
        origin = f"`{scenario}.settings: auto`: the settings tuned by {autotune_source(source)}"
    else:
        origin = f"`{scenario}.settings` in the run's parameters"
    pruning = report["parameters"].get("pruning", {})
    document.paragraph(
        f"{defense} ran with these settings, from {origin}. Base and {defense} share the "
        f"run's iterative pruning: sparsity {pruning.get('sparsity', '?')} in "
        f"{pruning.get('rounds', '?')} rounds of up to {pruning.get('epochs_per_round', '?')} "
        "fine-tuning epochs; Base fine-tunes without a defense."
    )
    document.table(settings_table(used["settings"]))
    if source and source.get("estimate"):
        accuracy = {model["name"]: model["test_accuracy"] for model in report["models"]}
        measured = accuracy["base"] - accuracy[report["defense"]]
        test_samples = report.get("chance_accuracy", {}).get("test_samples", 0)
        document.paragraph(
            predicted_against_measured(
                source["estimate"], measured, defense, accuracy["base"], test_samples
            )
        )


def budget_margin(estimate: Mapping[str, Any], base_accuracy: float, test_samples: int) -> float:
    """How far the victim's measured accuracy loss may lie above the budget by chance: the
    standard errors of the study's estimate (its tuning models' records) and of the victim's
    own measure (a binomial difference over its ``test_samples``), combined."""
    victim = (
        math.sqrt(2 * base_accuracy * (1 - base_accuracy) / test_samples) if test_samples else 0.0
    )
    return math.hypot(estimate.get("accuracy_noise") or 0.0, victim)


def predicted_against_measured(
    estimate: Mapping[str, Any],
    measured: float,
    name: str,
    base_accuracy: float,
    test_samples: int,
) -> str:
    """The accuracy loss autotune predicted beside the victim's, and
    whether the victim's lies within the budget plus :func:`budget_margin`."""
    budget = estimate["max_accuracy_loss"]
    margin = budget_margin(estimate, base_accuracy, test_samples)
    verdict = "within" if measured <= budget + margin else "**outside**"
    return (
        f"Accuracy loss against Base: autotune predicted {predicted_loss(estimate)} "
        f"{predicted_where(estimate)} (budget {fmt(budget)}); the victim lost "
        f"{fmt(measured, 3)} with "
        f"{name}, measured on {test_samples} test samples. With the standard errors of both "
        f"measures (±{fmt(margin, 3)} together) that is {verdict} the budget "
        f"({fmt(budget + margin, 3)} at most)."
    )


def _verdict(
    models: dict[str, dict[str, Any]],
    defense: str,
    verdicts: dict[str, str],
    unresolvable: set[str],
) -> str:
    dense, base, defended = models["dense"], models["base"], models[defense]
    name = title(defense)
    changes = [
        f"{METRIC_TITLES[metric]} {strongest_cell(base['attacks'], metric, unresolvable)} -> "
        f"{strongest_cell(defended['attacks'], metric, unresolvable)}: **{verdicts[metric]}**"
        for metric in ("auc", "tpr_at_1pct_fpr")
    ]
    accuracy_change = 100 * (defended["test_accuracy"] - base["test_accuracy"])
    checks = checks_cells(defended.get("checks", {}))
    return (
        f"{name} against Base, strongest attack on the pruned victim: {'; '.join(changes)}. "
        f"Dense: AUC {strongest_cell(dense['attacks'], 'auc')}. Chance (strongest attack, "
        f"shuffled labels, 95th pct): AUC {checks['chance AUC (95th pct)'] or '-'}; shift "
        f"check: AUC {checks['shift check AUC'] or '-'}. Test accuracy: dense "
        f"{fmt(dense['test_accuracy'])}, Base {fmt(base['test_accuracy'])}, {name} "
        f"{fmt(defended['test_accuracy'])} ({accuracy_change:+.1f} points against Base). "
        f"Fine-tuning time: {defended['time_relative_to_base']:.2f}x Base's."
    )


def _models_table(models: dict[str, dict[str, Any]], unresolvable: set[str]) -> pd.DataFrame:
    rows = []
    for name, model in models.items():
        relative = model.get("time_relative_to_base")
        attacks = model["attacks"]
        rows.append(
            {
                "model": title(name),
                "test acc": fmt(model["test_accuracy"]),
                "sparsity": fmt(model["sparsity"]),
                "strongest AUC": strongest_cell(attacks, "auc"),
                "strongest TPR@1%FPR": strongest_cell(attacks, "tpr_at_1pct_fpr", unresolvable),
                "strongest balanced acc": strongest_cell(attacks, "balanced_accuracy"),
                **checks_cells(model.get("checks", {})),
                "fine-tuning time vs Base": "" if relative is None else f"{relative:.2f}x",
            }
        )
    return pd.DataFrame(rows)


def _reuse_table(models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": title(name),
                "members": str(reuse["members"]),
                "seen per round": f"{reuse['members_seen_per_round']:.0f}",
                "never seen": str(reuse["members_never_seen"]),
                "mean uses": f"{reuse['mean_uses_total']:.1f}",
                "max uses": str(reuse["max_uses_total"]),
            }
            for name, model in models.items()
            if (reuse := model.get("reuse"))
        ]
    )


def _risky_section(document: Document, report: dict[str, Any]) -> None:
    summary = report["defense_summary"].get(VICTIM, {})
    risky = summary.get("risky_per_class")
    if not risky:
        return
    table = pd.DataFrame([{"class": "risky", **{c: str(n) for c, n in risky.items()}}])
    document.heading("Risky members per class (victim)").table(table)
    entered = summary.get("risky_in_window_per_round")
    if entered is not None:
        counts = ", ".join(str(count) for count in entered)
        document.paragraph(
            f"Risky members that entered a window, per round: {counts} (of "
            f"{summary['risky_total']}); the regularization acts on these only."
        )


def _record_risk_section(document: Document, report: dict[str, Any]) -> None:
    risk = report.get("record_risk")
    if not risk:
        return
    defense, fpr = report["defense"], risk["exposed_at_fpr"]
    top_fifth = risk["exposed_share_top_mem_quintile"]
    table = pd.DataFrame(
        [
            {
                "model": title(model),
                f"members exposed at {fpr:.0%} FPR": f"{share:.1%}",
                "of the most memorable fifth": f"{top_fifth[model]:.1%}",
            }
            for model, share in risk["exposed_share"].items()
        ]
    )
    medians = risk["median_mem_score"]
    count = risk["most_exposed"]
    document.heading("Which records leak (victim members, LiRA and RMIA)")
    document.paragraph(
        f"A member is exposed when LiRA or RMIA flags it at {fpr:.0%} FPR (at most "
        f"{2 * fpr:.0%} of non-members are). Of the {count} most exposed members, "
        f"{risk['most_exposed_shared']} {'is' if risk['most_exposed_shared'] == 1 else 'are'} "
        f"the same under Base and {title(defense)}. Their "
        f"median mem-score: Base {fmt(medians['base'], 2)}, {title(defense)} "
        f"{fmt(medians[defense], 2)}, all members {fmt(medians['members'], 2)}."
    )
    document.table(table)
    document.figure("record_risk.png", "Exposure against mem-score, Base and the defense")
    document.figure("exposed_records.png", "The most exposed members under Base and the defense")
    document.paragraph(
        "Per record: `record_risk.parquet` (exposure, mem-score, uses per round); plots "
        "`record_risk.png` (exposure against mem-score) and `exposed_records.png`."
    )


def scenario_figure(report: dict[str, Any]) -> Figure:
    """Test accuracy against the strongest attack: Dense, Base and the defense."""
    rows = pd.DataFrame([model_row(model) for model in report["models"]])
    points = pd.DataFrame({"defense": rows["model"], "label": "", **plot_columns(rows)})
    return privacy_utility_figure(points, f"{report['scenario']}: privacy-utility")


def scenario_roc_panels(report: dict[str, Any]) -> dict[str, str]:
    """``{title: stage}`` of Dense, Base and the defended victim's last round."""
    defense = report["defense"]
    last_round = round_stage(report["rounds"][-1]["round"])
    return {
        "Dense": "dense",
        "Base (iteratively pruned)": "base",
        f"{title(defense)} (iteratively pruned)": f"{defense}_{last_round}",
    }
