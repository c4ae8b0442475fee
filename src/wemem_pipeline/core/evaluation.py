"""Run the attacks on each stage's outputs and turn the scores into metrics and ROC curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .attacks import run_attacks
from .metrics import membership_metrics, roc_points
from .runs import ModelOutputs


def evaluate_stages(
    stages: Mapping[str, ModelOutputs],
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_names: Sequence[str],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attack the victim of every stage (``dense``, ``one_shot``, ``round_2``, ...).

    Shadows and victim are taken from the same stage, so every attack is adaptive. Returns
    one metrics row per (stage, attack) and the ROC points of each.
    """
    metric_rows, roc_frames = [], []
    for stage, outputs in stages.items():
        shadows, victim = outputs.attack_sets(table, labels, seed)
        for attack, result in run_attacks(attack_names, shadows, victim).items():
            metrics = membership_metrics(victim.is_member, result.scores, result.predicted_member)
            metric_rows.append(
                {
                    "stage": stage,
                    "attack": attack,
                    **metrics,
                    "members": int(victim.is_member.sum()),
                    "non_members": int((~victim.is_member).sum()),
                }
            )
            fpr, tpr = roc_points(victim.is_member, result.scores)
            roc_frames.append(
                pd.DataFrame({"stage": stage, "attack": attack, "fpr": fpr, "tpr": tpr})
            )
    return pd.DataFrame(metric_rows), pd.concat(roc_frames, ignore_index=True)
