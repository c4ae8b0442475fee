"""Run the attacks on each stage's outputs and turn the scores into metrics and ROC curves."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .attacks import build_attack, check_attack_params
from .metrics import membership_metrics, roc_points
from .outputs import ModelOutputs
from .splits import VICTIM


def round_stage(round_index: int) -> str:
    """The stage name of a pruning round's outputs, e.g. ``round_2``."""
    return f"round_{round_index}"


def last_round(outputs: Mapping[int, ModelOutputs]) -> ModelOutputs:
    """The outputs of the last recorded round."""
    return outputs[max(outputs)]


def evaluate_stages(
    stages: Mapping[str, ModelOutputs],
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    seed: int,
    target: str = VICTIM,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attack the ``target`` model (the victim) of every stage (``dense``, ``round_2``, ...).

    ``attack_params`` is the ``attacks`` parameter section (names and options). The other
    models of ``table`` are the shadows; shadows and target are taken from the same stage, so
    every attack is adaptive. Returns one metrics
    row per (stage, attack), with the seconds it took to calibrate and score, and the ROC
    points of each.
    """
    names = check_attack_params(attack_params)
    metric_rows, roc_frames = [], []
    for stage, outputs in stages.items():
        shadows, victim = outputs.attack_sets(table, labels, seed, target)
        for name in names:
            started = time.perf_counter()
            result = build_attack(name, attack_params.get(name)).fit(shadows).score(victim)
            seconds = time.perf_counter() - started
            metrics = membership_metrics(victim.is_member, result.scores, result.predicted_member)
            metric_rows.append(
                {
                    "stage": stage,
                    "attack": name,
                    **metrics,
                    "members": int(victim.is_member.sum()),
                    "non_members": int((~victim.is_member).sum()),
                    "seconds": seconds,
                }
            )
            fpr, tpr = roc_points(victim.is_member, result.scores)
            roc_frames.append(
                pd.DataFrame({"stage": stage, "attack": name, "fpr": fpr, "tpr": tpr})
            )
    return pd.DataFrame(metric_rows), pd.concat(roc_frames, ignore_index=True)
