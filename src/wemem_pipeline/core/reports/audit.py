"""The audit's report: both evaluations side by side for every defense, and what they say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import FigureBase

from ..audit import DENSE, SUBSETS
from ..compare import pareto_front
from ..defenses import WEMEM_NAMES
from ..verdicts import LOWERED, RAISED, interval_verdict
from .document import Document
from .figures import CHANCE_LINE, CHANCE_REFERENCE_LINE, COLORS, MARKERS
from .tables import autotune_source, fmt, settings_line
from .titles import title

HEADLINE = "tpr_at_1pct_fpr"
# Beyond this many baseline runs (a comparison's grid) each WeMem run gets one sentence
# against all of them instead of one per baseline.
MAX_PAIRWISE = 3
EVALUATION_TITLES = {
    "population": "population (every scored pair)",
    "canaries": "canaries (mislabeled records)",
    "memorable": "memorable (top mem-score fifth of the natural records)",
}


def _strongest(rows: pd.DataFrame, metric: str) -> dict[str, Any]:
    best = rows.loc[rows[metric].idxmax()]
    return {
        "attack": best["attack"],
        "value": float(best[metric]),
        "ci": [float(best[f"{metric}_ci_low"]), float(best[f"{metric}_ci_high"])],
        "chance_q95": float(best[f"chance_{metric}_q95"]),
    }


def audit_report(
    metrics: pd.DataFrame,
    exposure: pd.DataFrame,
    stages: pd.DataFrame,
    audit_params: dict[str, Any],
    dataset: str,
    sources: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per stage and evaluation the strongest attack of each metric (with its interval and
    chance reference), the fronts, the most-exposed records and the verdicts; with
    ``sources`` (the plain audit's, by defense: the autotune study of its ``auto``
    settings), each audited defense's settings and where they came from."""
    metric_names = [m for m in ("auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr") if m in metrics]
    evaluations: dict[str, dict[str, Any]] = {}
    for (subset, stage), rows in metrics.groupby(["evaluation", "stage"], sort=False):
        evaluations.setdefault(subset, {})[stage] = {
            "pairs": {
                "members": int(rows["members"].iloc[0]),
                "non_members": int(rows["non_members"].iloc[0]),
            },
            "lowest_resolvable_fpr": float(rows["lowest_resolvable_fpr"].iloc[0]),
            **{m: _strongest(rows, m) for m in metric_names},
        }
    accuracy = stages.set_index("stage")["test_accuracy"].to_dict()
    fronts = {}
    for subset, by_stage in evaluations.items():
        names = [s for s in by_stage if s != DENSE]
        risk = np.array([by_stage[s][HEADLINE]["value"] for s in names])
        on_front = pareto_front(np.array([accuracy[s] for s in names]), risk)
        fronts[subset] = [s for s, keep in zip(names, on_front, strict=True) if keep]
    top = exposure.sort_values(["exposure", "mem_score"], ascending=False)
    exposed = {
        stage: rows.head(int(audit_params.get("exposed", 10))).to_dict(orient="records")
        for stage, rows in top.groupby("stage", sort=False)
    }
    report = {
        "dataset": dataset,
        "settings": audit_params,
        "stages": stages.to_dict(orient="records"),
        "evaluations": evaluations,
        "fronts": fronts,
        "exposed": exposed,
    }
    if sources is not None:
        report["defense_settings"] = [
            {"defense": name, "settings": settings, "autotune": sources.get(name)}
            for name, settings in audit_params.get("defenses", {}).items()
        ]
    report["verdicts"] = audit_verdicts(report)
    return report


def _verdict(report: dict[str, Any], subset: str, reference: str, other: str) -> str | None:
    by_stage = report["evaluations"].get(subset, {})
    if reference not in by_stage or other not in by_stage:
        return None
    if max(by_stage[s]["lowest_resolvable_fpr"] for s in (reference, other)) > 0.01:
        pairs = min(by_stage[s]["pairs"]["non_members"] for s in (reference, other))
        return f"{subset} not resolvable at 1% FPR ({pairs} non-member pairs)"
    ref, oth = by_stage[reference][HEADLINE], by_stage[other][HEADLINE]
    verdict = interval_verdict(ref["ci"], oth["ci"])
    return f"{subset} {fmt(ref['value'])} -> {fmt(oth['value'])} ({verdict})"


