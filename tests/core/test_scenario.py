"""Tests for wemem_pipeline.core.scenario (what a scenario attacks, how often members were
trained on) and the round helpers of core.evaluation."""

from __future__ import annotations

import pandas as pd
import pytest

from wemem_pipeline.core import scenario
from wemem_pipeline.core.evaluation import last_round, round_stage
from wemem_pipeline.core.splits import VICTIM


def test_reuse_statistics_by_hand():
    uses = pd.DataFrame(
        {
            "model": [VICTIM] * 6 + ["shadow_0"] * 2,
            "round": [0, 0, 0, 1, 1, 1, 0, 1],
            "sample_index": [5, 7, 9, 5, 7, 9, 5, 5],
            "uses": [2, 0, 1, 1, 0, 3, 9, 9],
        }
    )
    stats = scenario.reuse_statistics(uses)
    assert stats == {
        "members": 3,
        "members_seen_per_round": 2.0,  # 2 of 3 in each round
        "members_never_seen": 1,  # sample 7
        "mean_uses_per_round": pytest.approx((1.0 + 4 / 3) / 2),
        "max_uses_per_round": 3,
        "mean_uses_total": pytest.approx(7 / 3),  # totals 3, 0, 4
        "max_uses_total": 4,
    }
    shadow = scenario.reuse_statistics(uses, "shadow_0")
    assert shadow["members"] == 1
    assert shadow["mean_uses_total"] == 18
    assert shadow["members_never_seen"] == 0


def test_scenario_stages_attack_dense_base_last_round_and_every_defended_round():
    stages = scenario.scenario_stages(
        {0: "D"}, {0: "b0", 1: "b1", 2: "b2"}, {0: "r0", 2: "r2"}, "rsw"
    )
    assert stages["dense"] == "D"
    assert stages["base"] == "b2"
    assert sorted(v for k, v in stages.items() if k.startswith("rsw_")) == ["r0", "r2"]
    assert list(stages) == ["dense", "base", "rsw_round_0", "rsw_round_2"]
    # Whatever round a run recorded last is the one attacked.
    assert scenario.scenario_stages({2: "D2", 0: "D0"}, {3: "b3"}, {}, "rmr") == {
        "dense": "D2",
        "base": "b3",
    }


def test_round_helpers():
    assert round_stage(2) == "round_2"
    assert last_round({0: "a", 4: "e", 1: "b"}) == "e"
