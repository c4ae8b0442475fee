"""Reports over several seeds: every row of the per-seed reports as mean ± sd over the seeds.

A multi-seed run repeats the whole experiment once per seed (splits, initialisations,
sampling all change). Its verdicts pair the seeds: a defense "lowered" leakage only when the
t-interval of the per-seed differences excludes zero (see :mod:`..verdicts`); how each seed
alone would have judged is reported beside it, which shows how often one seed misleads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..verdicts import seed_verdict
from .document import Document
from .figures import privacy_utility_figure
from .run import per_attack_table
from .tables import (
    METRIC_TITLES,
    STRONGEST_COLUMNS,
    fmt,
    model_row,
)
from .titles import title

VERDICT_METRICS = ("auc", "tpr_at_1pct_fpr")


def seed_table(tables: Mapping[int, pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """One row per ``keys``: ``<column>_mean`` and ``<column>_sd`` over the seeds of every
    numeric column of the per-seed ``tables`` ({seed: table}); flags become the share of seeds."""
    stacked = pd.concat([table.assign(seed=seed) for seed, table in tables.items()])
    numeric = [
        column
        for column in stacked.columns
        if column not in (*keys, "seed") and pd.api.types.is_numeric_dtype(stacked[column])
    ]
    grouped = stacked.groupby(list(keys), sort=False)[numeric]
    summary = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_sd"))
    ordered = [f"{column}_{stat}" for column in numeric for stat in ("mean", "sd")]
    return summary[ordered].reset_index().assign(seeds=len(tables))


def seeds_report(reports: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """The aggregate of per-seed reports ({seed: report.json}) of one experiment.

    A scenario's defense is judged against Base, the default run's iterative pruning
    against the dense model: the same pairs as the per-seed verdicts.
    """
    first = next(iter(reports.values()))
    if "defense" in first:
        reference, compared = "base", first["defense"]
        heading = f"{first['scenario']}: {title(compared)}"
    else:
        reference, compared, heading = "dense", "iterative", "Membership leakage of pruning"
    models = {
        seed: pd.DataFrame([model_row(m) for m in r["models"]]) for seed, r in reports.items()
    }
    attacks = {
        seed: per_attack_table(r["models"], {"model": "name"}) for seed, r in reports.items()
    }
    verdicts = {}
    for metric in VERDICT_METRICS:
        column = STRONGEST_COLUMNS[metric][0]
        values = {
            name: [table.set_index("model").at[name, column] for table in models.values()]
            for name in (reference, compared)
        }
        verdict, difference, half_width = seed_verdict(values[reference], values[compared])
        verdicts[metric] = {
            "verdict": verdict,
            "difference": difference,
            "half_width": half_width,
            "per_seed": {str(seed): r["verdicts"][metric] for seed, r in reports.items()},
        }
    return _json_safe(
        {
            "heading": heading,
            "dataset": first["dataset"],
            "reference": reference,
            "compared": compared,
            "seeds": list(reports),
            "evaluation": first["evaluation"],
            "verdicts": verdicts,
            "models": seed_table(models, ["model"]).to_dict("records"),
            "per_seed": pd.concat(
                [table.assign(seed=seed) for seed, table in models.items()]
            ).to_dict("records"),
            "attacks": seed_table(attacks, ["model", "attack"]).to_dict("records"),
            # Each seed's warnings (a setting warned for every seed is said once).
            "warnings": _seed_warnings(reports),
        }
    )


def _seed_warnings(reports: Mapping[int, dict[str, Any]]) -> list[str]:
    """The per-seed reports' warnings: as they are where every seed has one, else with the
    seeds that have it."""
    seeds: dict[str, list[int]] = {}
    for seed, report in reports.items():
        for warning in report.get("warnings", []):
            seeds.setdefault(warning, []).append(seed)
    return [
        warning if len(found) == len(reports) else f"seed {', '.join(map(str, found))}: {warning}"
        for warning, found in seeds.items()
    ]


def _json_safe(value: Any) -> Any:
    """NaN becomes null, so that report.json is strict JSON."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def mean_sd(row: Mapping[str, Any], column: str, digits: int = 3) -> str:
    """``"0.571 ± 0.012"`` from a :func:`seed_table` row."""
    mean, sd = row.get(f"{column}_mean"), row.get(f"{column}_sd")
    if mean is None or pd.isna(mean):
        return ""
    return f"{fmt(mean, digits)} ± {fmt(sd, digits) or '-'}"