def audit_verdicts(report: dict[str, Any]) -> list[str]:
    """One sentence per question: does pruning raise worst-case leakage, does each WeMem
    defense lower it, where WeMem stands against each baseline (strongest TPR@1%FPR)."""
    defense_of = _defenses(report)
    sentences = []

    def sentence(lead: str, reference: str, other: str) -> None:
        parts = [_verdict(report, subset, reference, other) for subset in SUBSETS]
        parts = [p for p in parts if p]
        if parts:
            sentences.append(f"{lead}: " + "; ".join(parts) + ".")

    base = next((s for s, defense in defense_of.items() if defense == "base"), None)
    if base:
        sentence("Pruning (Dense -> Base), strongest TPR@1%FPR", DENSE, base)
    wemem = [s for s, defense in defense_of.items() if defense in WEMEM_NAMES]
    baselines = [s for s, d in defense_of.items() if d not in (DENSE, "base", *WEMEM_NAMES)]
    for stage in wemem:
        if base:
            sentence(f"{title(stage)} against Base", base, stage)
        if len(baselines) > MAX_PAIRWISE:
            sentences.append(_against_baselines(report, stage, baselines))
            continue
        for baseline in baselines:
            sentence(f"{title(stage)} against {title(baseline)}", baseline, stage)
    return sentences


def _against_baselines(report: dict[str, Any], stage: str, baselines: list[str]) -> str:
    """One sentence for a WeMem run against many baseline runs: which it is resolvably
    below or above, per evaluation."""
    parts = []
    for subset in SUBSETS:
        by_stage = report["evaluations"].get(subset, {})
        if stage not in by_stage:
            continue
        if by_stage[stage]["lowest_resolvable_fpr"] > 0.01:
            parts.append(f"{subset} not resolvable at 1% FPR")
            continue
        own = by_stage[stage][HEADLINE]
        verdicts = {
            baseline: interval_verdict(by_stage[baseline][HEADLINE]["ci"], own["ci"])
            for baseline in baselines
            if baseline in by_stage
        }
        below = [title(b) for b, verdict in verdicts.items() if verdict == LOWERED] or ["none"]
        above = [title(b) for b, verdict in verdicts.items() if verdict == RAISED] or ["none"]
        parts.append(
            f"{subset} {fmt(own['value'])}, below {', '.join(below)}, above "
            f"{', '.join(above)} (of {len(verdicts)}; the others overlap)"
        )
    return f"{title(stage)} against the baseline runs: " + "; ".join(parts) + "."


def _defenses(report: dict[str, Any]) -> dict[str, str]:
    """Each stage's defense: the stage's own name unless a comparison run labels it."""
    return {s["stage"]: s.get("defense", s["stage"]) for s in report["stages"]}


def audit_document(report: dict[str, Any]) -> Document:
    """``audit.md`` and ``report.html``."""
    settings = report["settings"]
    document = Document(f"Audit on `{report['dataset']}`: population and worst case")
    document.paragraph(
        f"{settings.get('num_models')} models on random halves of the victim pool's records, "
        f"canaries ({settings.get('canaries')}) included, each through the dense training, "
        "the pruning schedule and the defense, and each in turn the target of every attack "
        "with the others as its IN and OUT references. Scores of all targets are pooled; "
        "intervals (95%) resample targets and records together; the chance reference is the "
        "strongest attack's 95th percentile with membership shuffled within each target."
    )
    document.bullets(report["verdicts"] or ["No defense to compare."])
    document.figure("audit_plot.png", "Test accuracy against the strongest TPR at 1% FPR")
    document.heading("Models")
    document.table(_stages_table(report))
    for subset in SUBSETS:
        if subset in report["evaluations"]:
            document.heading(f"Evaluation: {EVALUATION_TITLES[subset]}")
            document.table(_evaluation_table(report, subset))
    if "defense_settings" in report:
        document.heading("Settings used")
        document.table(_settings_table(report["defense_settings"]))
    document.heading("Most exposed records")
    document.table(_exposed_table(report))
    document.paragraph(
        "Exposure: the share of the models that trained on a record in which the strongest "
        "attack (population TPR@1%FPR) flags it at the pooled 1%-FPR threshold. Conventions: "
        "`lira` is offline and one-sided unless `attacks.lira.test` says otherwise; "
        "`lira_online` is the log-likelihood ratio of per-record IN and OUT Gaussians (one "
        "pooled variance below `global_variance_below` references); `rmia_online` averages "
        "p(x) over IN and OUT references; `correctness` and `label_noise` are label-only "
        "(`label_noise`: the share of Gaussian-noised copies of a record's input still given its "
        "label, at the noise scale that separates the shadows best)."
    )
    return document


