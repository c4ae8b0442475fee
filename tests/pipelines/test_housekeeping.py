"""``kedro clean``: housekeeping of versioned artifacts on synthetic ``data/`` trees.

Each tree has version folders of known sizes and run records of known states, so what must be
kept and what may go is known: the newest ``keep`` versions, the newest made by a completed
run, the versions of running runs and the ones they load; nothing else under ``data/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro_project import project_copy

from wemem_pipeline.core.errors import UserError
from wemem_pipeline.runs.cli import cli, error_block
from wemem_pipeline.runs.housekeeping import (
    apply_cleanup,
    bytes_written_by,
    describe,
    find_versions,
    plan_cleanup,
)
from wemem_pipeline.runs.records import RunRecord

# Run ids (= version names), oldest first.
T1, T2, T3, T4, T5 = (f"2026-01-0{day}T10.00.00.000Z" for day in range(1, 6))
GONE = 2**22 + 12345  # above Linux's largest pid: a process that is gone
MODELS = "data/06_models/dense_models.pt"
REPORT = "data/08_reporting/scenario3/report.md"
BRANCH = "data/07_model_output/seed_1/dense_outputs.npz"


def add_version(project: Path, folder: str, run_id: str, size: int) -> None:
    """``folder/run_id/<name>`` holding ``size`` bytes, as a versioned dataset saves it."""
    path = project / folder / run_id / Path(folder).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def add_record(project: Path, run_id: str, state: str, loaded: dict | None = None) -> None:
    """A run record that reads as ``state`` (``killed``: running, its process gone)."""
    status = "running" if state == "killed" else state
    process = os.getpid() if state == "running" else GONE
    record = RunRecord(run_id, ["scenario3"], "base", status=status, process=process)
    record.loaded = loaded or {}
    record.save(project)


def untouchable(project: Path) -> list[Path]:
    """Files no cleanup may touch: .gitkeep, a raw file, a timestamp folder that is no version."""
    files = [
        project / "data/01_raw/.gitkeep",
        project / "data/01_raw/mine.csv",
        project / "data/01_raw/exports/2020-01-01T00.00.00.000Z/other.csv",  # not <name>/<v>/<name>
        project / "data/05_model_input/notes/old/notes",
    ]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("keep me")
    return files


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Four completed runs T1, T2, T3, T5 (T4 failed), each writing the three datasets; T5
    wrote only the report. Sizes: 100 bytes per run for MODELS, 10 for REPORT, 1 for BRANCH."""
    project = tmp_path / "project"
    for run_id, state in ((T1, "completed"), (T2, "completed"), (T3, "completed")):
        add_record(project, run_id, state)
        for folder, size in ((MODELS, 100), (REPORT, 10), (BRANCH, 1)):
            add_version(project, folder, run_id, size)
    add_record(project, T4, "failed")
    add_version(project, MODELS, T4, 100)
    add_record(project, T5, "completed")
    add_version(project, REPORT, T5, 10)
    untouchable(project)
    return project


