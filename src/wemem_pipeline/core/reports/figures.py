"""Every plot of the reports, in one style: grids, one line style per kind of chance line,
one colour and marker per attack and per defense, the strongest attacks emphasised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure, FigureBase  # noqa: E402
from sklearn.metrics import auc  # noqa: E402

from ..attacks import ATTACKS  # noqa: E402
from ..datasets import Dataset  # noqa: E402
from ..defenses import DEFENSES  # noqa: E402
from .tables import strongest, strongest_interval  # noqa: E402
from .titles import title  # noqa: E402

PRIVACY_METRICS = {"auc": "AUC", "tpr_at_1pct_fpr": "TPR at 1% FPR"}
CHANCE = {"auc": 0.5, "tpr_at_1pct_fpr": 0.01}
LINE_STYLE_NAMES = {"-": "solid", "--": "dashed", "-.": "dash-dot", ":": "dotted"}
# Guessing at random (AUC 0.5, TPR = FPR); no attack or model line is dotted.
CHANCE_LINE = {"color": "dimgrey", "linestyle": ":", "linewidth": 1.3}
# The chance reference: the strongest attack's 95th percentile when nothing leaks.
CHANCE_REFERENCE_LINE = {"color": "dimgrey", "linestyle": "-.", "linewidth": 1.0}
CHANCE_NOTE = f"{LINE_STYLE_NAMES[CHANCE_LINE['linestyle']]} = chance"

# Each attack keeps its colour and marker in every figure; none is grey, the colour of the
# attacks a figure de-emphasises.
_ATTACK_COLORS = (
    *("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"),
    *("tab:pink", "tab:olive", "tab:cyan", "black", "gold", "navy"),
    *("darkred", "teal", "darkviolet"),
)
_ATTACK_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">", "p", "d", "H", "8")
ATTACK_STYLES = {
    name: {"color": color, "marker": marker}
    for name, color, marker in zip(ATTACKS, _ATTACK_COLORS, _ATTACK_MARKERS, strict=False)
}
OTHER_ATTACK_LINE = {"color": "0.72", "linewidth": 0.8}
STRONGEST_SHOWN = 3  # attacks in colour per panel; the rest thin grey

# Each run a privacy-utility plot can show: Dense, then every defense (Base first).
COLORS = {name: plt.cm.tab10(i % 10) for i, name in enumerate(["dense", *DEFENSES])}
_DEFENSE_MARKERS = ("o", "s", "D", "^", "*", "v", "P", "X", "h", "p")
MARKERS = dict(zip(["dense", *DEFENSES], _DEFENSE_MARKERS, strict=False))


def _style(ax: plt.Axes, **settings: Any) -> None:
    ax.set(**settings)
    ax.grid(True, which="both", alpha=0.3)


def _chance(ax: plt.Axes, value: float) -> None:
    ax.axhline(value, label="chance", **CHANCE_LINE)


def attack_style(attack: str) -> dict[str, str]:
    """The colour and marker ``attack`` has in every figure."""
    return ATTACK_STYLES.get(attack, {"color": "black", "marker": "."})


def strongest_attacks(strength: Mapping[str, float], count: int = STRONGEST_SHOWN) -> list[str]:
    """The ``count`` attacks of highest ``strength``, strongest first (ties: given order)."""
    return sorted(strength, key=lambda attack: -strength[attack])[:count]


def roc_figure(roc: pd.DataFrame, panels: dict[str, str], non_members: int) -> Figure:
    """Log-log ROC curves of every attack, one panel per ``{title: stage}``; each panel's
    strongest attacks by AUC in colour, the rest thin grey.

    ``non_members`` scored non-members cannot measure a false-positive rate between 0 and
    ``1 / non_members``: the axes start there, and a curve's points at FPR 0 are drawn on it.
    """
    floor = 1 / non_members
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 5.2), sharey=True, squeeze=False
    )
    axes = axes[0]
    for ax, (panel, stage) in zip(axes, panels.items(), strict=True):
        curves = dict(tuple(roc[roc["stage"] == stage].groupby("attack", sort=False)))
        aucs = {attack: auc(curve["fpr"], curve["tpr"]) for attack, curve in curves.items()}
        shown = strongest_attacks(aucs)
        others = [attack for attack in curves if attack not in shown]
        for index, attack in enumerate(others):
            curve = curves[attack]
            ax.plot(
                curve["fpr"].clip(lower=floor),
                curve["tpr"].clip(lower=floor),
                label=f"{len(others)} other attacks" if index == 0 else None,
                **OTHER_ATTACK_LINE,
            )
        for attack in shown:
            curve = curves[attack]
            ax.plot(
                curve["fpr"].clip(lower=floor),
                curve["tpr"].clip(lower=floor),
                label=f"{attack} (AUC {aucs[attack]:.3f})",
                linewidth=1.8,
                markevery=0.08,
                markersize=5,
                zorder=3,
                **attack_style(attack),
            )
        ax.plot([floor, 1], [floor, 1], label="chance", zorder=4, **CHANCE_LINE)
        _style(
            ax,
            xscale="log",
            yscale="log",
            xlim=(floor, 1),
            ylim=(floor, 1.02),
            title=panel,
            xlabel=f"false positive rate (from 1/{non_members})",
        )
        ax.legend(loc="lower right", fontsize="small")
    axes[0].set_ylabel("true positive rate")
    fig.suptitle(
        f"Membership inference ROC of the victim (log-log; {CHANCE_NOTE}; the "
        f"{STRONGEST_SHOWN} strongest attacks by AUC in colour)\nFPR starts at "
        f"1/{non_members}, the lowest that {non_members} non-members can measure; "
        "FPR 0 is drawn there"
    )
    fig.tight_layout()
    return fig


def rounds_figure(report: dict[str, Any]) -> Figure:
    """Accuracy and sparsity per round (left) and attack AUC per round (right): the
    strongest attacks by mean AUC over the rounds in colour, the rest thin grey."""
    rounds = report["rounds"]
    x = [entry["round"] for entry in rounds]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    left.plot(x, [e["test_accuracy"] for e in rounds], marker="o", label="test accuracy")
    left.plot(x, [e["dev_accuracy"] for e in rounds], marker="s", label="dev accuracy")
    left.plot(x, [e["sparsity"] for e in rounds], marker="^", linestyle="--", label="sparsity")
    _style(left, xlabel="prune round", ylim=(0, 1.02), title="Victim accuracy and sparsity")
    left.legend(fontsize="small")
    aucs = {
        attack: [e["attacks"][attack]["auc"] for e in rounds] for attack in rounds[0]["attacks"]
    }
    shown = strongest_attacks({attack: float(np.mean(v)) for attack, v in aucs.items()})
    others = [attack for attack in aucs if attack not in shown]
    for index, attack in enumerate(others):
        label = f"{len(others)} other attacks" if index == 0 else None
        right.plot(x, aucs[attack], label=label, **OTHER_ATTACK_LINE)
    for attack in shown:
        right.plot(x, aucs[attack], label=attack, linewidth=1.8, zorder=3, **attack_style(attack))
    dense_best = strongest(report["models"][0]["attacks"], "auc")[1]
    right.axhline(dense_best, color="black", linestyle="--", label="dense (strongest)")
    intervals = [strongest_interval(e["attacks"], "auc") for e in rounds]
    if None not in intervals:
        low, high = zip(*intervals, strict=True)
        right.fill_between(x, low, high, color="grey", alpha=0.2, label="strongest, 95% interval")
    reference = [e.get("checks", {}).get("chance", {}).get("auc", {}).get("q95") for e in rounds]
    if None not in reference:
        right.plot(x, reference, label="chance reference (95th pct)", **CHANCE_REFERENCE_LINE)
    _chance(right, CHANCE["auc"])
    _style(
        right,
        xlabel="prune round",
        ylabel="attack AUC",
        title=f"Leakage per round ({CHANCE_NOTE}; the {STRONGEST_SHOWN} strongest in colour)",
    )
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    for ax in (left, right):
        ax.set_xticks(x)
    return fig


def privacy_utility_figure(
    points: pd.DataFrame, heading: str, figure: FigureBase | None = None
) -> FigureBase:
    """Test accuracy against the strongest attack's AUC and TPR at 1% FPR.

    ``points`` has one row per run: ``defense`` (colour and marker), ``label`` (its legend
    entry; empty: the defense's title), ``test_accuracy``, ``auc`` and ``tpr_at_1pct_fpr``;
    with the columns ``pareto_auc`` / ``pareto_tpr_at_1pct_fpr`` each panel also draws its
    Pareto front, and with ``<column>_low`` / ``<column>_high`` (an interval, or mean ± sd)
    error bars, and with ``chance_<metric>`` the highest chance reference. Markers are
    hollow and differ per defense, so runs at the same place all stay visible; the runs of
    one defense go from light to dark in their order. Drawn into ``figure`` when given.
    """
    fig = figure or plt.figure(figsize=(13.5, 5.2), layout="constrained")
    axes = fig.subplots(1, 2)
    colors = _run_colors(points["defense"])
    for ax, (metric, metric_title) in zip(axes, PRIVACY_METRICS.items(), strict=True):
        for position, (_, run) in enumerate(points.iterrows()):
            color = colors[position]
            if f"{metric}_low" in points:
                ax.errorbar(
                    run["test_accuracy"],
                    run[metric],
                    yerr=_error_bars(points.iloc[[position]], metric),
                    xerr=_error_bars(points.iloc[[position]], "test_accuracy"),
                    fmt="none",
                    ecolor=color,
                    alpha=0.4,
                    linewidth=1,
                )
            ax.scatter(
                run["test_accuracy"],
                run[metric],
                s=110,
                marker=MARKERS.get(run["defense"], "o"),
                facecolors="none",
                edgecolors=[color],
                linewidths=1.8,
                label=run["label"] or title(run["defense"]),
                zorder=3,
            )
        if f"pareto_{metric}" in points:
            _pareto_front(ax, points[points[f"pareto_{metric}"]], metric)
        _chance(ax, CHANCE[metric])
        if points.get(f"chance_{metric}") is not None and points[f"chance_{metric}"].notna().any():
            ax.axhline(
                points[f"chance_{metric}"].max(),
                label="chance reference, strongest attack (95th pct)",
                **CHANCE_REFERENCE_LINE,
            )
        _style(ax, xlabel="victim test accuracy", ylabel=f"strongest attack {metric_title}")
        ax.margins(0.15)
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize="small")
    fig.suptitle(f"{heading}: lower right is better ({CHANCE_NOTE})")
    return fig


def _run_colors(defenses: pd.Series) -> list[tuple[float, float, float]]:
    """Each run's colour: its defense's, lightened for the earlier runs of that defense."""
    counts = defenses.value_counts()
    seen: dict[str, int] = {}
    colors = []
    for defense in defenses:
        index = seen.get(defense, 0)
        seen[defense] = index + 1
        lighten = 0.5 * (counts[defense] - 1 - index) / max(counts[defense] - 1, 1)
        base = np.array(to_rgb(COLORS.get(defense, "black")))
        colors.append(tuple(base + (1 - base) * lighten))
    return colors


def _error_bars(runs: pd.DataFrame, column: str) -> np.ndarray | None:
    """Distances below and above each point, from ``<column>_low`` / ``<column>_high``."""
    if f"{column}_low" not in runs:
        return None
    below = (runs[column] - runs[f"{column}_low"]).clip(lower=0)
    above = (runs[f"{column}_high"] - runs[column]).clip(lower=0)
    return np.nan_to_num(np.vstack([below, above]))


def _pareto_front(ax: plt.Axes, front: pd.DataFrame, metric: str) -> None:
    front = front.sort_values("test_accuracy")
    x, y = front["test_accuracy"], front[metric]
    ax.step(x, y, where="post", color="black", linewidth=1, linestyle="--")
    ax.scatter(
        x, y, s=320, facecolors="none", edgecolors="black", linewidths=0.8, label="Pareto front"
    )


def mem_histogram_figure(pools: dict[str, pd.DataFrame], class_names: Sequence[str]) -> Figure:
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


def mem_extremes_figure(dataset: Dataset, scores: pd.DataFrame, count: int = 10) -> Figure:
    """The ``count`` most and least memorable samples; images for image data, a table else."""
    ordered = scores.sort_values("raw_score", kind="stable")
    extremes = {
        "most memorable": ordered.tail(count).iloc[::-1],
        "least memorable": ordered.head(count),
    }
    if not dataset.is_image:
        return _extremes_table(dataset, extremes, count)
    fig, axes = plt.subplots(2, count, figsize=(1.4 * count, 4.4), squeeze=False)
    for row, (heading, samples) in zip(axes, extremes.items(), strict=True):
        for ax, sample in zip(row, samples.itertuples(), strict=False):
            draw_sample(ax, dataset, int(sample.sample_index))
            ax.set_title(
                f"{dataset.class_names[int(sample.label)]}\n{sample.raw_score:.2f}", fontsize=8
            )
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(heading, fontsize=9)
    fig.suptitle("Victim pool: most (top) and least (bottom) memorable samples, label and score")
    fig.tight_layout()
    return fig


def draw_sample(ax: plt.Axes, dataset: Dataset, index: int) -> None:
    """Image data sample ``index`` in ``ax``, grey or colour, its values scaled to [0, 1]."""
    image = dataset.features[index]
    image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    low, high = image.min(), image.max()
    ax.imshow((image - low) / (high - low + 1e-12), cmap="gray")


def _extremes_table(dataset: Dataset, extremes: dict[str, pd.DataFrame], count: int) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * count + 1.2))
    for ax, (heading, samples) in zip(axes, extremes.items(), strict=True):
        ax.axis("off")
        cells = [
            [int(r.sample_index), dataset.class_names[int(r.label)], f"{r.raw_score:.3f}"]
            for r in samples.itertuples()
        ]
        ax.table(cells, colLabels=["sample", "label", "mem-score"], loc="center")
        ax.set_title(heading)
    fig.tight_layout()
    return fig