def difference_interval(verdict: Mapping[str, Any]) -> str:
    """``"-0.020 ± 0.011 (95% t-interval)"``: a paired verdict's mean difference and the
    half-width of its 95% t-interval over the seeds."""
    half_width = fmt(verdict["half_width"])
    interval = f" ± {half_width} (95% t-interval)" if half_width else " (one seed: no interval)"
    return f"{fmt(verdict['difference'])}{interval}"


def mean_sd_bounds(row: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, float]:
    """``{name, name_low, name_high}`` = mean, mean - sd, mean + sd of each ``{name: column}``
    of a :func:`seed_table` row (a plot's points with error bars)."""
    bounds = {}
    for name, column in columns.items():
        mean, sd = row[f"{column}_mean"], row[f"{column}_sd"] or 0.0
        bounds |= {name: mean, f"{name}_low": mean - sd, f"{name}_high": mean + sd}
    return bounds


def seeds_document(report: dict[str, Any]) -> Document:
    """The aggregate in words and tables: verdicts over seeds, models, per seed, per attack
    (``report.md`` and ``report.html``)."""
    seeds = report["seeds"]
    models = {row["model"]: row for row in report["models"]}
    document = Document(f"{report['heading']} on `{report['dataset']}`, {len(seeds)} seeds")
    document.warnings(report.get("warnings") or [])
    document.paragraph(_seed_verdicts(report, models))
    document.heading("Models (mean ± sd over seeds)")
    document.table(
        pd.DataFrame(
            [
                {
                    "model": title(name),
                    "test acc": mean_sd(row, "test_accuracy"),
                    **{
                        f"strongest {METRIC_TITLES[m]}": mean_sd(row, STRONGEST_COLUMNS[m][0])
                        for m in STRONGEST_COLUMNS
                    },
                    "chance AUC (95th pct)": mean_sd(row, "chance_auc_q95"),
                    "shift check AUC": mean_sd(row, "shift_auc"),
                }
                for name, row in models.items()
            ]
        )
    )
    document.figure("privacy_utility.png", "Test accuracy against the strongest attack, ± sd")
    document.heading("Each seed")
    document.table(_per_seed_table(report))
    document.heading("Per attack (mean ± sd over seeds)")
    document.table(
        pd.DataFrame(
            [
                {
                    "model": title(row["model"]),
                    "attack": row["attack"],
                    **{METRIC_TITLES[m]: mean_sd(row, m) for m in STRONGEST_COLUMNS},
                }
                for row in report["attacks"]
            ]
        )
    )
    document.paragraph(
        f"Seeds {', '.join(map(str, seeds))}: each repeats the whole experiment (splits, "
        "initialisations, sampling); each seed's own report is in `seed_<seed>/`. The "
        "strongest attack is chosen per seed. The verdicts pair the seeds: the 95% t-interval "
        "of the per-seed differences must exclude zero."
    )
    return document


def seeds_markdown(report: dict[str, Any]) -> str:
    """The aggregate as markdown (:func:`seeds_document`)."""
    return seeds_document(report).markdown()


def _seed_verdicts(report: dict[str, Any], models: dict[str, dict[str, Any]]) -> str:
    reference, compared = report["reference"], report["compared"]
    sentences = []
    for metric, verdict in report["verdicts"].items():
        column = STRONGEST_COLUMNS[metric][0]
        per_seed = pd.Series(verdict["per_seed"]).value_counts()
        counts = ", ".join(f"{word} in {count}" for word, count in per_seed.items())
        sentences.append(
            f"strongest {METRIC_TITLES[metric]} {mean_sd(models[reference], column)} -> "
            f"{mean_sd(models[compared], column)}, difference {difference_interval(verdict)}"
            f": **{verdict['verdict']}** (one seed at a "
            f"time: {counts} of {len(report['seeds'])})"
        )
    return f"{title(compared)} against {title(reference)}: " + "; ".join(sentences) + "."


