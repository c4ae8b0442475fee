"""Runs that cannot be mixed up: each reproduction of issue 11 as an end-to-end test.

Each test copies the session's finished default run (``finished_run``) into a project of its
own, does what a user did, and checks that ``--pipeline=attacks`` either scores the right
models (the newest made with its own data and settings) or refuses, naming the artifacts and
what to run or load instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro_project import latest, project_copy, run_kedro

from wemem_pipeline.catalog_datasets.torch_state_dicts import read_state_dicts
from wemem_pipeline.core.errors import DataError, ParameterError, user_error_in
from wemem_pipeline.runs.cli import error_block
from wemem_pipeline.runs.records import RunRecord, shaping_sections

REFUSED = "wemem-pipeline: the run stopped ("


@pytest.fixture
def project(finished_run: Path, tmp_path: Path) -> Path:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    return project


@pytest.fixture
def other_data(tmp_path: Path) -> Path:
    """A small two-class CSV that is not digits."""
    rows = [f"{i % 7},{(3 * i) % 11},{i % 2}" for i in range(120)]
    path = tmp_path / "other.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


def records(project: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((project / "data/09_runs").glob("*.json"))]


def attack_metrics(project: Path) -> pd.DataFrame:
    metrics = pd.read_csv(latest(project, "07_model_output/attack_metrics.csv"))
    return metrics.drop(columns="seconds")


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert REFUSED in result.stderr and "Traceback" not in output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    return result.stderr


# Two runs; the fast set fails a run the same way (FailsToTrain) in test_latest_reports.py and
# skips the versions of a run that did not complete in the killed-run test below.
@pytest.mark.slow
def test_a_failed_run_on_other_data_is_never_loaded(
    project: Path, other_data: Path, finished_run: Path
) -> None:
    # The run reads other data, writes dataset and splits, then fails in a node that trains
    # (its model passes the checks before the first node): those versions must not be picked.
    shutil.copy(Path(__file__).parents[1] / "custom_models.py", project / "src")
    failing = (
        f"dataset.name=file,dataset.path={other_data},dataset.label_column=label,"
        "model.name=custom,model.class_path=custom_models:FailsToTrain"
    )
    result = run_kedro(project, "--pipeline=scenario3", "--params", failing)
    assert result.returncode == 1 and "FailsToTrain cannot be trained" in result.stderr
    failed = records(project)[-1]
    assert failed["status"] == "failed" and {"dataset", "splits"} <= set(failed["saved"])

    result = run_kedro(project, "--pipeline=attacks")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "(failed)" in result.stdout + result.stderr  # the skipped versions are named
    pd.testing.assert_frame_equal(attack_metrics(project), attack_metrics(finished_run))


# Four runs; the fast set refuses a mix by seed (below) and skips a failed run's other data
# (above), through the same check of what the inputs were made from.
@pytest.mark.slow
def test_attacks_take_their_own_data_s_versions_and_refuse_a_mix(
    project: Path, other_data: Path, finished_run: Path
) -> None:
    other = f"dataset.name=file,dataset.path={other_data},dataset.label_column=label"
    assert run_kedro(project, "--pipeline=data_split", "--params", other).returncode == 0
    # The newest dataset and splits are of other data: digits' own are taken, and named.
    result = run_kedro(project, "--pipeline=attacks")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "dataset.name='file' (this run: 'digits')" in result.stdout + result.stderr
    pd.testing.assert_frame_equal(attack_metrics(project), attack_metrics(finished_run))
    # Attacking the other data: no model was trained on it.
    assert_refused(
        run_kedro(project, "--pipeline=attacks", "--params", other),
        "do not belong together",
        "made from different data",
        "dataset.name='digits' (this run: 'file')",
        "kedro run --pipeline=training",
    )


# Three more runs; the fast set's test_commands_in_order.py::
# test_newer_inputs_of_another_environment_are_passed_over makes seed 1's splits and is
# refused the same way ("made with seed=0 (this run: 1)").
@pytest.mark.slow
def test_attacks_refuse_splits_of_another_seed(project: Path) -> None:
    # Every input is seed 0's: the refusal says which --params would use them.
    assert_refused(
        run_kedro(project, "--pipeline=attacks", "--params", "seed=1"),
        "were made with seed=0 (this run: 1)",
        "use the newest ones with the parameters they were made with: --params seed=0",
    )
    assert run_kedro(project, "--pipeline=data_split", "--params", "seed=1").returncode == 0
    # Asking for seed 1: its splits are there, the models are still seed 0's.
    assert_refused(
        run_kedro(project, "--pipeline=attacks", "--params", "seed=1"),
        "dense_outputs@",
        "seed=0 (this run: 1)",
    )


def test_a_killed_run_leaves_nothing_the_next_run_loads(project: Path, finished_run: Path) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "kedro", "run", "--env=test", "--params", "seed=3"]
    run = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    splits = project / "data/03_primary/splits.parquet"
    before = len(list(splits.iterdir()))

    def logged_splits() -> bool:  # the run's log of what it saved names its splits
        logs = (project / "data/09_runs").glob("*.saved.*.jsonl")
        return any('"splits"' in log.read_text() for log in logs)

    deadline = time.monotonic() + 120
    while not logged_splits() and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert len(list(splits.iterdir())) == before + 1, "the run wrote its splits before the kill"
    killed = records(project)[-1]
    assert killed["status"] == "running"  # as the kill left it
    # Its record lists what it saved, with the hashes its processes logged as they saved.
    saved = RunRecord.load(project, killed["run_id"]).saved
    assert {"dataset", "splits"} <= saved.keys() and len(saved["splits"]["sha256"]) == 64

    result = run_kedro(project, "--pipeline=attacks", "--params", "seed=3")
    assert_refused(result, "seed=0 (this run: 3)")  # seed 3 never finished: nothing to load
    assert "(killed)" in result.stdout + result.stderr
    result = run_kedro(project, "--pipeline=attacks")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pd.testing.assert_frame_equal(attack_metrics(project), attack_metrics(finished_run))


def test_attacks_after_the_quick_start_say_what_to_run(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    message = assert_refused(
        run_kedro(project, "--pipeline=attacks"),
        "iterative_outputs: no version from a completed run in data/07_model_output/iterat",
        "kedro run --pipeline=pruning",
    )
    assert len(message.splitlines()) < 12
    assert not (project / "data/09_runs").exists(), "a refused run leaves no record"


# ----------------------------------------------------------------------------- the parts


def test_each_artifact_is_compared_on_the_settings_that_shaped_it() -> None:
    assert shaping_sections("dataset") == ("dataset",)
    assert shaping_sections("splits") == ("dataset", "seed", "split")
    assert "pruning" not in shaping_sections("dense_models")
    assert "pruning" in shaping_sections("iterative_outputs")
    assert "memorability" in shaping_sections("victim_mem_scores")
    assert shaping_sections("scenario3.defended_outputs")[-1] == "scenario3"


def test_a_record_left_running_by_a_dead_process_reads_killed(tmp_path: Path) -> None:
    record = RunRecord(run_id="2026-01-01T00.00.00.000Z", pipelines=["attacks"], env="test")
    record.create(tmp_path)
    assert RunRecord.load(tmp_path, record.run_id).state() == "running"  # this process
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record.process = int(dead.stdout)
    record.save(tmp_path)
    assert RunRecord.load(tmp_path, record.run_id).state() == "killed"
    record.finish(tmp_path, RuntimeError("boom"))
    failed = RunRecord.load(tmp_path, record.run_id)
    assert failed.state() == "failed" and failed.error == "RuntimeError: boom"
    assert RunRecord.load(tmp_path, "no-such-run") is None


def test_the_error_block_is_short_and_found_inside_kedro_wrappers() -> None:
    error = ParameterError("pruning.sparsity must be in [0, 1), got 1.5", hint="use 0.6")
    try:
        try:
            raise error
        except ParameterError as cause:
            raise RuntimeError("Failed while loading data from dataset") from cause
    except RuntimeError as wrapped:
        assert user_error_in(wrapped) is error
    assert user_error_in(RuntimeError("a bug")) is None
    assert error_block(error).splitlines() == [
        "wemem-pipeline: the run stopped (parameter problem)",
        "  pruning.sparsity must be in [0, 1), got 1.5",
        "  What to do: use 0.6",
        "  (kedro run --verbose ... shows the full traceback)",
    ]


def test_model_files_other_than_state_dicts_are_refused(tmp_path: Path) -> None:
    good = {"victim": {"weight": torch.zeros(2)}}
    cases = {
        "bare.pt": (torch.zeros(3), "a bare tensor of shape \\(3,\\)"),
        "list.pt": ([1, 2], "holds a list"),
        "mixed.pt": ({"a": torch.zeros(1), "b": 3}, "a dict of \\['Tensor', 'int'\\]"),
    }
    for name, (content, message) in cases.items():
        torch.save(content, tmp_path / name)
        with open(tmp_path / name, "rb") as file, pytest.raises(DataError, match=message):
            read_state_dicts(file, name)
    (tmp_path / "corrupt.pt").write_bytes(b"garbage" * 10)
    with open(tmp_path / "corrupt.pt", "rb") as file, pytest.raises(DataError) as info:
        read_state_dicts(file, "corrupt.pt")
    assert "weights_only" not in str(info.value)  # never a hint to load unsafely
    torch.save(good, tmp_path / "good.pt")
    with open(tmp_path / "good.pt", "rb") as file:
        assert read_state_dicts(file, "good.pt").keys() == {"victim"}
