"""Compare every defense on one privacy-utility picture: WeMem's three against five baselines.

Each run prunes the dense victim and shadows iteratively with one defense setting (the
shadows get the same defense, so the attacks stay adaptive) and attacks the last round's
victim with the whole suite. Dense comes from the training pipeline; Base is pruned again
beside the defenses (same seeds, same model) so that every time ratio is measured in one
process. A setting is on the Pareto front when no other run is at least as accurate with at
most the same attack strength (and better in one of the two).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from .datasets import Dataset
from .defenses import DEFENSE_NAMES, check_defense_settings
from .evaluation import evaluate_stages
from .models import ModelSpec
from .pruning import PruningConfig
from .reporting import plt
from .runs import ModelOutputs, StateDicts, prune_models_iteratively
from .scenario import defense_factory, defense_summaries
from .splits import VICTIM
from .training import TrainConfig
from .validation import ParameterError

TITLES = {
    "dense": "Dense",
    "base": "Base",
    "rsw": "RSW",
    "rmr": "RMR",
    "swmr": "SWMR",
    "ppb": "PPB",
    "advreg": "AdvReg",
    "dpsgd": "DP-SGD",
    "relaxloss": "RelaxLoss",
    "hamp": "HAMP",
}
WEMEM = ("rsw", "rmr", "swmr")
PRIVACY_METRICS = {"tpr_at_1pct_fpr": "TPR at 1% FPR", "auc": "AUC"}
ATTACK_METRICS = ("auc", "tpr_at_1pct_fpr", "balanced_accuracy")


def expand_grid(settings: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One settings dict per grid point: every top-level list is an axis."""
    settings = dict(settings or {})
    axes = {key: value for key, value in settings.items() if isinstance(value, list)}
    if not axes:
        return [settings]
    if any(len(values) == 0 for values in axes.values()):
        empty = [key for key, values in axes.items() if not values]
        raise ParameterError(f"compare.defenses: the grid of {empty} is empty")
    points = []
    for values in itertools.product(*axes.values()):
        points.append({**settings, **dict(zip(axes, values, strict=True))})
    return points


def run_label(defense: str, settings: Mapping[str, Any], grid_keys: list[str]) -> str:
    """``"PPB lambda=4"``: the title and the values of the grid's axes."""
    values = " ".join(f"{key}={settings[key]}" for key in grid_keys)
    return f"{TITLES.get(defense, defense)} {values}".strip()


