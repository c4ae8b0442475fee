"""The README's commands in the order a user types them: the main job, then ``attacks`` and
``attack_stored`` on what it left, and runs of another environment in between."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from kedro_project import RUN_OUTPUT, latest, project_copy, run_kedro


def _succeeded(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def _attack_stages(project: Path) -> set[str]:
    return set(pd.read_csv(latest(project, "07_model_output/attack_metrics.csv"))["stage"])


def _attack_after_a_scenario(project: Path) -> None:
    """``attacks`` and ``attack_stored`` on what a scenario left (no one-shot stage)."""
    output = _succeeded(run_kedro(project, "--pipeline=attacks"))
    assert "== Attacks on every stage ==" in output
    assert "One-shot pruned: not attacked" in output
    assert "Going without one_shot_outputs" in output
    assert "Table: data/07_model_output/attack_metrics.csv/" in output
    assert _attack_stages(project) == {"dense", "round_0", "round_1", "round_2"}

    output = _succeeded(run_kedro(project, "--pipeline=attack_stored"))
    assert "== A stored model against the project's victim ==" in output
    assert "The stored model against the project's iteratively pruned victim" in output
    assert "Report: data/08_reporting/latest/stored/report.html" in output


@pytest.fixture
def after_scenario(finished_run: Path, tmp_path: Path) -> Path:
    """What ``kedro run --pipeline=scenario3`` leaves, as far as ``attacks`` reads it: the
    session's default run without its one-shot stage."""
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    for folder in (project / "data").glob("*/one_shot_*"):
        shutil.rmtree(folder)
    return project


def test_attacks_and_attack_stored_work_right_after_a_scenario(after_scenario: Path) -> None:
    _attack_after_a_scenario(after_scenario)
    # The report needs every stage: it says what to run rather than failing in a node.
    result = run_kedro(after_scenario, "--pipeline=reporting")
    assert result.returncode == 1 and "kedro run --pipeline=pruning" in result.stderr


@pytest.mark.slow
def test_scenario3_then_attacks_then_attack_stored(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    _succeeded(run_kedro(project, "--pipeline=scenario3"))
    _attack_after_a_scenario(project)


def _other_environment(project: Path) -> None:
    """``--env=other``: the test environment's settings with seed 1."""
    shutil.copytree(project / "conf" / "test", project / "conf" / "other")
    (project / "conf" / "other" / "parameters_seed.yml").write_text("seed: 1\n")


def test_newer_inputs_of_another_environment_are_passed_over(after_scenario: Path) -> None:
    _other_environment(after_scenario)
    _succeeded(run_kedro(after_scenario, "--env=other", "--pipeline=data_split"))

    # The newest splits are the other environment's: the test environment's own are taken.
    output = _succeeded(run_kedro(after_scenario, "--pipeline=attacks"))
    assert "Skipping newer versions made with other settings: splits@" in output
    assert "(--env=other: seed=1 (this run: 0))" in output

    # The other environment has splits but no models: refused, saying where they came from.
    result = run_kedro(after_scenario, "--env=other", "--pipeline=attacks")
    assert result.returncode == 1
    assert "made with seed=0 (this run: 1)" in result.stderr
    assert "(--env=test)" in result.stderr
    assert "run it with --env=test, the environment they were made in" in result.stderr
    assert "kedro run --pipeline=training" in result.stderr


def test_the_hint_to_explore_a_run_names_the_extra_it_needs(finished_run: Path) -> None:
    output = (finished_run / RUN_OUTPUT).read_text()
    hint = next(line for line in output.splitlines() if line.startswith("Explore it:"))
    assert hint.endswith('(needs the notebook extra: pip install -e ".[notebook]")')
