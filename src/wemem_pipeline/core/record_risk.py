"""Which records leak: every scored member of the victim, how exposed it is under the
calibrated per-record attacks, and how memorable and how often reused it was.

A record's exposure is the lowest false-positive rate at which LiRA or RMIA flags it: the
share of the scored non-members whose statistic is at least the record's. A record with
exposure 0 beats every non-member; at 0.01 an attacker who accepts 1% false alarms catches
it. WeMem's claim is about which records are memorized (reused in every round, memorable by
nature), so the table keeps those beside the exposure, for every victim model of a scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .attacks import build_attack
from .outputs import ModelOutputs
from .splits import VICTIM

# The attacks that test each record against reference models' view of it (per-record
# calibration), which makes their statistics comparable across records.
RISK_ATTACKS = ("lira", "rmia")

EXPOSED_AT_FPR = 0.05  # a record counts as exposed when either attack flags it at this FPR
MOST_EXPOSED = 16
BINS = 5


def mem_score_position(rows: pd.DataFrame) -> pd.Series:
    """0..n-1: each record's place among ``rows`` (one model's records) by mem-score.

    Tied mem-scores are split by sample index, which says nothing about exposure (the
    table's own order, most exposed first, would bias any bins made from it)."""
    ordered = rows.sort_values(["mem_score", "sample_index"], kind="stable")
    return pd.Series(np.arange(len(ordered)), index=ordered.index).reindex(rows.index)


def mem_score_quintile(rows: pd.DataFrame) -> pd.Series:
    """1..5: each record's mem-score quintile among ``rows`` (one model's records), in
    equal-sized bins of :func:`mem_score_position`."""
    return (mem_score_position(rows) * BINS // len(rows) + 1).astype(int)


def exposed_share_by_memorability(risk: pd.DataFrame) -> pd.DataFrame:
    """Per model and mem-score quintile (of the scored members): the share of records
    exposed at ``EXPOSED_AT_FPR``, and the bin's mem-score range."""
    quintiles = [mem_score_quintile(rows) for _, rows in risk.groupby("model", sort=False)]
    binned = risk.assign(
        quintile=pd.concat(quintiles), exposed=risk["exposure_fpr"] <= EXPOSED_AT_FPR
    )
    return (
        binned.groupby(["model", "quintile"], sort=False)
        .agg(
            exposed_share=("exposed", "mean"),
            mem_low=("mem_score", "min"),
            mem_high=("mem_score", "max"),
            records=("exposed", "size"),
        )
        .reset_index()
    )


def exposure_fpr(member_values: np.ndarray, non_member_values: np.ndarray) -> np.ndarray:
    """Per member: the share of non-members whose value is at least the member's."""
    ordered = np.sort(non_member_values)
    at_least = len(ordered) - np.searchsorted(ordered, member_values, side="left")
    return at_least / len(ordered)


def record_risk(
    stages: Mapping[str, ModelOutputs],
    sample_uses: Mapping[str, pd.DataFrame],
    mem_scores: pd.DataFrame,
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    seed: int,
    target: str = VICTIM,
) -> pd.DataFrame:
    """One row per (model, scored member of ``target``), most exposed first within a model.

    Args:
        stages: each victim model's outputs (``{"dense": ..., "base": ..., "swmr": ...}``).
        sample_uses: per model, its members' uses per round (``model, round, sample_index,
            uses``), as the training procedures record them.
        mem_scores: the target's pool mem-scores (``sample_index, raw_score, score``).
        table, labels, seed: the splits, the dataset's labels and the run's seed, which fix
            the scored set exactly as the attacks' evaluation draws it.
        attack_params: the ``attacks`` section, for the options of LiRA and RMIA.

    Columns: ``model, sample_index, label, mem_score, mem_score_rank`` (rank-normalized in
    [0, 1]), ``lira, rmia`` (the attacks' statistics: LiRA's z-score, RMIA's score),
    ``lira_fpr, rmia_fpr``, ``exposure_fpr`` (the lower of the two), ``risk_rank`` (1 = most
    exposed; ties by the LiRA z-score), ``rounds_trained`` and ``uses_total`` with
    ``uses_round_<r>`` per round.
    """
    scores = mem_scores.set_index("sample_index")
    frames = []
    for model, outputs in stages.items():
        _, scored = outputs.attack_sets(table, labels, seed, target)
        members = scored.is_member
        frame = pd.DataFrame(
            {
                "model": model,
                "sample_index": scored.sample_index[members],
                "label": scored.labels[members],
            }
        )
        frame["mem_score"] = scores["raw_score"].reindex(frame["sample_index"]).to_numpy()
        frame["mem_score_rank"] = scores["score"].reindex(frame["sample_index"]).to_numpy()
        for name in RISK_ATTACKS:
            values = build_attack(name, attack_params.get(name)).statistic(scored)
            frame[name] = values[members]
            frame[f"{name}_fpr"] = exposure_fpr(values[members], values[~members])
        frame["exposure_fpr"] = frame[[f"{name}_fpr" for name in RISK_ATTACKS]].min(axis=1)
        frame = frame.sort_values(["exposure_fpr", "lira"], ascending=[True, False])
        frame["risk_rank"] = np.arange(1, len(frame) + 1)
        frames.append(_with_uses(frame, sample_uses[model], target))
    return pd.concat(frames, ignore_index=True)


def _with_uses(frame: pd.DataFrame, uses: pd.DataFrame, target: str) -> pd.DataFrame:
    """``frame`` with its records' uses per round, their total and the rounds they were in."""
    per_round = (
        uses[uses["model"] == target]
        .pivot_table(index="sample_index", columns="round", values="uses", aggfunc="sum")
        .reindex(frame["sample_index"])
        .fillna(0)
        .astype(int)
    )
    per_round.columns = [f"uses_round_{r}" for r in per_round.columns]
    frame = frame.reset_index(drop=True)
    frame["rounds_trained"] = (per_round > 0).sum(axis=1).to_numpy()
    frame["uses_total"] = per_round.sum(axis=1).to_numpy()
    return pd.concat([frame, per_round.reset_index(drop=True)], axis=1)


def exposed_overlap(risk: pd.DataFrame, first: str, second: str, count: int = 16) -> int:
    """How many of ``first``'s ``count`` most exposed records are among ``second``'s."""
    top = {
        model: set(risk[risk["model"] == model].nsmallest(count, "risk_rank")["sample_index"])
        for model in (first, second)
    }
    return len(top[first] & top[second])


def risk_summary(risk: pd.DataFrame, compared: str, reference: str = "base") -> dict[str, Any]:
    """What the table says about the defense and memorable records, for the report: the
    share of exposed members per model (all, and in the top mem-score quintile), and whether
    ``compared``'s most exposed members are ``reference``'s and as memorable."""
    shares = exposed_share_by_memorability(risk)
    top_quintile = shares[shares["quintile"] == BINS].set_index("model")["exposed_share"]
    models = risk["model"].unique().tolist()
    most_exposed = {
        model: risk[risk["model"] == model].nsmallest(MOST_EXPOSED, "risk_rank")
        for model in (reference, compared)
    }
    return {
        "exposed_at_fpr": EXPOSED_AT_FPR,
        "exposed_share": {
            model: float((risk[risk["model"] == model]["exposure_fpr"] <= EXPOSED_AT_FPR).mean())
            for model in models
        },
        "exposed_share_top_mem_quintile": {m: float(top_quintile[m]) for m in models},
        "most_exposed": MOST_EXPOSED,
        "most_exposed_shared": exposed_overlap(risk, reference, compared, MOST_EXPOSED),
        "median_mem_score": {
            "members": float(risk[risk["model"] == reference]["mem_score"].median()),
            **{m: float(top["mem_score"].median()) for m, top in most_exposed.items()},
        },
    }
