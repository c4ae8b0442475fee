"""The newest completed run's reports in one place: ``data/08_reporting/latest/<report>/``.

Every run writes its reports as versions (``data/08_reporting/scenario3/report.html/<run
id>/report.html``, the plots in sibling folders). When a run completes, each report it wrote
is copied, with the files beside it (its markdown, JSON, tables and plots), into one folder
named after the report (``scenario3``, ``reporting`` for the default pipeline's, ``compare``,
``scenario3-seeds`` ...), with ``run.json`` naming the run and the versions copied.

Each folder is replaced whole: the copies are made in a hidden folder first, then renamed
into place under a lock, so a reader never finds two runs' files in one folder. Of two runs
that complete at the same time the one that completed later wins (``run.json`` keeps its
completion time). A failed or killed run never gets here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .records import RUNS_DIR, RunRecord

REPORTING_DIR = Path("data") / "08_reporting"
LATEST_DIR = REPORTING_DIR / "latest"
RUN_FILE = "run.json"  # in each report folder: the run it shows
_LOCK = ".lock"
_STAGING = ".staging-"
_REPLACED = ".replaced-"


def report_name(markdown_file: str) -> str:
    """The folder name under ``latest/`` of the report whose markdown the run saved at
    ``markdown_file`` (``data/08_reporting/<folder>/<file>/<run id>/<file>``)."""
    folder = Path(markdown_file).parents[2]
    relative = folder.relative_to(REPORTING_DIR).as_posix()
    return "reporting" if relative == "." else relative.replace("/", "-")


def report_files(record: RunRecord, markdown_artifact: str) -> dict[str, str]:
    """``{file name: versioned file}`` of what ``record``'s run saved beside the report
    ``markdown_artifact``: every artifact of the run in the report's folder."""
    folder = Path(record.saved[markdown_artifact]["file"]).parents[2]
    files = {}
    for saved in record.saved.values():
        file = Path(saved["file"])
        if file.parents[2] == folder and file.parent.name == record.run_id:
            files[file.name] = file.as_posix()
    return files


def latest_runs(project: Path) -> set[str]:
    """The runs whose reports ``latest/`` shows."""
    runs = set()
    for path in (project / LATEST_DIR).glob(f"*/{RUN_FILE}"):
        try:
            runs.add(json.loads(path.read_text())["run_id"])
        except (OSError, ValueError, KeyError):
            continue
    return runs


def publish_latest(
    project: Path, record: RunRecord, markdown_artifacts: Iterable[str], completed_ns: int
) -> dict[str, Path]:
    """Copy each report of the completed run of ``record`` (by its markdown artifact) into
    ``latest/<report>/``; ``{markdown artifact: that folder}`` (relative to ``project``).
    ``completed_ns``: when the run completed; a folder showing a run that completed later
    stays as it is."""
    root = project / LATEST_DIR
    root.mkdir(parents=True, exist_ok=True)
    staged: dict[str, tuple[str, Path]] = {}
    try:
        for markdown in markdown_artifacts:
            name = report_name(record.saved[markdown]["file"])
            staged[markdown] = name, _stage(project, root, record, markdown, completed_ns)
        with _locked(root):
            _remove_leftovers(root)
            for name, staging in staged.values():
                _replace(root / name, staging, completed_ns)
    finally:
        for _, staging in staged.values():
            shutil.rmtree(staging, ignore_errors=True)  # those that lost to a later run
    return {markdown: LATEST_DIR / name for markdown, (name, _) in staged.items()}


def _stage(project: Path, root: Path, record: RunRecord, markdown: str, completed_ns: int) -> Path:
    """A hidden folder with the report's files and its ``run.json``."""
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=root))
    staging.chmod(0o755)  # mkdtemp's folder is private; the reports are not
    files = report_files(record, markdown)
    for name, file in files.items():
        shutil.copyfile(project / file, staging / name)
    about = {
        "run_id": record.run_id,
        "record": (RUNS_DIR / f"{record.run_id}.json").as_posix(),
        "completed_ns": completed_ns,
        "files": files,
    }
    (staging / RUN_FILE).write_text(json.dumps(about, indent=2) + "\n")
    return staging


def _replace(target: Path, staging: Path, completed_ns: int) -> None:
    """``staging`` renamed to ``target``, unless ``target`` shows a run completed later."""
    if _completed_ns(target) > completed_ns:
        return
    replaced = target.with_name(f"{_REPLACED}{uuid.uuid4().hex}")
    if target.exists():
        target.rename(replaced)
    staging.rename(target)
    shutil.rmtree(replaced, ignore_errors=True)


def _completed_ns(folder: Path) -> int:
    try:
        return int(json.loads((folder / RUN_FILE).read_text())["completed_ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _remove_leftovers(root: Path) -> None:
    """What a process killed while publishing left: replaced folders (only made and removed
    under the lock) and staging folders of processes that are gone."""
    for path in root.iterdir():
        name = path.name
        stale = name.startswith(_STAGING) and not _alive(name[len(_STAGING) :])
        if stale or name.startswith(_REPLACED):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid_and_suffix: str) -> bool:
    pid = pid_and_suffix.split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the lock on ``latest/`` (one publisher at a time, across processes)."""
    with (root / _LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