def comparison_runs(defenses: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, defense, settings)`` of every run the ``compare.defenses`` grid asks for."""
    if not isinstance(defenses, Mapping) or not defenses:
        raise ParameterError(
            f"compare.defenses must map defense names from {list(DEFENSE_NAMES)} to settings, "
            f"got {defenses!r}"
        )
    runs = []
    for defense, settings in defenses.items():
        if defense not in DEFENSE_NAMES or defense == "base":
            raise ParameterError(
                f"compare.defenses has {defense!r}; allowed: "
                f"{[d for d in DEFENSE_NAMES if d != 'base']} (Base and Dense are always shown)"
            )
        if settings is not None and not isinstance(settings, Mapping):
            raise ParameterError(
                f"compare.defenses.{defense} must be a mapping of settings (a list value is a "
                f"grid), got {settings!r}"
            )
        grid_keys = [k for k, v in (settings or {}).items() if isinstance(v, list)]
        for point in expand_grid(settings):
            runs.append((run_label(defense, point, grid_keys), defense, point))
    return runs


def check_compare_params(params: Mapping[str, Any] | None) -> None:
    """Validate every run of the grid before any training."""
    for _, defense, settings in comparison_runs((params or {}).get("defenses")):
        check_defense_settings(defense, settings, f"compare.defenses.{defense}")


def _victim_rows(history: pd.DataFrame) -> pd.DataFrame:
    return history[history["model"] == VICTIM].sort_values("round")


def _row(
    label: str,
    defense: str,
    settings: Mapping[str, Any],
    history: pd.DataFrame,
    metrics: pd.DataFrame,
    base_seconds: float,  # NaN for Dense, which trains from scratch: no defense's cost
    summary: Mapping[str, Any],
) -> dict[str, Any]:
    victim = _victim_rows(history)
    seconds = float(victim["seconds"].sum())
    row = {
        "run": label,
        "defense": defense,
        "settings": json.dumps(dict(settings), sort_keys=True),
        "test_accuracy": float(victim["test_accuracy"].iloc[-1]),
        "fine_tuning_seconds": seconds,
        "time_relative_to_base": seconds / base_seconds,
        "epsilon": summary.get("epsilon", np.nan),
    }
    for metric in ATTACK_METRICS:
        best = metrics.loc[metrics[metric].idxmax()]
        row[metric] = float(best[metric])
        row[f"{metric}_attack"] = best["attack"]
    return row


def compare_defenses(
    dataset: Dataset,
    table: pd.DataFrame,
    spec: ModelSpec,
    dense_states: StateDicts,
    pruning: PruningConfig,
    training: TrainConfig,
    mem_scores: Mapping[str, pd.DataFrame],
    runs: list[tuple[str, str, dict[str, Any]]],
    attack_params: Mapping[str, Any],
    dense: tuple[pd.DataFrame, ModelOutputs],
    *,
    seed: int,
    device: torch.device,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Run Base and every ``(label, defense, settings)`` of ``runs`` (see
    :func:`comparison_runs`) and attack each; ``dense`` is the dense models' (history,
    outputs).

    Base is pruned again here, with the pruning pipeline's seeds (so it is the same model),
    so that every time ratio is measured side by side in one process. Returns the comparison
    table (one row per run), every attack's metrics per run, and each run's defense summaries
    per model (epsilon for DP-SGD).
    """
    rows, metric_frames, summaries = [], [], {}

    def attack(label: str, outputs: ModelOutputs) -> pd.DataFrame:
        metrics, _ = evaluate_stages({label: outputs}, table, dataset.labels, attack_params, seed)
        metric_frames.append(metrics.rename(columns={"stage": "run"}))
        return metrics

    dense_history, dense_outputs = dense
    rows.append(
        _row("Dense", "dense", {}, dense_history, attack("Dense", dense_outputs), np.nan, {})
    )
    base_seconds = np.nan
    for label, defense, settings in [("Base", "base", {}), *runs]:
        defense_for = defense_factory(
            defense,
            settings,
            dataset,
            mem_scores,
            training.weight_decay,
            seed,
            f"compare.defenses.{defense}",
        )
        _, history, round_outputs, _ = prune_models_iteratively(
            dataset,
            table,
            spec,
            dense_states,
            pruning,
            training,
            seed=seed,
            device=device,
            defense_for=defense_for,
            # Base under the pruning pipeline's stage name: the same seeds, the same models.
            stage="iterative" if defense == "base" else defense,
            every_round=False,  # only the last round is attacked
        )
        if defense == "base":
            base_seconds = float(_victim_rows(history)["seconds"].sum())
        summaries[label] = defense_summaries(defense_for, table)
        metrics = attack(label, round_outputs[pruning.rounds - 1])
        rows.append(
            _row(label, defense, settings, history, metrics, base_seconds, summaries[label][VICTIM])
        )
    comparison = pd.DataFrame(rows)
    for metric in PRIVACY_METRICS:
        comparison[f"pareto_{metric}"] = pareto_front(
            comparison["test_accuracy"].to_numpy(), comparison[metric].to_numpy()
        )
    return comparison, pd.concat(metric_frames, ignore_index=True), summaries


