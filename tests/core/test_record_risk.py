"""Per-record risk: exposure, memorability bins and the summary, on tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core.record_risk import (
    EXPOSED_AT_FPR,
    MOST_EXPOSED,
    exposed_overlap,
    exposed_share_by_memorability,
    exposure_fpr,
    mem_score_quintile,
    risk_summary,
)


def test_exposure_is_the_share_of_non_members_scoring_at_least_as_high() -> None:
    non_members = np.array([3.0, 0.0, 2.0, 1.0])
    members = np.array([3.5, 2.0, -1.0, 3.0])
    np.testing.assert_allclose(exposure_fpr(members, non_members), [0.0, 0.5, 1.0, 0.25])


def test_quintiles_are_equal_sized_and_ignore_the_tables_order() -> None:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"sample_index": np.arange(20), "mem_score": np.repeat([0.0, 1.0], 10)})
    quintiles = mem_score_quintile(rows)
    assert quintiles.value_counts().sort_index().tolist() == [4] * 5
    assert (quintiles[rows["mem_score"] == 1.0] >= 3).all()
    shuffled = rows.sample(frac=1.0, random_state=rng.integers(1 << 31))
    pd.testing.assert_series_equal(mem_score_quintile(shuffled).sort_index(), quintiles)


def _risk(model: str, exposure: np.ndarray, mem: np.ndarray, first_index: int = 0) -> pd.DataFrame:
    n = len(exposure)
    frame = pd.DataFrame(
        {
            "model": model,
            "sample_index": np.arange(first_index, first_index + n),
            "mem_score": mem,
            "exposure_fpr": exposure,
        }
    )
    frame["risk_rank"] = frame["exposure_fpr"].rank(method="first").astype(int)
    return frame


def test_exposed_share_per_quintile_and_the_summary() -> None:
    mem = np.linspace(0.0, 1.0, 50)
    # Base: the most memorable fifth is all exposed, nothing else; the defense: none of it.
    base_exposure = np.where(mem >= mem[40], 0.0, 0.5)
    defended_exposure = np.where(mem < mem[10], 0.01, 0.9)
    risk = pd.concat([_risk("base", base_exposure, mem), _risk("swmr", defended_exposure, mem)])
    shares = exposed_share_by_memorability(risk).set_index(["model", "quintile"])
    assert shares.loc[("base", 5), "exposed_share"] == 1.0
    assert shares.loc[("base", 1), "exposed_share"] == 0.0
    assert shares.loc[("swmr", 1), "exposed_share"] == 1.0
    assert shares.loc[("swmr", 5), "exposed_share"] == 0.0

    summary = risk_summary(risk, "swmr")
    assert summary["exposed_at_fpr"] == EXPOSED_AT_FPR
    assert summary["exposed_share"] == {"base": pytest.approx(0.2), "swmr": pytest.approx(0.2)}
    assert summary["exposed_share_top_mem_quintile"] == {"base": 1.0, "swmr": 0.0}
    assert summary["most_exposed"] == MOST_EXPOSED
    # Base's 16 most exposed are its 10 exposed (top fifth) and 6 ties, the defense's the
    # bottom fifth and 6 more: the exposed records differ.
    assert summary["most_exposed_shared"] == exposed_overlap(risk, "base", "swmr")
    assert summary["median_mem_score"]["base"] > summary["median_mem_score"]["swmr"]
    assert summary["median_mem_score"]["members"] == pytest.approx(0.5)


def test_overlap_counts_shared_records_only() -> None:
    exposure = np.linspace(0.0, 1.0, 20)
    risk = pd.concat(
        [
            _risk("base", exposure, np.zeros(20)),
            _risk("swmr", exposure, np.zeros(20), first_index=10),  # 10..29
        ]
    )
    assert exposed_overlap(risk, "base", "swmr", count=4) == 0
    assert exposed_overlap(risk, "base", "swmr", count=16) == 6  # 10..15 in both
