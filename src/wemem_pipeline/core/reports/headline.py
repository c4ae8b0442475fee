"""The few numbers a run ends with: per model its test accuracy and strongest attack, and the
verdict in one sentence, taken from any of the project's report documents.

The console summary at the end of a run and the experiment tracker both read these, so what
a user sees and what is logged are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..defenses import WEMEM_NAMES
from ..evaluation import round_stage
from ..verdicts import unresolved_sentence
from .compare import front_sentence
from .seeds import difference_interval, mean_sd
from .tables import (
    METRIC_TITLES,
    STRONGEST_COLUMNS,
    attack_dict,
    chance_warnings,
    fmt,
    predicted_loss,
    predicted_where,
    stage_checks,
    strongest,
    unresolvable_metrics,
    verdicts,
)
from .titles import title

HEADLINE_METRICS = ("test_accuracy", "auc", "tpr_at_1pct_fpr")


@dataclass
class Headline:
    """One report's result: a heading, a table of display cells, the verdict sentence, the
    numbers behind the table (``{model: {metric: value}}``, metrics of ``HEADLINE_METRICS``)
    and the report's warnings."""

    heading: str
    table: pd.DataFrame
    verdict: str
    numbers: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def report_headline(report: dict[str, Any]) -> Headline:
    """A scenario's or the default run's ``report.json``: each victim model, and the defense
    against Base (a scenario) or iterative pruning against the dense model."""
    models = {model["name"]: model for model in report["models"]}
    non_members = report["evaluation"]["non_members"]
    unresolvable = unresolvable_metrics(non_members)
    if "defense" in report:
        reference, compared = "base", report["defense"]
        heading = f"{report['scenario']}: {title(compared)} on {report['dataset']}"
    else:
        reference, compared = "dense", "iterative"
        heading = f"Membership leakage of pruning on {report['dataset']}"
    rows, numbers = [], {}
    for name, model in models.items():
        auc_attack, auc = strongest(model["attacks"], "auc")
        tpr_attack, tpr = strongest(model["attacks"], "tpr_at_1pct_fpr")
        numbers[name] = {
            "test_accuracy": model["test_accuracy"],
            "auc": auc,
            "tpr_at_1pct_fpr": tpr,
        }
        rows.append(
            {
                "model": title(name),
                "test acc": fmt(model["test_accuracy"]),
                "strongest AUC": f"{fmt(auc)} ({auc_attack})",
                "strongest TPR@1%FPR": (
                    "n/r" if "tpr_at_1pct_fpr" in unresolvable else f"{fmt(tpr)} ({tpr_attack})"
                ),
            }
        )
    changes = "; ".join(
        f"{METRIC_TITLES[metric]} {fmt(numbers[reference][metric])} -> "
        f"{fmt(numbers[compared][metric])}, {report['verdicts'][metric]}"
        for metric in ("auc", "tpr_at_1pct_fpr")
    )
    accuracy = 100 * (numbers[compared]["test_accuracy"] - numbers[reference]["test_accuracy"])
    verdict = (
        f"{title(compared)} against {title(reference)}, strongest attack: {changes}; "
        f"test accuracy {accuracy:+.1f} points."
    )
    if "defense" in report:
        unresolved = unresolved_sentence(report["verdicts"], report["dataset"], non_members)
        verdict += f" {unresolved}" if unresolved else ""
    at_chance = (report.get("chance_accuracy") or {}).get("models_at_chance", [])
    if at_chance:
        names = ", ".join(title(name) for name in at_chance)
        whose = "its" if len(at_chance) == 1 else "their"
        verdict = (
            f"Meaningless: {names} {'is' if len(at_chance) == 1 else 'are'} at chance accuracy, "
            f"so {whose} leakage numbers mean nothing. {verdict}"
        )
    warnings = [w for w in report.get("warnings", []) if w not in chance_warnings(report)]
    return Headline(heading, pd.DataFrame(rows), verdict, numbers, warnings)


def seeds_headline(report: dict[str, Any]) -> Headline:
    """A multi-seed aggregate (``seeds/report.json``): mean ± sd over the seeds and the
    verdicts paired over the seeds."""
    rows, numbers = [], {}
    for model in report["models"]:
        auc, tpr = STRONGEST_COLUMNS["auc"][0], STRONGEST_COLUMNS["tpr_at_1pct_fpr"][0]
        numbers[model["model"]] = {
            "test_accuracy": model["test_accuracy_mean"],
            "auc": model[f"{auc}_mean"],
            "tpr_at_1pct_fpr": model[f"{tpr}_mean"],
        }
        rows.append(
            {
                "model": title(model["model"]),
                "test acc": mean_sd(model, "test_accuracy"),
                "strongest AUC": mean_sd(model, auc),
                "strongest TPR@1%FPR": mean_sd(model, tpr),
            }
        )
    changes = "; ".join(
        f"{METRIC_TITLES[metric]} {difference_interval(result)}, {result['verdict']}"
        for metric, result in report["verdicts"].items()
    )
    verdict = (
        f"{title(report['compared'])} against {title(report['reference'])}, strongest attack's "
        f"difference paired over {len(report['seeds'])} seeds: {changes}."
    )
    heading = (
        f"{report['heading']} on {report['dataset']}, seeds {report['seeds']} "
        "(mean ± sd over the seeds)"
    )
    return Headline(heading, pd.DataFrame(rows), verdict, numbers, report.get("warnings", []))