def all_files(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def test_versions_are_found_by_their_layout(project: Path) -> None:
    assert find_versions(project) == {
        MODELS: [T4, T3, T2, T1],
        BRANCH: [T3, T2, T1],
        REPORT: [T5, T3, T2, T1],
    }
    assert bytes_written_by(project, T3) == 111
    assert bytes_written_by(project, T5) == 10
    assert bytes_written_by(project, "2030-01-01T00.00.00.000Z") == 0


def test_keep_two_deletes_the_older_versions_and_their_records(project: Path) -> None:
    before = all_files(project)
    plan = plan_cleanup(project, keep=2)
    assert plan.delete == {MODELS: [T2, T1], BRANCH: [T1], REPORT: [T2, T1]}
    assert plan.delete_records == [T1]  # T2's BRANCH version stays, so does its record
    assert plan.deleted_bytes() == 2 * 100 + 1 + 2 * 10
    # Newest in MODELS is T4 (failed): the newest completed one, T3, is kept anyway.
    assert all_files(project) == before  # planning deletes nothing

    apply_cleanup(project, plan)
    after = all_files(project)
    assert set(before) - set(after) == {
        f"{MODELS}/{T2}/dense_models.pt",
        f"{MODELS}/{T1}/dense_models.pt",
        f"{BRANCH}/{T1}/dense_outputs.npz",
        f"{REPORT}/{T2}/report.md",
        f"{REPORT}/{T1}/report.md",
        f"data/09_runs/{T1}.json",
    }
    assert not (project / MODELS / T1).exists()  # the version folder goes, not only its file
    assert find_versions(project) == {MODELS: [T4, T3], BRANCH: [T3, T2], REPORT: [T5, T3]}


def test_keep_one_keeps_the_newest_and_the_newest_completed(project: Path) -> None:
    plan = plan_cleanup(project, keep=1)
    # MODELS: T4 is the newest (failed), T3 the newest a completed run made: both stay.
    assert plan.delete == {MODELS: [T2, T1], BRANCH: [T2, T1], REPORT: [T3, T2, T1]}
    assert plan.kept_beyond == {"the newest made by a completed run (the next run loads it)": 1}
    # T3 keeps its MODELS version, so its record stays; T4 (failed) keeps its only version.
    assert plan.delete_records == [T1, T2]
    apply_cleanup(project, plan)
    assert sorted(p.stem for p in (project / "data/09_runs").glob("*.json")) == [T3, T4, T5]


def test_versions_of_running_runs_and_of_what_they_load_stay(project: Path) -> None:
    # T2 is still running (a long run started before T3) and loads MODELS@T1; T3 was killed.
    add_record(project, T2, "running", loaded={"dense_models": T1})
    add_record(project, T3, "killed")
    plan = plan_cleanup(project, keep=1)
    # Newest completed: T1 in MODELS and BRANCH, T5 in REPORT. The killed run's versions go
    # where they are not the newest.
    assert plan.delete == {MODELS: [T3], REPORT: [T3]}
    assert plan.kept_beyond == {
        "the newest made by a completed run (the next run loads it)": 2,
        "of a run still running": 3,
        "of a run that a running run loads from": 1,  # REPORT@T1
    }
    assert plan.delete_records == []  # T3 keeps BRANCH@T3, the newest there


def test_a_record_of_a_run_without_versions_stays(project: Path) -> None:
    add_record(project, "2026-01-06T10.00.00.000Z", "failed")  # stopped before writing
    plan = plan_cleanup(project, keep=1)
    assert "2026-01-06T10.00.00.000Z" not in plan.delete_records
    assert "keep (no versioned artifacts)" in describe(plan, deleted=False)


def test_keep_below_one_is_refused_with_a_hint(project: Path) -> None:
    with pytest.raises(UserError) as refused:
        plan_cleanup(project, keep=0)
    assert error_block(refused.value, command="clean").splitlines() == [
        "wemem-pipeline: kedro clean stopped (input problem)",
        "  --keep 0: each dataset keeps at least its newest version",
        "  What to do: give --keep 1 or more: how many of its newest versions each dataset keeps",
        "  (kedro clean --verbose ... shows the full traceback)",
    ]


class _Metadata:
    def __init__(self, project_path: Path) -> None:
        self.project_path = project_path


def test_the_command_is_a_dry_run_unless_asked_and_refuses_keep_zero(project: Path) -> None:
    before = all_files(project)
    runner = CliRunner()
    dry = runner.invoke(cli, ["clean", "--keep", "2"], obj=_Metadata(project))
    assert dry.exit_code == 0, dry.output
    assert all_files(project) == before
    lines = dry.output.splitlines()
    assert lines[0] == "Versioned artifacts under data/: 3 datasets, 11 versions, 443 B."
    assert f"  {T1}  completed  scenario3                  111 B  delete (and its record)" in lines
    assert f"  {T4}  failed     scenario3                  100 B  keep" in lines
    assert f"One run of scenario3 added 10 B (the newest completed run, {T5})." in lines
    assert lines[-2:] == [
        "Would delete 5 versions (221 B) and 1 run record; 222 B would stay.",
        "Dry run: nothing was deleted; `kedro clean --keep 2 --delete` deletes the above.",
    ]
    refused = runner.invoke(cli, ["clean", "--keep", "0"], obj=_Metadata(project))
    assert refused.exit_code == 1 and "kedro clean stopped (input problem)" in refused.output
    assert all_files(project) == before


def test_kedro_clean_deletes_in_a_project(tmp_path: Path) -> None:
    # The command as a user types it, in a project copy: Kedro finds it in the project's cli.py.
    project = project_copy(tmp_path)
    add_record(project, T1, "completed")
    add_record(project, T2, "completed")
    for run_id in (T1, T2):
        add_version(project, MODELS, run_id, 100)
        add_version(project, BRANCH, run_id, 1)
    kept = untouchable(project)
    command = [sys.executable, "-m", "kedro", "clean", "--keep", "1", "--delete"]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Deleted 2 versions (101 B) and 1 run record; 101 B stay." in result.stdout
    assert find_versions(project) == {BRANCH: [T2], MODELS: [T2]}
    assert not (project / "data/09_runs" / f"{T1}.json").exists()
    assert all(file.read_text() == "keep me" for file in kept)


# ----------------------------------------------------------------------------- dataset store

STORE = "data/02_intermediate/datasets"
REFERENCE = "data/02_intermediate/dataset.json"
A, B, C = "a" * 16, "b" * 16, "c" * 16  # fingerprints


def add_reference(project: Path, run_id: str, fingerprint: str) -> None:
    """A version of ``dataset``: the run's reference to the store file ``fingerprint``."""
    path = project / REFERENCE / run_id / "dataset.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint, "name": "digits"}))


def add_store_file(project: Path, fingerprint: str, size: int) -> None:
    path = project / STORE / f"{fingerprint}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


@pytest.fixture
def stored(project: Path) -> Path:
    """``project`` whose runs T1 (data A), T2 and T3 (data B) wrote ``dataset``; the store
    holds A, B and C (1, 2 and 4 kB); no version refers to C."""
    for run_id, fingerprint in ((T1, A), (T2, B), (T3, B)):
        add_reference(project, run_id, fingerprint)
    for fingerprint, size in ((A, 1000), (B, 2000), (C, 4000)):
        add_store_file(project, fingerprint, size)
    return project


def test_store_files_no_kept_version_refers_to_go(stored: Path) -> None:
    plan = plan_cleanup(stored, keep=1)
    assert plan.delete[REFERENCE] == [T2, T1]
    assert plan.delete_store == [f"{STORE}/{A}.npz", f"{STORE}/{C}.npz"]  # B: T3's
    lines = describe(plan, deleted=False).splitlines()
    assert (
        "Dataset store (data/02_intermediate/datasets/, which the dataset versions refer to): "
        "3 files, 7.0 kB." in lines
    )
    assert f"  {STORE}/{C}.npz  unreferenced        4.0 kB" in lines
    assert lines[-2].startswith("Would delete 9 versions (")
    assert ", 2 dataset store files (5.0 kB) and 2 run records;" in lines[-2]
    apply_cleanup(stored, plan)
    assert sorted(p.name for p in (stored / STORE).iterdir()) == [f"{B}.npz"]
    assert plan_cleanup(stored, keep=1).delete_store == []


def test_store_files_of_kept_versions_and_running_runs_stay(stored: Path) -> None:
    # T5 is running on data C: it may be writing C's store file before its reference.
    running = RunRecord(T5, ["data_split"], "base", process=os.getpid(), dataset_fingerprint=C)
    running.save(stored)
    assert plan_cleanup(stored, keep=3).delete_store == []  # T1's reference is kept: A stays
    assert plan_cleanup(stored, keep=1).delete_store == [f"{STORE}/{A}.npz"]


def test_a_reference_that_cannot_be_read_keeps_no_store_file(stored: Path) -> None:
    (stored / REFERENCE / T3 / "dataset.json").write_bytes(b"\x80\x04 not a reference")
    # T3's version is kept (the newest), but no run can load it: B is no longer needed.
    assert plan_cleanup(stored, keep=1).delete_store == [f"{STORE}/{n}.npz" for n in (A, B, C)]


def test_the_run_that_wrote_a_store_file_counts_its_bytes(stored: Path) -> None:
    # B's file was written during T2 (after it started), so T2 wrote it; T3 found it there.
    t2_started = datetime(2026, 1, 2, 10, tzinfo=timezone.utc).timestamp()
    os.utime(stored / STORE / f"{B}.npz", (t2_started + 5, t2_started + 5))
    reference = len((stored / REFERENCE / T2 / "dataset.json").read_bytes())
    assert bytes_written_by(stored, T2) == 100 + 10 + 1 + reference + 2000
    assert bytes_written_by(stored, T3) == 100 + 10 + 1 + reference
