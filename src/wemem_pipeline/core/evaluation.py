"""Run the attacks on each stage's outputs and turn the scores into metrics and ROC curves.

Besides each attack's metrics, a stage gets what a reader needs to trust them: a bootstrap
interval per metric, the strongest attack's value under shuffled member labels (the chance
reference) and a shift check, the same fitted attacks against a model that trained on
neither the scored members nor the non-members.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from .attacks import (
    EARLIER_ROUNDS_SKIP,
    Attack,
    AttackOutput,
    MembershipSet,
    build_attack,
    check_attack_params,
)
from .metrics import (
    INTERVAL_METRICS,
    bootstrap_intervals,
    membership_metrics,
    roc_points,
    shuffled_label_metrics,
)
from .outputs import ModelOutputs
from .progress import progress_bar
from .run_config import EvaluationConfig, RunConfig
from .seeds import derive_seed
from .splits import VICTIM
from .workers import in_workers, step_done


def round_stage(round_index: int) -> str:
    """The stage name of a pruning round's outputs, e.g. ``round_2``."""
    return f"round_{round_index}"


def last_round(outputs: Mapping[int, ModelOutputs]) -> ModelOutputs:
    """The outputs of the last recorded round."""
    return outputs[max(outputs)]


def earlier_rounds(rounds: Mapping[int, Any], prefix: str = "") -> list[str]:
    """The stage names (``<prefix>round_<r>``) of every recorded round but the last."""
    return [f"{prefix}{round_stage(r)}" for r in sorted(rounds)[:-1]]