def comparison_headline(comparison: pd.DataFrame) -> Headline:
    """The ``compare`` table: Dense, Base and every run on an accuracy-leakage front (the
    report lists the rest), and where the WeMem defenses stand."""
    shown = comparison[
        comparison["defense"].isin(("dense", "base"))
        | comparison["pareto_auc"]
        | comparison["pareto_tpr_at_1pct_fpr"]
    ]
    rows = [
        {
            "run": row["run"],
            "test acc": fmt(row["test_accuracy"]),
            "strongest AUC": f"{fmt(row['auc'])} ({row['auc_attack']})",
            "strongest TPR@1%FPR": (
                f"{fmt(row['tpr_at_1pct_fpr'])} ({row['tpr_at_1pct_fpr_attack']})"
            ),
            "on a front": "yes" if row["pareto_auc"] or row["pareto_tpr_at_1pct_fpr"] else "",
        }
        for _, row in shown.iterrows()
    ]
    hidden = len(comparison) - len(shown)
    verdict = " ".join(
        front_sentence(comparison, metric).removeprefix("- ")
        for metric in ("auc", "tpr_at_1pct_fpr")
    )
    if hidden:
        verdict += f" {hidden} run(s) off both fronts are in the report."
    numbers = {
        row["run"]: {metric: float(row[metric]) for metric in HEADLINE_METRICS}
        for _, row in comparison.iterrows()
    }
    return Headline("Defense comparison", pd.DataFrame(rows), verdict, numbers)


def comparison_seeds_headline(summary: pd.DataFrame) -> Headline:
    """The ``compare`` table over seeds: every run's mean ± sd and its verdicts against Base."""
    rows = [
        {
            "run": row["run"],
            "test acc": mean_sd(row, "test_accuracy"),
            "strongest AUC": mean_sd(row, "auc"),
            "strongest TPR@1%FPR": mean_sd(row, "tpr_at_1pct_fpr"),
            "vs Base (AUC / TPR)": (
                f"{row['auc_vs_base']} / {row['tpr_at_1pct_fpr_vs_base']}"
                if row["auc_vs_base"]
                else ""
            ),
        }
        for _, row in summary.iterrows()
    ]
    lowered = summary[summary["auc_vs_base"] == "lowered"]["run"].tolist()
    verdict = (
        f"Lowered the strongest AUC against Base over {int(summary['seeds'].iloc[0])} seeds: "
        f"{', '.join(lowered) if lowered else 'no run'}."
    )
    numbers = {
        row["run"]: {metric: float(row[f"{metric}_mean"]) for metric in HEADLINE_METRICS}
        for _, row in summary.iterrows()
    }
    heading = "Defense comparison over seeds (mean ± sd over the seeds)"
    return Headline(heading, pd.DataFrame(rows), verdict, numbers)


def autotune_headline(tuned: dict[str, Any]) -> Headline:
    """The tuned settings: Base against the chosen trial, on the tuning models."""
    estimate, base = tuned["estimate"], tuned["estimate"]["base"]
    metric = METRIC_TITLES[estimate["metric"]]
    chosen = f"{title(tuned['defense'])} (trial {tuned['trial']})"
    rows = [
        {"model": "Base", "accuracy": fmt(base["accuracy"]), metric: fmt(base["leakage"])},
        {"model": chosen, "accuracy": fmt(estimate["accuracy"]), metric: fmt(estimate["leakage"])},
    ]
    budget = fmt(tuned["autotune"]["max_accuracy_loss"])
    verdict = (
        f"Chose {tuned['settings']} ({'within' if tuned['feasible'] else 'outside'} the "
        f"accuracy budget of {budget}); leakage estimated on the tuning models, accuracy "
        f"loss {predicted_loss(estimate)} {predicted_where(estimate)}, not on the victim."
    )
    edges = [edge["setting"] for edge in tuned.get("at_edge", [])]
    if edges:
        verdict += f" At the end of its range: {', '.join(edges)} (widen the search space)."
    if tuned.get("flat"):
        verdict += " The study is flat: no trial was clearly better than another."
    numbers = {
        name: {"accuracy": values["accuracy"], estimate["metric"]: values["leakage"]}
        for name, values in (("base", base), ("chosen", estimate))
    }
    return Headline(f"Autotune: {title(tuned['defense'])}", pd.DataFrame(rows), verdict, numbers)


def audit_headline(report: dict[str, Any]) -> Headline:
    """The audit: each model kind's accuracy and strongest TPR@1%FPR under each evaluation."""
    accuracy = {s["stage"]: s["test_accuracy"] for s in report["stages"]}
    rows, numbers = [], {}
    for stage, value in accuracy.items():
        row = {"model": title(stage), "test acc": fmt(value)}
        for subset, by_stage in report["evaluations"].items():
            if stage in by_stage:
                row[f"TPR@1%FPR {subset}"] = fmt(by_stage[stage]["tpr_at_1pct_fpr"]["value"])
        rows.append(row)
        numbers[stage] = {"test_accuracy": value}
    verdict = " ".join(report["verdicts"]) or "Only Dense and one model kind were audited."
    return Headline(f"Audit on {report['dataset']}", pd.DataFrame(rows), verdict, numbers)


