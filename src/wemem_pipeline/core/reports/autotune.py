"""The autotune report: the chosen setting, the front of leakage against accuracy, and Base."""

from __future__ import annotations

import json
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .document import Document
from .figures import PRIVACY_METRICS
from .tables import fmt, predicted_loss
from .titles import title

# How a tuned setting is used (the scenarios' defaults in conf/base).
USE_TUNED = {
    "rsw": "`kedro run --pipeline=scenario1 --params scenario1.settings=auto`",
    "rmr": "`kedro run --pipeline=scenario2 --params scenario2.settings=auto`",
    "swmr": "`kedro run --pipeline=scenario3 --params scenario3.settings=auto`",
    "baseline": "`kedro run --pipeline=compare --params compare.tuned=true` (every defense tuned)",
}


def autotune_document(tuned: dict[str, Any], trials: pd.DataFrame) -> Document:
    """What was tuned, on what, the chosen setting against Base, and the front
    (``autotune.md`` and ``report.html``)."""
    estimate, counts, config = tuned["estimate"], tuned["trials"], tuned["autotune"]
    metric = PRIVACY_METRICS[estimate["metric"]]
    base = estimate["base"]
    checks = tuned.get("victim_size")
    where = "at the victim's size" if checks else ""
    verdict = (
        f"within the budget of {fmt(config['max_accuracy_loss'])} accuracy {where}".rstrip()
        if tuned["feasible"]
        else f"**no trial met the budget of {fmt(config['max_accuracy_loss'])} accuracy "
        f"{where}**; this is the {'checked' if checks else 'completed'} trial that lost the least"
    )
    chosen = pd.DataFrame(
        [
            {
                "model": "Base (no defense)",
                "accuracy": fmt(base["accuracy"], 4),
                metric: fmt(base["leakage"], 4),
                "strongest attack": base["attack"],
            },
            {
                "model": f"{title(tuned['defense'])} trial {tuned['trial']}",
                "accuracy": fmt(estimate["accuracy"], 4),
                metric: fmt(estimate["leakage"], 4),
                "strongest attack": estimate["attack"],
            },
        ]
    )
    front = trials[trials["on_front"]].sort_values("accuracy", ascending=False)
    document = Document(
        f"Autotune: {title(tuned['defense'])} on `{tuned['dataset']}` (seed {tuned['seed']})"
    )
    document.paragraph(
        f"{counts['finished']} trials: {counts['finished'] - counts['pruned']} completed, "
        f"{counts['pruned']} pruned (behind Base by more than the budget after a prune round), "
        f"{counts['feasible']} within the budget. Study `{tuned['study']}`."
    )
    document.paragraph(
        f"Every trial pruned {config['num_models']} tuning models (each trained on a random "
        "half of the victim's members, early-stopped on its dev non-members) with the run's "
        f"schedule, then attacked each with the others as shadows ({', '.join(config['attacks'])})"
        f". Leakage is the strongest attack's {metric}, IN vs OUT members, mean over targets; "
        f"accuracy is the tuning models' {config['accuracy'].replace('_', '-')} accuracy. The "
        "victim, the shadows and the scored non-members were never used."
    )
    document.heading(f"Chosen setting ({verdict})")
    document.code(json.dumps(tuned["settings"], indent=2, sort_keys=True), "json")
    document.table(chosen)
    warnings = doubts(tuned)
    if warnings:
        document.bullets(warnings)
    noise = estimate.get("tuning_accuracy_noise", estimate.get("accuracy_noise"))
    if noise is not None:
        loss = estimate.get("tuning_accuracy_loss", estimate["accuracy_loss"])
        document.paragraph(
            f"Accuracy loss against Base on the tuning models: {fmt(loss, 4)}"
            f" (budget {fmt(config['max_accuracy_loss'])}). Two settings' accuracies differ by "
            f"about ±{fmt(noise, 3)} by chance (the binomial standard error of a difference over "
            "the tuning models' scored records), so a trial was pruned only when it was more "
            f"than {fmt(config['max_accuracy_loss'] + noise, 3)} behind Base after a round."
        )
    if checks:
        document.heading("Checked at the victim's size")
        document.paragraph(victim_size_text(checks, estimate, config))
        document.table(_checked_rows(trials[trials["checked_loss"].notna()], metric))
    document.paragraph(
        "These are the defender's own estimates; the real evaluation runs the tuned setting "
        f"against the victim: {USE_TUNED.get(tuned['defense'], USE_TUNED['baseline'])}."
    )
    document.figure("autotune.png", "Leakage against accuracy of every completed trial")
    document.heading("Front (no other trial is as accurate with less leakage)")
    document.table(_trial_rows(front, metric))
    return document