def _per_seed_table(report: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "seed": str(row["seed"]),
                "model": title(row["model"]),
                "test acc": fmt(row["test_accuracy"]),
                "strongest AUC": f"{fmt(row['strongest_auc'])} ({row['strongest_auc_attack']})",
                "strongest TPR@1%FPR": (
                    f"{fmt(row['strongest_tpr_at_1pct_fpr'])} ({row['strongest_tpr_attack']})"
                ),
                "chance AUC (95th pct)": fmt(row["chance_auc_q95"]),
                "shift check AUC": fmt(row["shift_auc"]),
            }
            for row in report["per_seed"]
        ]
    )


def seeds_figure(report: dict[str, Any]) -> Figure:
    """Test accuracy against the strongest attack, each model's mean with ± sd bars."""
    columns = {"test_accuracy": "test_accuracy"}
    columns |= {metric: STRONGEST_COLUMNS[metric][0] for metric in VERDICT_METRICS}
    points = pd.DataFrame(
        [
            {"defense": row["model"], "label": "", **mean_sd_bounds(row, columns)}
            for row in report["models"]
        ]
    )
    heading = f"{report['heading']}, mean ± sd over {len(report['seeds'])} seeds"
    return privacy_utility_figure(points, heading)


def comparison_seeds(tables: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Every ``compare`` run's mean ± sd over seeds ({seed: compare table}), with its
    verdicts against Base, paired over the seeds."""
    summary = seed_table(tables, ["run", "defense"])
    by_run = [table.set_index("run") for table in tables.values()]
    for metric in VERDICT_METRICS:
        base = [table.at["Base", metric] for table in by_run]
        summary[f"{metric}_vs_base"] = [
            ""
            if defense in ("base", "dense")
            else seed_verdict(base, [table.at[run, metric] for table in by_run])[0]
            for run, defense in zip(summary["run"], summary["defense"], strict=True)
        ]
    return summary


def comparison_seeds_document(
    summary: pd.DataFrame, dataset: str, seeds: Sequence[int]
) -> Document:
    """The comparison over seeds: every run's mean ± sd and its verdicts against Base."""
    rows = [
        {
            "run": row["run"],
            "test acc": mean_sd(row, "test_accuracy"),
            **{f"strongest {METRIC_TITLES[m]}": mean_sd(row, m) for m in STRONGEST_COLUMNS},
            "vs Base (AUC / TPR@1%FPR)": (
                f"{row['auc_vs_base']} / {row['tpr_at_1pct_fpr_vs_base']}"
                if row["auc_vs_base"]
                else ""
            ),
            "time vs Base": mean_sd(row, "time_relative_to_base", 2),
            "on AUC front": f"{row['pareto_auc_mean']:.0%} of seeds",
        }
        for _, row in summary.iterrows()
    ]
    document = Document(f"Defense comparison on `{dataset}`, {len(seeds)} seeds")
    document.paragraph(
        f"Seeds {', '.join(map(str, seeds))}, each a whole comparison (its own report is "
        "in `seed_<seed>/`). Mean ± sd over the seeds; the strongest attack is chosen per "
        "seed. 'vs Base' says lowered/raised only where the 95% t-interval of the per-seed "
        "differences from Base excludes zero."
    )
    document.table(pd.DataFrame(rows))
    document.figure("compare_plot.png", "Test accuracy against the strongest attack, ± sd")
    return document


def comparison_seeds_markdown(summary: pd.DataFrame, dataset: str, seeds: Sequence[int]) -> str:
    """The comparison over seeds as markdown (:func:`comparison_seeds_document`)."""
    return comparison_seeds_document(summary, dataset, seeds).markdown()


def comparison_seeds_figure(summary: pd.DataFrame) -> Figure:
    """Every run's mean test accuracy against its mean strongest attack, ± sd bars."""
    columns = {"test_accuracy": "test_accuracy", **{m: m for m in VERDICT_METRICS}}
    points = pd.DataFrame(
        [
            {"defense": row["defense"], "label": row["run"], **mean_sd_bounds(row, columns)}
            for _, row in summary.iterrows()
        ]
    )
    return privacy_utility_figure(points, f"Defenses, mean ± sd over {summary['seeds'][0]} seeds")
