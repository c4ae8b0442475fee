"""Numbers that cannot come from another run or from damaged files: every artifact a run
touches is read at an explicit version, and its bytes are checked against the hash its run
recorded when it saved it (``runs/integrity.py``, ``runs/records.py``)."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import Version
from kedro_datasets.pandas import CSVDataset
from kedro_project import latest, project_copy, run_kedro, untimed

from wemem_pipeline.core.errors import ArtifactError, user_error_in
from wemem_pipeline.runs.integrity import CheckedArtifact, file_digest
from wemem_pipeline.runs.records import (
    RUNS_DIR,
    RunRecord,
    SaveLog,
    TornRecordError,
    read_records,
)

REFUSED = "wemem-pipeline: the run stopped ("
RUN_ID = "2026-01-01T00.00.00.000Z"


@pytest.fixture
def project(finished_run: Path, tmp_path: Path) -> Path:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    return project


def report(project: Path, relative: str = "08_reporting/scenario3/report.json") -> dict:
    """What a report says about the models and rounds (not its run's settings or timings)."""
    document = json.loads(latest(project, relative).read_text())
    return untimed({key: document[key] for key in ("models", "rounds", "verdicts")})


def kedro_process(project: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "kedro", "run", "--env=test", *args]
    return subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_two_runs_at_once_each_report_their_own_seed(
    tmp_path: Path, finished_run: Path, seed_run: Path
) -> None:
    project = project_copy(tmp_path)
    first = kedro_process(project, "--pipeline=scenario3", "--params", "seed=0")
    second = kedro_process(project, "--pipeline=scenario3", "--params", "seed=2")
    for run in (first, second):
        output = run.communicate()[0]
        assert run.returncode == 0, output[-3000:]
    reports = {}
    for folder in (project / "data/08_reporting/scenario3/report.json").iterdir():
        run = RunRecord.load(project, folder.name)
        assert run.state() == "completed"
        reports[run.settings["seed"]] = untimed(
            {k: json.loads((folder / "report.json").read_text())[k] for k in ("models", "rounds")}
        )
    # Each is the report of its seed run alone: seed 0 in the default run, seed 2 a branch.
    assert reports[0] == {k: v for k, v in report(finished_run).items() if k != "verdicts"}
    alone = report(seed_run, "08_reporting/scenario3/seed_2/report.json")
    assert reports[2] == {k: v for k, v in alone.items() if k != "verdicts"}


def test_a_newer_version_no_run_of_this_project_wrote_is_never_loaded(project: Path) -> None:
    expected = report(project)
    metrics = latest(project, "07_model_output/scenario3/attack_metrics.csv")
    planted = pd.read_csv(metrics).assign(auc=0.999)
    folder = metrics.parent.parent / "2999-01-01T00.00.00.000Z"  # newer than any run
    folder.mkdir()
    planted.to_csv(folder / metrics.name, index=False)

    result = run_kedro(project, "--pipeline=scenario3", "--from-nodes=scenario3.attack_scenario")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    newest = max((p for p in metrics.parent.parent.iterdir() if p != folder), key=lambda p: p.name)
    made = json.loads(
        (
            project / "data/08_reporting/scenario3/report.json" / newest.name / "report.json"
        ).read_text()
    )
    assert untimed({k: made[k] for k in ("models", "rounds", "verdicts")}) == expected
    assert "0.999" not in result.stdout


def test_a_damaged_artifact_is_refused_naming_the_file_and_its_run(project: Path) -> None:
    folder = next((project / "data/07_model_output").glob("iterative_outputs.*"))
    outputs = latest(project, f"07_model_output/{folder.name}")
    data = bytearray(outputs.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 40):
        data[offset] ^= 0xFF
    outputs.write_bytes(bytes(data))

    result = run_kedro(project, "--pipeline=attacks")
    assert result.returncode == 1, result.stdout[-3000:]
    assert REFUSED in result.stderr and "Traceback" not in result.stdout + result.stderr
    block = " ".join(result.stderr.split())
    assert f"is not the file run {outputs.parent.name} saved" in block
    assert f"07_model_output/{folder.name}" in block and "What to do:" in block


# A refused run; the fast set reads a torn record through the same RunRecord.load and
# read_records (test_a_torn_record_is_named_and_left_out_of_listings below).
@pytest.mark.slow
def test_a_damaged_run_record_is_named_and_skipped(project: Path) -> None:
    record = next((project / RUNS_DIR).glob("*.json"))
    record.write_text(record.read_text()[:200])  # cut short, as a full disk leaves it

    result = run_kedro(project, "--pipeline=attacks")
    assert result.returncode == 1
    block = " ".join(result.stderr.split())
    assert REFUSED in result.stderr and "no version from a completed run" in block
    assert f"(its run record {record} is damaged)" in block  # its versions are skipped


# ----------------------------------------------------------------------------- the parts


def checked(tmp_path: Path, version: str, expected=None) -> CheckedArtifact:
    csv = CSVDataset(filepath=str(tmp_path / "data/table.csv"), version=Version(version, version))
    return CheckedArtifact("table", csv, tmp_path, version, expected)


def refusal(dataset: CheckedArtifact) -> str:
    """The message of the :class:`ArtifactError` loading ``dataset`` raises (Kedro wraps it)."""
    with pytest.raises(Exception) as raised:
        dataset.load()
    error = user_error_in(raised.value)
    assert isinstance(error, ArtifactError), raised.value
    return str(error)


def test_a_save_is_logged_with_its_hash_and_checked_when_loaded(tmp_path: Path) -> None:
    RunRecord(run_id=RUN_ID, pipelines=["data_split"], env="test").create(tmp_path)
    frame = pd.DataFrame({"a": [1, 2, 3]})
    checked(tmp_path, RUN_ID).save(frame)
    logged = SaveLog(tmp_path / RUNS_DIR, RUN_ID).entries()["table"]
    file = tmp_path / "data/table.csv" / RUN_ID / "table.csv"
    assert logged["file"] == f"data/table.csv/{RUN_ID}/table.csv"
    assert (logged["sha256"], logged["bytes"]) == file_digest(str(file))
    pd.testing.assert_frame_equal(checked(tmp_path, RUN_ID).load(), frame)

    file.write_text("a\n1\n2\n4\n")  # same size, other bytes
    assert f"is not the file run {RUN_ID} saved" in refusal(checked(tmp_path, RUN_ID))
    never_saved = checked(tmp_path, "2026-01-02T00.00.00.000Z")
    assert "no content hash" in refusal(never_saved)


def test_the_save_log_keeps_the_last_save_and_skips_a_line_cut_short(tmp_path: Path) -> None:
    saves = SaveLog(tmp_path, RUN_ID)
    # A node whose worker was lost saved "a" there first; its retry saves it here again.
    lost_worker = tmp_path / f"{RUN_ID}.saved.zz-elsewhere-1.jsonl"
    lost_worker.write_text(
        '{"artifact": "a", "sha256": "1", "saved_at": "2026-01-01T00:00:00.000001+00:00"}\n'
        '{"artifact": "b", "sha256": "3", "saved_at": "2026-01-01T00:00:00.000002+00:00"}\n'
        '{"artifact": "c", "sh'
    )
    saves.add("a", {"sha256": "2"})
    assert {name: saved["sha256"] for name, saved in saves.entries().items()} == {
        "a": "2",
        "b": "3",
    }
    saves.remove()
    assert saves.entries() == {}


def test_a_finished_record_holds_what_its_processes_saved(tmp_path: Path) -> None:
    record = RunRecord(run_id=RUN_ID, pipelines=["data_split"], env="test")
    record.create(tmp_path)
    SaveLog(tmp_path / RUNS_DIR, RUN_ID).add("splits", {"sha256": "f", "bytes": 2})
    assert RunRecord.load(tmp_path, RUN_ID).saved["splits"]["sha256"] == "f"
    record.finish(tmp_path)
    assert not list((tmp_path / RUNS_DIR).glob("*.jsonl"))  # merged into the record
    assert json.loads(record.path(tmp_path).read_text())["saved"]["splits"]["sha256"] == "f"
    with pytest.raises(ArtifactError, match="another run already has the id"):
        RunRecord(run_id=RUN_ID, pipelines=["data_split"], env="test").create(tmp_path)


def test_a_full_disk_still_marks_the_record_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = RunRecord(run_id=RUN_ID, pipelines=["scenario3"], env="test")
    record.create(tmp_path)
    SaveLog(tmp_path / RUNS_DIR, RUN_ID).add("splits", {"sha256": "f", "bytes": 2})
    write_text = Path.write_text

    def full(path: Path, *args, **kwargs):
        if path.suffix == ".tmp":  # no room for a new file
            path.touch()  # as a full disk leaves it: created, empty
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    record.finish(tmp_path, OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.undo()
    failed = RunRecord.load(tmp_path, RUN_ID)
    assert failed.status == "failed" and "No space left" in failed.error
    assert failed.saved["splits"]["sha256"] == "f"  # its log stayed
    assert not list((tmp_path / RUNS_DIR).glob("*.tmp"))


def test_a_torn_record_is_named_and_left_out_of_listings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    RunRecord(run_id=RUN_ID, pipelines=["data_split"], env="test").create(tmp_path)
    torn = tmp_path / RUNS_DIR / "2026-01-02T00.00.00.000Z.json"
    torn.write_text('{"run_id": "2026-01-02T00.00.00.000Z", "pipel')
    with pytest.raises(TornRecordError, match="is damaged"):
        RunRecord.load(tmp_path, torn.stem)
    with caplog.at_level(logging.WARNING):
        assert list(read_records(tmp_path)) == [RUN_ID]
    assert str(torn) in caplog.text
