"""Tests for the report figures, read back through matplotlib's objects: chance lines drawn
as the titles say, ROC curves only where n non-members can measure, one colour per attack,
the strongest attacks emphasised, coincident runs all visible, and the lines the titles
promise actually drawn."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color, to_rgba
from matplotlib.figure import Figure

from wemem_pipeline.core.attacks import ATTACKS, OFFLINE_ATTACKS
from wemem_pipeline.core.metrics import roc_points
from wemem_pipeline.core.record_risk import BINS
from wemem_pipeline.core.reports import figures
from wemem_pipeline.core.reports.autotune import autotune_figure
from wemem_pipeline.core.reports.figures import (
    ATTACK_STYLES,
    CHANCE_LINE,
    LINE_STYLE_NAMES,
    MARKERS,
    OTHER_ATTACK_LINE,
    STRONGEST_SHOWN,
    attack_style,
    privacy_utility_figure,
    roc_figure,
    rounds_figure,
    strongest_attacks,
)
from wemem_pipeline.core.reports.record_risk import record_risk_figure

NON_MEMBERS = 200
# Attack -> how far members' scores sit above non-members' (0: no leakage); the main
# pipelines' suite (the online attacks run in the audit only).
SEPARATION = {name: 0.1 * index for index, name in enumerate(OFFLINE_ATTACKS)}
STRONGEST = ["rmia", "lira", "samia"]  # the last three: the largest separations


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _roc(stage: str = "victim") -> pd.DataFrame:
    is_member = np.repeat([True, False], NON_MEMBERS)
    # One noise for all: a larger separation then always gives a larger AUC.
    noise = np.random.default_rng(0).normal(size=2 * NON_MEMBERS)
    frames = []
    for attack, separation in SEPARATION.items():
        scores = noise + separation * is_member
        fpr, tpr = roc_points(is_member, scores)
        frames.append(pd.DataFrame({"stage": stage, "attack": attack, "fpr": fpr, "tpr": tpr}))
    return pd.concat(frames, ignore_index=True)


def _rounds_report() -> dict:
    def attacks(shift: float) -> dict:
        return {name: {"auc": 0.5 + s / 4 + shift} for name, s in SEPARATION.items()}

    rounds = [
        {"round": r, "test_accuracy": 0.8, "dev_accuracy": 0.78, "sparsity": r / 4}
        | {"attacks": attacks(0.01 * r)}
        for r in range(3)
    ]
    return {"rounds": rounds, "models": [{"attacks": attacks(0.0)}]}


def _lines_by_label(fig: Figure) -> dict[str, plt.Line2D]:
    return {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}


def _chance_note() -> str:
    return f"{LINE_STYLE_NAMES[CHANCE_LINE['linestyle']]} = chance"


def _title_text(fig: Figure) -> str:
    titles = [ax.get_title() for ax in fig.axes]
    return " ".join([fig.get_suptitle(), *titles])


# ----------------------------------------------------------------------------- attack styles


def test_every_attack_has_its_own_colour_and_marker_none_grey():
    assert set(ATTACK_STYLES) == set(ATTACKS)
    colours = [to_rgba(style["color"]) for style in ATTACK_STYLES.values()]
    assert len(set(colours)) == len(ATTACKS)
    assert len({style["marker"] for style in ATTACK_STYLES.values()}) == len(ATTACKS)
    assert not any(same_color(colour, OTHER_ATTACK_LINE["color"]) for colour in colours)
    assert set(MARKERS) == set(figures.COLORS)  # Dense and every defense
    assert len(set(MARKERS.values())) == len(MARKERS)


def test_strongest_attacks_are_the_highest_strongest_first_ties_in_order():
    assert strongest_attacks({"a": 0.5, "b": 0.7, "c": 0.6, "d": 0.7}, 3) == ["b", "d", "c"]


# ----------------------------------------------------------------------------- ROC


def test_roc_chance_diagonal_is_dotted_as_the_title_says_and_no_attack_is():
    fig = roc_figure(_roc(), {"Victim": "victim"}, NON_MEMBERS)
    chance = _lines_by_label(fig)["chance"]
    assert chance.get_linestyle() == CHANCE_LINE["linestyle"]
    assert _chance_note() in fig.get_suptitle()
    attack_lines = [line for line in fig.axes[0].get_lines() if line is not chance]
    assert len(attack_lines) == len(SEPARATION)
    assert all(line.get_linestyle() != chance.get_linestyle() for line in attack_lines)


def test_roc_curves_start_at_the_smallest_measurable_fpr():
    fig = roc_figure(_roc(), {"Victim": "victim"}, NON_MEMBERS)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == pytest.approx(1 / NON_MEMBERS)
    for line in ax.get_lines():
        assert np.min(line.get_xdata()) >= 1 / NON_MEMBERS
    assert f"1/{NON_MEMBERS}" in ax.get_xlabel()


def test_roc_emphasises_the_strongest_attacks_in_their_colours():
    fig = roc_figure(_roc(), {"Victim": "victim"}, NON_MEMBERS)
    coloured = [line for line in fig.axes[0].get_lines() if line.get_zorder() == 3]
    names = [line.get_label().split()[0] for line in coloured]
    assert names == STRONGEST[:STRONGEST_SHOWN]
    for name, line in zip(names, coloured, strict=True):
        assert same_color(line.get_color(), attack_style(name)["color"])
        assert line.get_marker() == attack_style(name)["marker"]
    grey = [line for line in fig.axes[0].get_lines() if line.get_zorder() < 3]
    assert sum(same_color(line.get_color(), OTHER_ATTACK_LINE["color"]) for line in grey) == (
        len(SEPARATION) - STRONGEST_SHOWN
    )


def test_an_attack_has_the_same_colour_in_the_roc_and_the_rounds_figure():
    roc = _lines_by_label(roc_figure(_roc(), {"Victim": "victim"}, NON_MEMBERS))
    rounds = _lines_by_label(rounds_figure(_rounds_report()))
    for attack in STRONGEST:
        roc_line = next(line for label, line in roc.items() if label.startswith(f"{attack} "))
        assert same_color(roc_line.get_color(), rounds[attack].get_color())
        assert roc_line.get_marker() == rounds[attack].get_marker()


# ----------------------------------------------------------------------------- rounds


def test_rounds_draws_the_chance_line_as_its_title_says_and_the_strongest_in_colour():
    fig = rounds_figure(_rounds_report())
    lines = _lines_by_label(fig)
    assert lines["chance"].get_linestyle() == CHANCE_LINE["linestyle"]
    assert _chance_note() in _title_text(fig)
    assert all(line.get_linestyle() != ":" for label, line in lines.items() if label != "chance")
    assert [attack for attack in STRONGEST if attack in lines] == STRONGEST
    assert f"{len(SEPARATION) - STRONGEST_SHOWN} other attacks" in lines


# ----------------------------------------------------------------------------- privacy-utility


def _coincident_runs() -> pd.DataFrame:
    """Base and HAMP at one place, RSW and SWMR at another (as on digits), Dense apart."""
    return pd.DataFrame(
        {
            "defense": ["dense", "base", "rsw", "swmr", "hamp"],
            "label": ["", "", "", "", "HAMP gamma=0.5"],
            "test_accuracy": [0.44, 0.685, 0.548, 0.548, 0.685],
            "auc": [0.534, 0.541, 0.535, 0.535, 0.541],
            "tpr_at_1pct_fpr": [0.046, 0.041, 0.032, 0.032, 0.041],
            "chance_auc": 0.57,
        }
    )


def test_privacy_utility_keeps_runs_at_the_same_place_visible():
    points = _coincident_runs()
    fig = privacy_utility_figure(points, "test")
    for ax in fig.axes:
        runs = [c for c in ax.collections if c.get_label() in ("Dense", "Base", "RSW", "SWMR")]
        assert len(runs) == 4
        markers = {tuple(map(tuple, c.get_paths()[0].vertices.round(3))) for c in runs}
        assert len(markers) == 4  # each defense its own shape
        for collection in runs:
            assert np.all(np.reshape(collection.get_facecolor(), (-1, 4))[:, 3] == 0)  # hollow
        assert not ax.texts  # no labels written over the points
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert {"Dense", "Base", "RSW", "SWMR", "HAMP gamma=0.5"} <= set(legend)


def test_privacy_utility_labels_both_chance_lines_and_the_title_matches():
    fig = privacy_utility_figure(_coincident_runs(), "test")
    auc_lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert auc_lines["chance"].get_linestyle() == CHANCE_LINE["linestyle"]
    assert auc_lines["chance"].get_ydata()[0] == 0.5
    reference = auc_lines["chance reference, strongest attack (95th pct)"]
    assert reference.get_linestyle() != CHANCE_LINE["linestyle"]
    assert _chance_note() in fig.get_suptitle()


# ----------------------------------------------------------------------------- autotune


def _autotune(max_accuracy_loss: float) -> tuple[dict, pd.DataFrame]:
    trials = pd.DataFrame(
        {
            "state": "complete",
            "accuracy": [0.40, 0.45, 0.47],
            "leakage": [0.53, 0.535, 0.538],
            "feasible": True,
            "on_front": [True, True, False],
        }
    )
    base = {"accuracy": 0.49, "leakage": 0.54, "attack": "nn"}
    estimate = {"metric": "auc", "leakage": 0.53, "attack": "nn", "accuracy": 0.40}
    tuned = {
        "estimate": estimate | {"max_accuracy_loss": max_accuracy_loss, "base": base},
        "trial": 0,
        "defense": "swmr",
        "dataset": "digits",
    }
    return tuned, trials


def _vertical_lines(fig: Figure) -> list[plt.Line2D]:
    return [
        line
        for line in fig.axes[0].get_lines()
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    ]


def test_autotune_budget_line_sits_at_base_accuracy_minus_the_budget():
    fig = autotune_figure(*_autotune(0.05))
    (line,) = _vertical_lines(fig)
    assert line.get_xdata()[0] == pytest.approx(0.49 - 0.05)
    assert "budget" in line.get_label()


def test_autotune_budget_beyond_the_trials_is_stated_not_drawn_off_to_the_left():
    fig = autotune_figure(*_autotune(0.5))  # the test setting: Base 0.49 - 0.5 = -0.01
    assert _vertical_lines(fig) == []
    assert fig.axes[0].get_xlim()[0] > 0.3
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert any("-0.010" in text and "left of the plot" in text for text in legend)


# ----------------------------------------------------------------------------- record risk


def test_record_risk_draws_the_quintile_medians_above_the_points():
    rng = np.random.default_rng(1)
    rows = 400
    mem = np.concatenate([np.zeros(rows // 2), rng.uniform(0, 1, rows // 2)])
    risk = pd.concat(
        [
            pd.DataFrame(
                {
                    "model": model,
                    "sample_index": np.arange(rows),
                    "mem_score": mem,
                    "lira": rng.normal(size=rows) + shift * mem,
                    "exposure_fpr": rng.uniform(size=rows),
                }
            )
            for model, shift in (("dense", 0.0), ("base", 2.0), ("swmr", 0.5))
        ]
    )
    fig = record_risk_figure(risk, "swmr")
    scatter = fig.axes[0]
    medians = [line for line in scatter.get_lines() if "median" in line.get_label()]
    assert [line.get_label().split(":")[0] for line in medians] == ["Base", "SWMR"]
    # Mem-scores tied at 0 must not stack the medians on one vertical line: one per quintile.
    centres = 100 * (np.arange(BINS) + 0.5) / BINS
    for line in medians:
        np.testing.assert_allclose(line.get_xdata(), centres)
        assert line.get_zorder() > max(c.get_zorder() for c in scatter.collections)
    base_medians = medians[0].get_ydata()
    assert base_medians[-1] > base_medians[0]  # Base's exposure rises with its mem-score
    assert "median" in scatter.get_legend().get_texts()[0].get_text()
