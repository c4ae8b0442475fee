"""Every plot of the reports, in one style: grids, dotted chance lines, one colour per name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..datasets import Dataset  # noqa: E402
from ..defenses import DEFENSES, WEMEM_NAMES  # noqa: E402
from .tables import strongest, strongest_interval  # noqa: E402
from .titles import title  # noqa: E402

PRIVACY_METRICS = {"auc": "AUC", "tpr_at_1pct_fpr": "TPR at 1% FPR"}
CHANCE = {"auc": 0.5, "tpr_at_1pct_fpr": 0.01}
# One colour per run a privacy-utility plot can show: Dense, then every defense (Base first).
COLORS = {name: plt.cm.tab10(i % 10) for i, name in enumerate(["dense", *DEFENSES])}


def _style(ax: plt.Axes, **settings: Any) -> None:
    ax.set(**settings)
    ax.grid(True, which="both", alpha=0.3)


def _chance(ax: plt.Axes, value: float) -> None:
    ax.axhline(value, color="grey", linestyle=":", linewidth=0.8)


def roc_figure(roc: pd.DataFrame, panels: dict[str, str]) -> Figure:
    """Log-log ROC curves of every attack, one panel per ``{title: stage}``."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 4.8), sharey=True, squeeze=False
    )
    axes = axes[0]
    for ax, (panel, stage) in zip(axes, panels.items(), strict=True):
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
        ax.plot([1e-4, 1], [1e-4, 1], color="grey", linestyle=":", linewidth=0.8)
        _style(
            ax,
            xscale="log",
            yscale="log",
            xlim=(1e-3, 1),
            ylim=(1e-3, 1.02),
            title=panel,
            xlabel="false positive rate",
        )
    axes[0].set_ylabel("true positive rate")
    axes[-1].legend(loc="lower right", fontsize="small", ncols=2)
    fig.suptitle("Membership inference ROC of the victim (log-log; dotted = chance)")
    fig.tight_layout()
    return fig


def rounds_figure(report: dict[str, Any]) -> Figure:
    """Accuracy and sparsity per round (left) and attack AUC per round (right)."""
    rounds = report["rounds"]
    x = [entry["round"] for entry in rounds]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(x, [e["test_accuracy"] for e in rounds], marker="o", label="test accuracy")
    left.plot(x, [e["dev_accuracy"] for e in rounds], marker="s", label="dev accuracy")
    left.plot(x, [e["sparsity"] for e in rounds], marker="^", linestyle="--", label="sparsity")
    _style(left, xlabel="prune round", ylim=(0, 1.02), title="Victim accuracy and sparsity")
    for attack in rounds[0]["attacks"]:
        right.plot(x, [e["attacks"][attack]["auc"] for e in rounds], marker="o", label=attack)
    dense_best = strongest(report["models"][0]["attacks"], "auc")[1]
    right.axhline(dense_best, color="black", linestyle="--", label="dense (strongest)")
    intervals = [strongest_interval(e["attacks"], "auc") for e in rounds]
    if None not in intervals:
        low, high = zip(*intervals, strict=True)
        right.fill_between(x, low, high, color="grey", alpha=0.2, label="strongest, 95% interval")
    chance = [e.get("checks", {}).get("chance", {}).get("auc", {}).get("q95") for e in rounds]
    if None not in chance:
        right.plot(x, chance, color="grey", linestyle="--", label="chance (95th pct)")
    _chance(right, CHANCE["auc"])
    _style(right, xlabel="prune round", ylabel="attack AUC", title="Leakage per round")
    for ax in (left, right):
        ax.set_xticks(x)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def privacy_utility_figure(points: pd.DataFrame, heading: str) -> Figure:
    """Test accuracy against the strongest attack's AUC and TPR at 1% FPR.

    ``points`` has one row per run: ``defense`` (colour and legend), ``label`` (written next
    to the point), ``test_accuracy``, ``auc`` and ``tpr_at_1pct_fpr``; with the columns
    ``pareto_auc`` / ``pareto_tpr_at_1pct_fpr`` each panel also draws its Pareto front, and
    with ``<column>_low`` / ``<column>_high`` (an interval, or mean ± sd) error bars, and
    with ``chance_<metric>`` a dashed line at the highest chance reference.
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for ax, (metric, metric_title) in zip(axes, PRIVACY_METRICS.items(), strict=True):
        for defense, runs in points.groupby("defense", sort=False):
            if f"{metric}_low" in runs:
                ax.errorbar(
                    runs["test_accuracy"],
                    runs[metric],
                    yerr=_error_bars(runs, metric),
                    xerr=_error_bars(runs, "test_accuracy"),
                    fmt="none",
                    ecolor=COLORS.get(defense, "black"),
                    alpha=0.5,
                    linewidth=1,
                )
            ax.scatter(
                runs["test_accuracy"],
                runs[metric],
                s=90,
                marker="*" if defense in WEMEM_NAMES else "o",
                color=COLORS.get(defense, "black"),
                label=title(defense),
            )
            for _, run in runs.iterrows():
                ax.annotate(
                    run["label"],
                    (run["test_accuracy"], run[metric]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize="x-small",
                )
        if f"pareto_{metric}" in points:
            _pareto_front(ax, points[points[f"pareto_{metric}"]], metric)
        _chance(ax, CHANCE[metric])
        if points.get(f"chance_{metric}") is not None and points[f"chance_{metric}"].notna().any():
            ax.axhline(
                points[f"chance_{metric}"].max(),
                color="grey",
                linestyle="--",
                linewidth=0.8,
                label="chance, strongest attack (95th pct)",
            )
        _style(ax, xlabel="victim test accuracy", ylabel=f"strongest attack {metric_title}")
        ax.margins(0.15)
    axes[1].legend(fontsize="small", loc="best")
    fig.suptitle(f"{heading}: lower right is better (dotted = chance, stars = WeMem defenses)")
    fig.tight_layout()
    return fig


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
    ax.scatter(x, y, s=260, facecolors="none", edgecolors="black", label="Pareto front")


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
