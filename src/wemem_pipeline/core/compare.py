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
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .datasets import Dataset
from .defenses import AUTO, DEFENSE_NAMES, DEFENSES, check_defense_settings
from .evaluation import evaluate_run, last_round
from .outputs import ModelOutputs
from .progress import progress_bar
from .run_config import RunConfig
from .splits import VICTIM
from .validation import ParameterError, check_known_keys
from .victim_and_shadows import StateDicts, prune_with_defense, victim_history

PRIVACY_METRICS = ("tpr_at_1pct_fpr", "auc")  # each has its own Pareto front
ATTACK_METRICS = ("auc", "tpr_at_1pct_fpr", "balanced_accuracy")
Run = tuple[str, str, dict[str, Any]]  # (label, defense, settings)


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


def run_label(defense: str, settings: Mapping[str, Any], keys: list[str]) -> str:
    """``"PPB lambda=4"``: the defense's title and the settings of ``keys`` that it sets.

    A key of nested settings is dotted (``window.width``).
    """
    flat = _flatten(settings)
    values = " ".join(f"{key}={flat[key]}" for key in keys if key in flat)
    return f"{DEFENSES[defense].title} {values}".strip()


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def compared_defenses(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``compare.defenses``, narrowed to the defenses ``compare.only`` names (a list, or
    names separated by spaces; null: every one). Kedro's soft merge can add a defense to the
    grid but not take one out; ``--params "compare.only=swmr dpsgd"`` can (``--params`` takes
    no commas inside a value)."""
    params = dict(params or {})
    defenses = params.get("defenses")
    only = params.get("only")
    if only is None or not isinstance(defenses, Mapping):
        return defenses
    if isinstance(only, str):
        only = only.split()
    if not isinstance(only, list) or not only:
        raise ParameterError(
            f"compare.only narrows the comparison to nothing ({only!r}): name one or more "
            f"defenses of compare.defenses ({list(defenses)}), or null for every one"
        )
    unknown = [name for name in only if name not in defenses]
    if unknown:
        raise ParameterError(
            f"compare.only names {unknown}, which compare.defenses does not have; it has "
            f"{list(defenses)}"
        )
    return {name: settings for name, settings in defenses.items() if name in only}


def compared_runs(params: Mapping[str, Any]) -> list[Run]:
    """Every run of the ``compare`` section: :func:`comparison_runs` of
    :func:`compared_defenses`."""
    return comparison_runs(compared_defenses(params))


def comparison_runs(defenses: Mapping[str, Any]) -> list[Run]:
    """``(label, defense, settings)`` of every run the ``compare.defenses`` section asks for.

    A defense's settings are a mapping, in which every list is a grid axis (several lists:
    every combination), or a list of mappings, one run each.
    """
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
        points, keys = _setting_points(defense, settings)
        runs += [(run_label(defense, point, keys), defense, point) for point in points]
    labels = [label for label, _, _ in runs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ParameterError(f"compare.defenses asks for the same run twice: {repeated}")
    return runs


def _setting_points(defense: str, settings: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The settings of every run of one defense, and the keys its labels show."""
    if isinstance(settings, list):
        if not settings or not all(isinstance(point, Mapping) for point in settings):
            raise ParameterError(
                f"compare.defenses.{defense} as a list must hold one mapping of settings per "
                f"run, got {settings!r}"
            )
        points = [dict(point) for point in settings]
        flat = [_flatten(point) for point in points]
        keys = list(dict.fromkeys(key for point in flat for key in point))
        return points, [k for k in keys if len({repr(point.get(k)) for point in flat}) > 1]
    if settings is not None and not isinstance(settings, Mapping):
        raise ParameterError(
            f"compare.defenses.{defense} must be a mapping of settings (a list value is a "
            f"grid) or a list of such mappings, got {settings!r}"
        )
    return expand_grid(settings), [k for k, v in (settings or {}).items() if isinstance(v, list)]


def check_compare_params(params: Mapping[str, Any] | None) -> None:
    """Validate every run of the grid before any training.

    A defense whose settings are ``auto`` (all with ``tuned: true``) is checked by name only:
    its settings come from its autotune study.
    """
    params = dict(params or {})
    check_known_keys("compare", params, ("defenses", "only", "tuned", "audit"))
    for flag in ("tuned", "audit"):
        if not isinstance(params.get(flag, False), bool):
            raise ParameterError(f"compare.{flag} must be true or false, got {params[flag]!r}")
    tuned = params.get("tuned", False)
    defenses = compared_defenses(params)
    if isinstance(defenses, Mapping):
        defenses = {d: {} if tuned or s == AUTO else s for d, s in defenses.items()}
    for _, defense, settings in comparison_runs(defenses):
        check_defense_settings(defense, settings, f"compare.defenses.{defense}")