def attacks_headline(metrics: pd.DataFrame) -> Headline:
    """The ``attacks`` pipeline's table: the dense, the one-shot (when it was attacked) and
    the last round's victim, and the last round against the dense one."""
    rounds = sorted(int(stage.removeprefix("round_")) for stage in _round_stages(metrics))
    last = round_stage(rounds[-1])
    stages = {"Dense": "dense", "One-shot pruned": "one_shot"}
    stages = {name: stage for name, stage in stages.items() if stage in set(metrics["stage"])}
    stages[f"Iteratively pruned (round {rounds[-1]})"] = last
    verdict = _stage_verdict(metrics, "Dense", "dense", "Iteratively pruned", last)
    if "one_shot" not in stages.values():
        verdict += (
            " One-shot pruned: not attacked, no fitting one-shot outputs are stored "
            "(`kedro run --pipelines=pruning,attacks` attacks it too)."
        )
    verdict += " `kedro run --pipeline=reporting` writes the report from these metrics."
    return _stages_headline(metrics, stages, "Attacks on every stage", verdict)


def stored_headline(metrics: pd.DataFrame) -> Headline:
    """The ``attack_stored`` table: the stored model against the project's own victim of the
    stage whose shadows attacked it."""
    project = next(stage for stage in metrics["stage"].unique() if stage != "stored")
    reference = f"the project's {title(project.removeprefix('project_')).lower()} victim"
    stages = {"Stored model": "stored", reference[0].upper() + reference[1:]: project}
    verdict = _stage_verdict(metrics, reference, project, "The stored model", "stored")
    return _stages_headline(metrics, stages, "A stored model against the project's victim", verdict)


def _round_stages(metrics: pd.DataFrame) -> list[str]:
    return [stage for stage in metrics["stage"].unique() if stage.startswith("round_")]


def _stages_headline(
    metrics: pd.DataFrame, stages: dict[str, str], heading: str, verdict: str
) -> Headline:
    """Per ``{model title: stage}`` its strongest attacks and whether the strongest AUC lies
    above the chance reference."""
    unresolvable = unresolvable_metrics(int(metrics["non_members"].iloc[0]))
    rows, numbers = [], {}
    for name, stage in stages.items():
        attacks = attack_dict(metrics, stage)
        auc_attack, auc = strongest(attacks, "auc")
        tpr_attack, tpr = strongest(attacks, "tpr_at_1pct_fpr")
        numbers[stage] = {"auc": auc, "tpr_at_1pct_fpr": tpr}
        above = stage_checks(metrics, stage).get("above_chance", {}).get("auc")
        rows.append(
            {
                "model": name,
                "strongest AUC": f"{fmt(auc)} ({auc_attack})",
                "strongest TPR@1%FPR": (
                    "n/r" if "tpr_at_1pct_fpr" in unresolvable else f"{fmt(tpr)} ({tpr_attack})"
                ),
                "AUC above chance": "" if above is None else ("yes" if above else "no"),
            }
        )
    return Headline(heading, pd.DataFrame(rows), verdict, numbers)


def _stage_verdict(
    metrics: pd.DataFrame, reference: str, reference_stage: str, compared: str, stage: str
) -> str:
    """``compared`` against ``reference`` on the strongest attack's AUC and TPR@1%FPR."""
    before, after = attack_dict(metrics, reference_stage), attack_dict(metrics, stage)
    judged = verdicts(before, after, int(metrics["non_members"].iloc[0]))
    changes = "; ".join(
        f"{METRIC_TITLES[metric]} {fmt(strongest(before, metric)[1])} -> "
        f"{fmt(strongest(after, metric)[1])}, {judged[metric]}"
        for metric in ("auc", "tpr_at_1pct_fpr")
    )
    return f"{compared} against {reference}, strongest attack: {changes}."


def leaderboard_headline(fronts: pd.DataFrame) -> Headline:
    """The leaderboard's summary across datasets: on how many each defense is on a front."""
    rows = [
        {
            "defense": title(row["defense"]),
            "datasets": int(row["datasets"]),
            "population front": int(row["front_population"]),
            "worst-case front": int(row["front_worst_case"]),
        }
        for _, row in fronts.iterrows()
    ]
    datasets = int(fronts["datasets"].max()) if len(fronts) else 0
    wemem = fronts[fronts["defense"].isin(WEMEM_NAMES)]
    on_a_front = wemem[(wemem["front_population"] > 0) | (wemem["front_worst_case"] > 0)]
    verdict = (
        f"{datasets} dataset(s). WeMem defenses on a front somewhere: "
        f"{', '.join(title(d) for d in on_a_front['defense']) or 'none'}."
    )
    return Headline("Leaderboard", pd.DataFrame(rows), verdict)