def victim_size_text(
    checks: dict[str, Any], estimate: dict[str, Any], config: dict[str, Any]
) -> str:
    """How the budget was checked at the victim's size, and what it predicts for the victim."""
    return (
        "Half-size tuning models lose less accuracy to a defense than the victim does, so the "
        f"least leaky trials within the budget were checked in turn on {checks['models']} "
        f"models trained on the victim's {checks['members']} members, each early-stopped on "
        f"half of its dev non-members and scored on the other half ({checks['scored']} "
        "scores in all), until one kept the budget (at most "
        f"{config.get('check_candidates', 3)}, then the trial that lost least). Base there: "
        f"accuracy {fmt(checks['accuracy'], 4)}. The chosen trial's loss there, "
        f"{predicted_loss(estimate)} (± the standard error of the records' paired "
        "differences: Base and the trial prune the same models, scored on the same records), "
        "is the prediction for the victim."
    )


def doubts(tuned: dict[str, Any]) -> list[str]:
    """What makes the chosen setting less of a finding than it looks: a value at the end of
    its range, a study whose trials cannot be told apart."""
    lines = [
        f"**{edge['setting']} = {_value(edge['value'])} is at the {edge['edge']} end of its "
        f"range [{_value(edge['range'][0])}, {_value(edge['range'][1])}]**: the best value may "
        f"lie beyond it; widen `autotune.search_space.{edge['setting']}`."
        for edge in tuned.get("at_edge", [])
    ]
    if tuned.get("flat"):
        lines.append(
            "**The study is flat**: even its leakiest completed trial lies within two standard "
            "errors (over the tuning models) of the chosen one, so no setting was clearly "
            "better than another; the chosen one is a draw among equals, not a finding."
        )
    return lines


def autotune_markdown(tuned: dict[str, Any], trials: pd.DataFrame) -> str:
    """The autotune report as markdown (:func:`autotune_document`)."""
    return autotune_document(tuned, trials).markdown()


def _trial_rows(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": trials["trial"].astype(str),
            "settings": [
                ", ".join(f"{k.removeprefix('param.')}={_value(v)}" for k, v in row.items())
                for _, row in trials.filter(like="param.").iterrows()
            ],
            "accuracy": trials["accuracy"].map(lambda v: fmt(v, 4)),
            metric: trials["leakage"].map(lambda v: fmt(v, 4)),
            "attack": trials["attack"],
            "within budget": trials["feasible"].map({True: "yes", False: "no"}),
        }
    )


def _checked_rows(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = _trial_rows(trials, metric).drop(columns="within budget")
    rows["loss, tuning models"] = trials["accuracy_loss"].map(lambda v: fmt(v, 4)).to_numpy()
    rows["loss, victim size"] = trials["checked_loss"].map(lambda v: fmt(v, 4)).to_numpy()
    rows["within budget"] = trials["checked_feasible"].map({True: "yes", False: "no"}).to_numpy()
    return rows


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def autotune_figure(tuned: dict[str, Any], trials: pd.DataFrame) -> Figure:
    """Leakage against accuracy of every completed trial, the front, the choice and Base."""
    estimate, base = tuned["estimate"], tuned["estimate"]["base"]
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    complete = trials[trials["state"] == "complete"]
    for feasible, points in complete.groupby("feasible"):
        ax.scatter(
            points["accuracy"],
            points["leakage"],
            s=30,
            alpha=0.7,
            color="tab:blue" if feasible else "tab:gray",
            label="trial within budget" if feasible else "trial over budget",
        )
    front = complete[complete["on_front"]].sort_values("accuracy")
    ax.step(
        front["accuracy"], front["leakage"], where="post", color="tab:blue", lw=1, label="front"
    )
    ax.scatter(
        [base["accuracy"]],
        [base["leakage"]],
        marker="s",
        s=80,
        color="black",
        label="Base (no defense)",
    )
    ax.scatter(
        [estimate["accuracy"]],
        [estimate["leakage"]],
        marker="*",
        s=260,
        color="tab:red",
        label=f"chosen (trial {tuned['trial']})",
        zorder=3,
    )
    _budget_line(ax, base["accuracy"], estimate["max_accuracy_loss"])
    ax.set_xlabel("tuning models' accuracy")
    ax.set_ylabel(f"strongest attack {PRIVACY_METRICS[estimate['metric']]} (tuning models)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    pruned = int((trials["state"] == "pruned").sum())
    ax.set_title(
        f"Autotune {title(tuned['defense'])} on {tuned['dataset']}: lower right is better "
        f"({pruned} pruned trials not shown)",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


def _budget_line(ax: plt.Axes, base_accuracy: float, max_accuracy_loss: float) -> None:
    """The lowest accuracy within the budget, as a line where it falls among the trials.

    A budget larger than the spread of the trials puts it far left of them (below 0 when it
    exceeds Base's accuracy); drawn there, it would squeeze every trial into a corner, so
    the legend states it instead."""
    lowest = base_accuracy - max_accuracy_loss
    label = f"accuracy budget: Base - {max_accuracy_loss:.3g} = {lowest:.3f}"
    left, right = ax.get_xlim()
    if lowest >= left:
        ax.axvline(lowest, color="tab:red", ls="--", lw=1, label=label)
        ax.axvspan(left, lowest, color="tab:red", alpha=0.06, lw=0, label="over budget")
        ax.set_xlim(left, right)
    else:
        ax.plot([], [], color="tab:red", ls="--", lw=1, label=f"{label} (left of the plot)")