def evaluate_stages(
    stages: Mapping[str, ModelOutputs],
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    seed: int,
    target: str = VICTIM,
    evaluation: EvaluationConfig | None = None,
    trend_stages: Collection[str] = (),
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attack the ``target`` model (the victim) of every stage (``dense``, ``round_2``, ...).

    ``attack_params`` is the ``attacks`` parameter section (names and options). The other
    models of ``table`` are the shadows; shadows and target are taken from the same stage, so
    every attack is adaptive. Returns one metrics row per (stage, attack), with the seconds it
    took to calibrate and score, and the ROC points of each. ``trend_stages`` (a run's rounds
    before the last) leave out the attacks of ``attacks.skip_on_earlier_rounds``. The stages
    are shared among ``workers`` processes (:mod:`.workers`); every attack is seeded by the
    run's seed, so the results do not depend on where a stage is attacked.

    With ``evaluation``, each row also has ``<metric>_ci_low/high`` (bootstrap), the shift
    check ``shift_auc`` / ``shift_tpr_at_1pct_fpr``, and the stage's chance reference of the
    strongest attack, ``chance_<metric>_mean`` / ``chance_<metric>_q95``.
    """
    names = check_attack_params(attack_params)
    trend_names = [n for n in names if n not in attack_params.get(EARLIER_ROUNDS_SKIP, ())]

    def attack(stage_names: list[str]) -> list[tuple[list[dict[str, Any]], list[pd.DataFrame]]]:
        results = []
        for stage in stage_names:
            attacks = trend_names if stage in trend_stages else names
            results.append(
                _attack_stage(
                    stage,
                    stages[stage],
                    attacks,
                    table,
                    labels,
                    attack_params,
                    seed,
                    target,
                    evaluation,
                )
            )
            step_done()
        return results

    # The stages with every attack first, so that the workers share the slow ones.
    order = sorted(stages, key=lambda stage: stage in trend_stages)
    attacked = {}
    for share, results in in_workers(
        attack, order, workers, steps=len(order), description="attacked stages"
    ):
        attacked |= dict(zip(share, results, strict=True))
    metric_rows = [row for stage in stages for row in attacked[stage][0]]
    roc_frames = [frame for stage in stages for frame in attacked[stage][1]]
    return pd.DataFrame(metric_rows), pd.concat(roc_frames, ignore_index=True)


def _attack_stage(
    stage: str,
    outputs: ModelOutputs,
    names: list[str],
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    seed: int,
    target: str,
    evaluation: EvaluationConfig | None,
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """The metrics rows and ROC points of the attacks ``names`` on one stage."""
    # The same resamples for every stage and attack: their intervals pair up.
    bootstrap_seed = derive_seed(seed, "bootstrap", target)
    shadows, victim = outputs.attack_sets(table, labels, seed, target)
    shift = outputs.shift_set(table, labels, seed, target) if evaluation else None
    rows, scores, roc_frames = [], [], []
    for name in progress_bar(names, f"attacks on {stage}"):
        started = time.perf_counter()
        attack = build_attack(name, attack_params.get(name)).fit(shadows)
        result = attack.score(victim)
        row = {
            "stage": stage,
            "attack": name,
            **membership_metrics(victim.is_member, result.scores, result.predicted_member),
            "raw_signal_auc": _raw_signal_auc(victim.is_member, result.signal),
            "members": int(victim.is_member.sum()),
            "non_members": int((~victim.is_member).sum()),
            "seconds": time.perf_counter() - started,
        }
        if evaluation:
            row |= _intervals(victim, result, evaluation.bootstrap, bootstrap_seed)
            row |= _shift_metrics(attack, shift)
        rows.append(row)
        scores.append((result.scores, result.predicted_member))
        fpr, tpr = roc_points(victim.is_member, result.scores)
        roc_frames.append(pd.DataFrame({"stage": stage, "attack": name, "fpr": fpr, "tpr": tpr}))
    if evaluation:
        chance = _chance_reference(victim.is_member, scores, evaluation, seed, target)
        rows = [row | chance for row in rows]
    return rows, roc_frames


def evaluate_run(
    stages: Mapping[str, ModelOutputs],
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    run: RunConfig,
    trend_stages: Collection[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate_stages` of the victim with the run's seed and ``evaluation`` settings."""
    return evaluate_stages(
        stages,
        table,
        labels,
        attack_params,
        run.seed,
        evaluation=run.evaluation,
        trend_stages=trend_stages,
        workers=run.worker_processes,
    )


def _intervals(
    scored: MembershipSet, result: AttackOutput, resamples: int, seed: int
) -> dict[str, float]:
    """``<metric>_ci_low`` / ``<metric>_ci_high`` of every interval metric."""
    intervals = bootstrap_intervals(
        scored.is_member, result.scores, result.predicted_member, resamples, seed
    )
    columns = {}
    for metric, (low, high) in intervals.items():
        columns[f"{metric}_ci_low"], columns[f"{metric}_ci_high"] = low, high
    return columns


def _raw_signal_auc(is_member: np.ndarray, signal: np.ndarray | None) -> float:
    return np.nan if signal is None else float(roc_auc_score(is_member, signal))


def _shift_metrics(attack: Attack, shift: MembershipSet | None) -> dict[str, float]:
    """The fitted attack against a model that trained on neither side: ~0.5 without shift."""
    missing = {"shift_auc": np.nan, "shift_tpr_at_1pct_fpr": np.nan}
    if shift is None:
        return missing
    try:
        result = attack.score(shift)
    except ValueError:  # a reference attack left without references (one shadow)
        return missing
    if not np.isfinite(result.scores).all():  # SAMIA on outputs stored without sensitivity
        return missing
    metrics = membership_metrics(shift.is_member, result.scores, result.predicted_member)
    return {"shift_auc": metrics["auc"], "shift_tpr_at_1pct_fpr": metrics["tpr_at_1pct_fpr"]}


def _chance_reference(
    is_member: np.ndarray,
    outputs: list[tuple[np.ndarray, np.ndarray]],
    evaluation: EvaluationConfig,
    seed: int,
    target: str,
) -> dict[str, float]:
    """Mean and 95th percentile of the strongest attack's metrics under shuffled labels."""
    null = shuffled_label_metrics(
        is_member, outputs, evaluation.null_permutations, derive_seed(seed, "chance", target)
    )
    chance = {}
    for metric in INTERVAL_METRICS:
        chance[f"chance_{metric}_mean"] = float(null[metric].mean())
        chance[f"chance_{metric}_q95"] = float(np.percentile(null[metric], 95))
    return chance
