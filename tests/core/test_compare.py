"""Tests for wemem_pipeline.core.compare: the grid of defense runs and the Pareto fronts."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core.compare import (
    above_chance,
    check_compare_params,
    compared_defenses,
    compared_runs,
    comparison_runs,
    expand_grid,
    pareto_front,
)
from wemem_pipeline.core.reports.compare import front_sentence
from wemem_pipeline.core.validation import ParameterError


def test_expand_grid_keeps_scalars_and_expands_a_list():
    settings = {"lambda": [1, 4], "x": 2}
    assert expand_grid(settings) == [{"lambda": 1, "x": 2}, {"lambda": 4, "x": 2}]
    assert settings == {"lambda": [1, 4], "x": 2}  # the input is left alone


def test_expand_grid_takes_the_cartesian_product_of_list_axes():
    points = expand_grid({"a": [1, 2], "b": [3, 4, 5], "c": "kept"})
    assert len(points) == 6
    assert {(p["a"], p["b"]) for p in points} == set(itertools.product([1, 2], [3, 4, 5]))
    assert all(p["c"] == "kept" for p in points)


def test_expand_grid_without_a_list_is_one_run():
    assert expand_grid({"alpha": 0.5}) == [{"alpha": 0.5}]
    assert expand_grid(None) == [{}]
    assert expand_grid({}) == [{}]
    # Nested mappings (SWMR's window and risky) are settings, not axes.
    nested = {"window": {"width": 0.25}, "risky": {"threshold": 0.8}}
    assert expand_grid(nested) == [nested]


def test_expand_grid_with_an_empty_list_names_it():
    with pytest.raises(ParameterError, match="gamma"):
        expand_grid({"gamma": [], "alpha": 0.001})


def test_comparison_runs_label_every_grid_point():
    runs = comparison_runs(
        {
            "ppb": {"lambda": [1, 4]},
            "dpsgd": {"noise_multiplier": [0.5, 2.0], "max_grad_norm": [1.0, 3.0]},
            "relaxloss": {"alpha": 0.5},
            "rsw": None,
        }
    )
    labels = [label for label, _, _ in runs]
    assert labels[:2] == ["PPB lambda=1", "PPB lambda=4"]
    assert "DP-SGD noise_multiplier=2.0 max_grad_norm=1.0" in labels
    assert labels[-2:] == ["RelaxLoss", "RSW"]  # no grid: the title alone
    assert len(labels) == 2 + 4 + 1 + 1 == len(set(labels))
    assert runs[1][1:] == ("ppb", {"lambda": 4})
    assert runs[-2][1:] == ("relaxloss", {"alpha": 0.5})


def test_comparison_runs_take_a_list_of_settings_one_run_each():
    swmr_points = [
        {"window": {"width": 0.25}, "risky": {"threshold": 0.8}},
        {"window": {"width": 0.5}, "risky": {"threshold": 0.8}},
    ]
    runs = comparison_runs(
        {
            "dpsgd": [
                {"noise_multiplier": 0.5, "max_grad_norm": 1.0},
                {"noise_multiplier": 2.0, "max_grad_norm": 1.0},
            ],
            "swmr": swmr_points,
            "hamp": [{"gamma": 0.5}],
            "ppb": [{"lambda": 1}, {}],
        }
    )
    # Labels show only the keys whose values differ between the runs of a defense.
    assert [label for label, _, _ in runs] == [
        "DP-SGD noise_multiplier=0.5",
        "DP-SGD noise_multiplier=2.0",
        "SWMR window.width=0.25",  # nested settings: dotted keys
        "SWMR window.width=0.5",
        "HAMP",
        "PPB lambda=1",
        "PPB",  # the default lambda
    ]
    assert runs[1][1:] == ("dpsgd", {"noise_multiplier": 2.0, "max_grad_norm": 1.0})
    # A list value inside a listed mapping is a setting, not a grid axis.
    assert [point for _, defense, point in runs if defense == "swmr"] == swmr_points
    assert runs[-3][1:] == ("hamp", {"gamma": 0.5})
    assert runs[-1][1:] == ("ppb", {})
    check_compare_params({"defenses": {"dpsgd": [runs[0][2]], "swmr": swmr_points}})


@pytest.mark.parametrize("settings", [[], [{"lambda": 1}, 4], "lambda=4"])
def test_comparison_runs_reject_a_list_that_is_not_of_mappings(settings):
    with pytest.raises(ParameterError, match=r"compare\.defenses\.ppb"):
        comparison_runs({"ppb": settings})


def test_a_bad_point_of_a_settings_list_fails_the_check():
    with pytest.raises(ParameterError) as error:
        check_compare_params({"defenses": {"ppb": [{"lambda": 1}, {"lambda": -4}]}})
    message = str(error.value)
    assert "compare.defenses.ppb.lambda" in message and "-4" in message


def test_comparison_runs_refuse_the_same_run_twice():
    with pytest.raises(ParameterError, match=r"same run twice: \['PPB lambda=1'\]"):
        comparison_runs({"ppb": [{"lambda": 1}, {"lambda": 1}, {"lambda": 4}]})


@pytest.mark.parametrize("defenses", [{"magic": {}}, {"base": {}}, {}, None, ["ppb"]])
def test_comparison_runs_reject_unknown_defenses_and_base(defenses):
    with pytest.raises(ParameterError, match="compare.defenses") as error:
        comparison_runs(defenses)
    assert "ppb" in str(error.value)  # the allowed names are listed


def test_the_project_comparison_grid_is_valid(base_parameters):
    params = base_parameters
    check_compare_params(params["compare"])
    runs = comparison_runs(params["compare"]["defenses"])
    labels = [label for label, _, _ in runs]
    assert len(labels) == len(set(labels))
    # The WeMem defenses take the scenarios' settings (the interpolation resolved).
    settings = {defense: point for _, defense, point in runs}
    assert settings["rsw"] == params["scenario1"]["settings"]
    assert settings["swmr"] == params["scenario3"]["settings"]


@pytest.mark.parametrize(
    ("defense", "key", "values"),
    [
        ("ppb", "lambda", [1, -4]),
        ("dpsgd", "noise_multiplier", [1.0, 0.0]),
        ("hamp", "gamma", [0.5, 1.0]),
        ("relaxloss", "alpha", [0.2, 0]),
    ],
)
def test_a_bad_value_anywhere_in_the_grid_fails_the_check(base_parameters, defense, key, values):
    params = base_parameters
    bad = copy.deepcopy(params["compare"])
    bad["defenses"][defense] = {**bad["defenses"][defense], key: values}
    with pytest.raises(ParameterError) as error:
        check_compare_params(bad)
    message = str(error.value)
    assert f"compare.defenses.{defense}" in message and key in message
    assert repr(values[-1]) in message  # the bad grid point, not the good one


def test_pareto_front_marks_exactly_the_non_dominated_points():
    points = [
        (0.90, 0.50),  # front
        (0.80, 0.30),  # front
        (0.80, 0.40),  # same accuracy as the one above, more risk: dominated
        (0.70, 0.30),  # same risk as (0.80, 0.30), less accuracy: dominated
        (0.95, 0.60),  # most accurate: front
        (0.90, 0.50),  # duplicate of the first: neither dominates the other
        (0.60, 0.20),  # least risk: front
        (0.50, 0.90),  # dominated by every other point
    ]
    accuracy, risk = np.array(points).T
    front = pareto_front(accuracy, risk)
    assert front.tolist() == [True, True, False, False, True, True, True, False]
    assert pareto_front([0.5], [0.5]).tolist() == [True]


def _comparison(auc: list[float], chance: float) -> pd.DataFrame:
    """A comparison table of three runs with their strongest AUC and chance reference."""
    return pd.DataFrame(
        {
            "run": ["Dense", "Base", "SWMR"],
            "defense": ["dense", "base", "swmr"],
            "test_accuracy": [0.9, 0.92, 0.88],
            "auc": auc,
            "chance_auc_q95": chance,
            "pareto_auc": [False, True, True],
        }
    )


def test_a_front_is_declared_only_when_some_run_is_above_chance():
    above = front_sentence(_comparison([0.60, 0.62, 0.58], chance=0.59), "auc")
    assert above == "- Accuracy against AUC: SWMR is on the front; with Base."
    noise = front_sentence(_comparison([0.55, 0.56, 0.54], chance=0.57), "auc")
    assert "no front, since no run's strongest attack is above its chance reference" in noise
    assert above_chance(_comparison([0.55, 0.58, 0.54], chance=0.57), "auc").tolist() == [
        False,
        True,
        False,
    ]


@pytest.mark.parametrize("flag", ["tuned", "audit"])
def test_the_flags_of_compare_are_true_or_false(flag):
    check_compare_params({"defenses": {"ppb": {}}, flag: True})
    with pytest.raises(ParameterError, match=rf"compare\.{flag} must be true or false, got 'yes'"):
        check_compare_params({"defenses": {"ppb": {}}, flag: "yes"})


def test_compare_only_narrows_the_grid_and_refuses_nothing_or_strangers():
    grid = {"rsw": {"width": 0.25}, "ppb": {"lambda": [1, 4]}, "dpsgd": {}}
    assert compared_defenses({"defenses": grid}) == grid
    assert compared_defenses({"defenses": grid, "only": ["dpsgd", "ppb"]}) == {
        "ppb": {"lambda": [1, 4]},
        "dpsgd": {},
    }  # the grid's order
    assert compared_defenses({"defenses": grid, "only": "dpsgd rsw"}) == {
        "rsw": {"width": 0.25},
        "dpsgd": {},
    }  # --params "compare.only=dpsgd rsw"
    assert [label for label, _, _ in compared_runs({"defenses": grid, "only": "ppb"})] == [
        "PPB lambda=1",
        "PPB lambda=4",
    ]
    with pytest.raises(ParameterError, match=r"compare.only narrows the comparison to nothing"):
        check_compare_params({"defenses": grid, "only": []})
    with pytest.raises(ParameterError, match=r"compare.only names \['hamp'\]"):
        check_compare_params({"defenses": grid, "only": ["hamp"]})
