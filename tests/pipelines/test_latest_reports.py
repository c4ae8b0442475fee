"""``data/08_reporting/latest/``: the newest completed run's reports, each folder replaced
whole (runs/latest_reports.py), on synthetic runs; then on the session's test-env run, and a
failed run that must leave it as it was."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from pathlib import Path

import pytest
from kedro_project import RUN_OUTPUT, latest, project_copy, run_kedro

from wemem_pipeline.runs.housekeeping import plan_cleanup
from wemem_pipeline.runs.latest_reports import (
    LATEST_DIR,
    latest_runs,
    publish_latest,
    report_name,
)
from wemem_pipeline.runs.records import RunRecord

T1, T2, T3 = (f"2026-01-0{day}T10.00.00.000Z" for day in range(1, 4))
GONE = 2**22 + 12345  # above Linux's largest pid: a process that is gone
SCENARIO = "data/08_reporting/scenario3"


def completed_run(project: Path, run_id: str, files: dict[str, str]) -> RunRecord:
    """A completed run that saved ``{artifact: file name}`` under SCENARIO, each file holding
    its run id."""
    record = RunRecord(run_id, ["scenario3"], "test", status="completed")
    for artifact, name in files.items():
        path = Path(SCENARIO, name, run_id, name)
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(f"{name} of {run_id}")
        record.saved[f"scenario3.{artifact}"] = {"file": path.as_posix(), "sha256": "-"}
    record.save(project)
    return record


def shown(project: Path) -> dict[str, str]:
    folder = project / LATEST_DIR / "scenario3"
    return {path.name: path.read_text() for path in folder.iterdir() if path.name != "run.json"}


def test_a_report_folder_is_replaced_whole_and_the_later_completed_run_wins(
    tmp_path: Path,
) -> None:
    files = {"report_summary": "report.md", "report_html": "report.html"}
    first = completed_run(tmp_path, T1, {**files, "record_risk_plot": "record_risk.png"})
    second = completed_run(tmp_path, T2, files)
    late = completed_run(tmp_path, T3, files)
    published = publish_latest(tmp_path, first, ["scenario3.report_summary"], completed_ns=10)
    assert published == {"scenario3.report_summary": LATEST_DIR / "scenario3"}
    assert set(shown(tmp_path)) == {"report.md", "report.html", "record_risk.png"}

    # A run that completed earlier but publishes later leaves the later one in place.
    publish_latest(tmp_path, late, ["scenario3.report_summary"], completed_ns=30)
    publish_latest(tmp_path, second, ["scenario3.report_summary"], completed_ns=20)
    assert shown(tmp_path) == {
        "report.md": f"report.md of {T3}",
        "report.html": f"report.html of {T3}",
    }
    assert latest_runs(tmp_path) == {T3}
    about = json.loads((tmp_path / LATEST_DIR / "scenario3/run.json").read_text())
    assert about["files"]["report.html"] == f"{SCENARIO}/report.html/{T3}/report.html"
    # Nothing of the staging is left, and a killed publisher's leftovers go.
    assert {p.name for p in (tmp_path / LATEST_DIR).iterdir()} == {".lock", "scenario3"}
    (tmp_path / LATEST_DIR / f".staging-{GONE}-abc").mkdir()
    (tmp_path / LATEST_DIR / ".replaced-0123").mkdir()
    publish_latest(tmp_path, second, ["scenario3.report_summary"], completed_ns=40)
    assert {p.name for p in (tmp_path / LATEST_DIR).iterdir()} == {".lock", "scenario3"}
    assert latest_runs(tmp_path) == {T2}


def _publish_many(project: Path, run_id: str, offset: int) -> None:
    record = RunRecord.load(project, run_id)
    for turn in range(20):
        publish_latest(project, record, ["scenario3.report_summary"], 2 * turn + offset)


def test_two_processes_publishing_at_once_leave_one_runs_folder(tmp_path: Path) -> None:
    files = {"report_summary": "report.md", "report_html": "report.html", "roc_plot": "roc.png"}
    for run_id in (T1, T2):
        completed_run(tmp_path, run_id, files)
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_publish_many, args=(tmp_path, run_id, offset))
        for run_id, offset in ((T1, 0), (T2, 1))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    # T2's last publication completed last (39 > 38): its files, all of them, and only those.
    assert shown(tmp_path) == {name: f"{name} of {T2}" for name in files.values()}
    assert {p.name for p in (tmp_path / LATEST_DIR).iterdir()} == {".lock", "scenario3"}


def test_report_folders_are_named_after_the_report() -> None:
    assert report_name(f"{SCENARIO}/report.md/{T1}/report.md") == "scenario3"
    assert report_name(f"data/08_reporting/report.md/{T1}/report.md") == "reporting"
    assert report_name(f"{SCENARIO}/seeds/report.md/{T1}/report.md") == "scenario3-seeds"


def test_kedro_clean_keeps_the_versions_latest_shows(tmp_path: Path) -> None:
    for run_id in (T1, T2, T3):
        completed_run(tmp_path, run_id, {"report_summary": "report.md"})
    publish_latest(tmp_path, RunRecord.load(tmp_path, T1), ["scenario3.report_summary"], 99)
    plan = plan_cleanup(tmp_path, keep=1)
    assert plan.delete == {f"{SCENARIO}/report.md": [T2]}
    assert T1 not in plan.delete_records


# ----------------------------------------------------------------------------- kedro runs


def test_a_completed_run_leaves_its_reports_in_latest(finished_run: Path) -> None:
    folder = finished_run / LATEST_DIR
    assert {"reporting", "scenario1", "scenario2", "scenario3", "compare"} <= {
        p.name for p in folder.iterdir()
    }
    [record] = [json.loads(p.read_text()) for p in (finished_run / "data/09_runs").glob("*")]
    assert latest_runs(finished_run) == {record["run_id"]}
    page = (folder / "scenario3/report.html").read_text()
    assert page == latest(finished_run, "08_reporting/scenario3/report.html").read_text()
    report = json.loads((folder / "scenario3/report.json").read_text())
    for model in report["models"]:
        auc = max(attack["auc"] for attack in model["attacks"].values())
        assert f"<td>{model['test_accuracy']:.3f}</td>" in page and f"{auc:.3f}" in page
    assert page.count('src="data:image/png;base64,') == 4
    assert "Settings used (SWMR)" in page
    printed = (finished_run / RUN_OUTPUT).read_text()
    assert "Report: data/08_reporting/latest/scenario3/report.html" in printed


@pytest.fixture
def project(finished_run: Path, tmp_path: Path) -> Path:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    return project


def test_a_failed_run_leaves_latest_as_it_was(project: Path) -> None:
    before = {p: p.read_bytes() for p in (project / LATEST_DIR).rglob("*") if p.is_file()}
    shutil.copy(Path(__file__).parents[1] / "custom_models.py", project / "src")
    failing = "model.name=custom,model.class_path=custom_models:FailsToTrain"
    result = run_kedro(project, "--pipeline=scenario3", "--params", failing)
    assert result.returncode == 1 and "FailsToTrain cannot be trained" in result.stderr
    after = {p: p.read_bytes() for p in (project / LATEST_DIR).rglob("*") if p.is_file()}
    assert after == before
    assert not re.search(r"^Report: ", result.stdout, flags=re.M)