def pareto_front(accuracy: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """True for points no other point dominates (accuracy >=, risk <=, one strictly)."""
    accuracy, risk = np.asarray(accuracy, dtype=float), np.asarray(risk, dtype=float)
    at_least = (accuracy[None, :] >= accuracy[:, None]) & (risk[None, :] <= risk[:, None])
    strictly = (accuracy[None, :] > accuracy[:, None]) | (risk[None, :] < risk[:, None])
    return ~(at_least & strictly).any(axis=1)


def comparison_figure(comparison: pd.DataFrame) -> plt.Figure:
    """Test accuracy against the strongest attack's TPR at 1% FPR and AUC, front marked."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    colors = {defense: plt.cm.tab10(i) for i, defense in enumerate(TITLES)}
    for ax, (metric, title) in zip(axes, PRIVACY_METRICS.items(), strict=True):
        for defense, runs in comparison.groupby("defense", sort=False):
            ax.scatter(
                runs["test_accuracy"],
                runs[metric],
                s=90 if defense in WEMEM else 50,
                marker="*" if defense in WEMEM else "o",
                color=colors.get(defense, "black"),
                label=TITLES.get(defense, defense),
            )
            for _, run in runs.iterrows():
                ax.annotate(
                    run["run"].removeprefix(TITLES.get(defense, "")).strip(),
                    (run["test_accuracy"], run[metric]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize="x-small",
                )
        front = comparison[comparison[f"pareto_{metric}"]].sort_values("test_accuracy")
        ax.step(
            front["test_accuracy"],
            front[metric],
            where="post",
            color="black",
            linewidth=1,
            linestyle="--",
        )
        ax.scatter(
            front["test_accuracy"],
            front[metric],
            s=260,
            facecolors="none",
            edgecolors="black",
            label="Pareto front",
        )
        chance = 0.5 if metric == "auc" else 0.01
        ax.axhline(chance, color="grey", linestyle=":", linewidth=0.8)
        ax.set(xlabel="victim test accuracy", ylabel=f"strongest attack {title}")
        ax.margins(0.1)
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize="small", loc="best")
    fig.suptitle(
        "Defenses after iterative pruning: lower right is better (dotted = chance, "
        "stars = WeMem defenses)"
    )
    fig.tight_layout()
    return fig


def comparison_markdown(comparison: pd.DataFrame, dataset: str, non_members: int) -> str:
    """The comparison table, the Pareto fronts, and where the WeMem defenses stand."""
    lines = [
        f"# Defense comparison on `{dataset}`",
        "",
        "Every run prunes the victim and its shadows iteratively with one defense setting and "
        f"is attacked with the whole suite ({non_members} members against as many "
        "non-members); the strongest attack per metric is reported. Time is the victim's "
        "fine-tuning time over all rounds relative to Base. Epsilon (DP-SGD) is at delta = "
        "1/members and covers the fine-tuning only: the dense model was trained without DP.",
        "",
        "| run | test acc | strongest AUC | strongest TPR@1%FPR | strongest balanced acc | "
        "time vs Base | epsilon | front (TPR@1%FPR) | front (AUC) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, run in comparison.iterrows():
        relative = run["time_relative_to_base"]
        cells = [
            run["run"],
            f"{run['test_accuracy']:.3f}",
            *(f"{run[m]:.3f} ({run[m + '_attack']})" for m in ATTACK_METRICS),
            "" if np.isnan(relative) else f"{relative:.2f}x",
            "" if np.isnan(run["epsilon"]) else f"{run['epsilon']:.1f}",
            *("yes" if run[f"pareto_{m}"] else "" for m in PRIVACY_METRICS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Where the WeMem defenses stand", ""]
    for metric, title in PRIVACY_METRICS.items():
        on_front = comparison[comparison[f"pareto_{metric}"]]
        wemem = on_front[on_front["defense"].isin(WEMEM)]["run"].tolist()
        others = on_front[~on_front["defense"].isin(WEMEM)]["run"].tolist()
        if wemem:
            verdict = f"{', '.join(wemem)} {'is' if len(wemem) == 1 else 'are'} on the front"
            rest = f"; with {', '.join(others)}" if others else ", alone"
        else:
            verdict, rest = "no WeMem defense is on the front", f"; it holds {', '.join(others)}"
        lines.append(f"- Accuracy against {title}: {verdict}{rest}.")
    if non_members < 100:
        lines.append(
            f"- With {non_members} non-members TPR at 1% FPR cannot be resolved (one false "
            "positive is already more than 1%): use the AUC front."
        )
    lines += [
        "",
        "Single runs vary by as much as many of these differences: repeat with other `seed`s "
        "before drawing conclusions. Plot: `compare_plot.png`.",
        "",
    ]
    return "\n".join(lines)