def _row(
    label: str,
    defense: str,
    settings: Mapping[str, Any],
    history: pd.DataFrame,
    metrics: pd.DataFrame,
    base_seconds: float,  # NaN for Dense, which trains from scratch: no defense's cost
    summary: Mapping[str, Any],
) -> dict[str, Any]:
    victim = victim_history(history)
    # A defense that trains its own dense model (DP-SGD, scope whole) pays for it here.
    seconds = float(victim["seconds"].sum()) + summary.get("dense_seconds", 0.0)
    epsilon = summary.get("epsilon", np.nan)
    row = {
        "run": label,
        "defense": defense,
        "settings": json.dumps(dict(settings), sort_keys=True),
        "test_accuracy": float(victim["test_accuracy"].iloc[-1]),
        "fine_tuning_seconds": seconds,
        "time_relative_to_base": seconds / base_seconds,
        "epsilon": np.nan if epsilon is None else epsilon,
        "epsilon_delta": summary.get("delta", np.nan),
        "epsilon_steps": summary.get("steps", np.nan),
        "sample_rate": summary.get("sample_rate", np.nan),
        "epsilon_covers": summary.get("covers", ""),
    }
    for metric in ATTACK_METRICS:
        best = metrics.loc[metrics[metric].idxmax()]
        row[metric] = float(best[metric])
        row[f"{metric}_attack"] = best["attack"]
        for end in ("low", "high"):
            row[f"{metric}_ci_{end}"] = float(best.get(f"{metric}_ci_{end}", np.nan))
    for metric in PRIVACY_METRICS:
        row[f"chance_{metric}_q95"] = float(metrics[f"chance_{metric}_q95"].iloc[0])
    row["shift_auc"] = float(metrics["shift_auc"].max())
    return row


def compare_defenses(
    dataset: Dataset,
    table: pd.DataFrame,
    run: RunConfig,
    dense_states: StateDicts,
    dense: tuple[pd.DataFrame, Mapping[int, ModelOutputs]],
    mem_scores: Mapping[str, pd.DataFrame],
    runs: list[Run],
    attack_params: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Prune with Base and with every defense setting, attack each, and compare them.

    Args:
        dataset, table: the data and the split table.
        run: model, training and pruning settings, the seed and the device.
        dense_states: the dense models every run starts from.
        dense: the dense models' history and outputs (by round), shown as the first row.
        mem_scores: the ``victim`` and ``shadow`` pools' mem-score tables.
        runs: ``(label, defense, settings)`` of every defended run (see
            :func:`comparison_runs`).
        attack_params: the ``attacks`` parameter section.

    Returns:
        The comparison table (one row per run, with its Pareto-front flags), every attack's
        metrics per run, and each run's defense summary per model (epsilon for DP-SGD).
        Base is pruned again here with the pruning pipeline's seeds (so it is the same
        model), so that every time ratio is measured side by side in one process.
    """
    attack = partial(_attack_last_round, dataset, table, attack_params, run)
    dense_history, dense_outputs = dense
    metric_frames = [attack("Dense", dense_outputs)]
    rows = [_row("Dense", "dense", {}, dense_history, metric_frames[0], np.nan, {})]
    summaries, base_seconds = {}, np.nan
    for label, defense, settings in progress_bar([("Base", "base", {}), *runs], "compared runs"):
        pruned, summaries[label] = prune_with_defense(
            dataset,
            table,
            run,
            dense_states,
            defense,
            settings,
            mem_scores,
            section=f"compare.defenses.{defense}",
            every_round=False,  # only the last round is attacked
            workers=run.worker_processes,
        )
        if defense == "base":
            base_seconds = float(victim_history(pruned.history)["seconds"].sum())
        metric_frames.append(attack(label, pruned.outputs))
        summary = summaries[label][VICTIM]
        rows.append(
            _row(label, defense, settings, pruned.history, metric_frames[-1], base_seconds, summary)
        )
    comparison = pd.DataFrame(rows)
    for metric in PRIVACY_METRICS:
        comparison[f"pareto_{metric}"] = pareto_front(
            comparison["test_accuracy"].to_numpy(), comparison[metric].to_numpy()
        ) & bool(above_chance(comparison, metric).any())  # else the front ranks noise
    metrics = pd.concat(metric_frames, ignore_index=True).rename(columns={"stage": "run"})
    return comparison, metrics, summaries


def _attack_last_round(
    dataset: Dataset,
    table: pd.DataFrame,
    attack_params: Mapping[str, Any],
    run: RunConfig,
    label: str,
    outputs: Mapping[int, ModelOutputs],
) -> pd.DataFrame:
    stages = {label: last_round(outputs)}
    return evaluate_run(stages, table, dataset.labels, attack_params, run)[0]


def above_chance(comparison: pd.DataFrame, metric: str) -> pd.Series:
    """Per run: does its strongest attack's ``metric`` lie above the chance reference (the
    95th percentile of the strongest attack under shuffled member labels)?"""
    return comparison[metric] > comparison[f"chance_{metric}_q95"]


def pareto_front(accuracy: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """True for points no other point dominates (accuracy >=, risk <=, one strictly)."""
    accuracy, risk = np.asarray(accuracy, dtype=float), np.asarray(risk, dtype=float)
    at_least = (accuracy[None, :] >= accuracy[:, None]) & (risk[None, :] <= risk[:, None])
    strictly = (accuracy[None, :] > accuracy[:, None]) | (risk[None, :] < risk[:, None])
    return ~(at_least & strictly).any(axis=1)