def _settings_table(defense_settings: list[dict[str, Any]]) -> pd.DataFrame:
    """Each audited defense's settings (its other settings are its defaults), and whether
    they came from the parameters or an autotune study."""
    return pd.DataFrame(
        [
            {
                "defense": title(entry["defense"]),
                "settings": settings_line(entry["settings"] or {}) or "none",
                "from": autotune_source(entry["autotune"]) if entry["autotune"] else "parameters",
            }
            for entry in defense_settings
        ],
        columns=["defense", "settings", "from"],
    )


def _stages_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for stage in report["stages"]:
        rows.append(
            {
                "model": title(stage["stage"]),
                "test acc (OUT records)": fmt(stage["test_accuracy"]),
                "seconds": f"{stage['seconds']:.1f}",
                "time vs Base": fmt(stage.get("time_relative_to_base", np.nan), 2),
            }
        )
    return pd.DataFrame(rows)


def _cell(entry: dict[str, Any]) -> str:
    low, high = entry["ci"]
    return f"{fmt(entry['value'])} [{fmt(low)}, {fmt(high)}] ({entry['attack']})"


def _evaluation_table(report: dict[str, Any], subset: str) -> pd.DataFrame:
    rows = []
    front = set(report["fronts"].get(subset, []))
    for stage, entry in report["evaluations"][subset].items():
        row = {"model": title(stage) + (" *" if stage in front else "")}
        row["pairs"] = f"{entry['pairs']['members']}/{entry['pairs']['non_members']}"
        for metric in ("auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"):
            if metric in entry:
                resolvable = (
                    entry["lowest_resolvable_fpr"]
                    <= {"auc": 1, "tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}[metric]
                )
                row[metric] = _cell(entry[metric]) if resolvable else "not resolvable"
        row["chance TPR@1%FPR (q95)"] = fmt(entry[HEADLINE]["chance_q95"])
        rows.append(row)
    return pd.DataFrame(rows)


def _exposed_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for stage, records in report["exposed"].items():
        for record in records[:5]:
            rows.append(
                {
                    "model": title(stage),
                    "record": int(record["sample_index"]),
                    "canary": "yes" if record["canary"] else "",
                    "mem-score": fmt(record["mem_score"]),
                    "exposure": f"{record['exposure']:.2f} of {int(record['in_targets'])}",
                }
            )
    return pd.DataFrame(rows)


def audit_figure(report: dict[str, Any], figure: FigureBase | None = None) -> FigureBase:
    """Test accuracy against the strongest TPR@1%FPR, one panel per evaluation, with the
    intervals and the highest chance reference; drawn into ``figure`` when given (a
    comparison's figure holds it below its own panels)."""
    subsets = [s for s in SUBSETS if s in report["evaluations"]]
    fig = figure or plt.figure(figsize=(5 * len(subsets), 4.6))
    axes = fig.subplots(1, len(subsets), squeeze=False)
    accuracy = {s["stage"]: s["test_accuracy"] for s in report["stages"]}
    defense_of = _defenses(report)
    for ax, subset in zip(axes[0], subsets, strict=True):
        by_stage = report["evaluations"][subset]
        for stage, entry in by_stage.items():
            best = entry[HEADLINE]
            low, high = best["ci"]
            ax.errorbar(
                accuracy[stage],
                best["value"],
                yerr=[[best["value"] - low], [high - best["value"]]],
                fmt=MARKERS.get(defense_of[stage], "o"),
                color=COLORS.get(defense_of[stage], "black"),
                markerfacecolor="none",
                markersize=10,
                label=title(stage),
            )
        chance = max(entry[HEADLINE]["chance_q95"] for entry in by_stage.values())
        ax.axhline(chance, label="chance reference (q95)", **CHANCE_REFERENCE_LINE)
        ax.axhline(0.01, label="chance", **CHANCE_LINE)
        pairs = min(entry["pairs"]["non_members"] for entry in by_stage.values())
        unresolved = "" if pairs >= 100 else f"\n(1% FPR not resolvable: {pairs} non-member pairs)"
        ax.set(
            title=EVALUATION_TITLES[subset].split(" (")[0] + unresolved,
            xlabel="test accuracy (OUT records)",
            ylabel="strongest TPR at 1% FPR",
        )
        ax.grid(True, alpha=0.3)
    if figure is None:  # embedded, the comparison's legend above names the same markers
        axes[0][0].legend(fontsize="small")
    fig.suptitle("Audit: population and worst-case leakage (95% intervals)")
    if figure is None:
        fig.tight_layout()
    return fig
