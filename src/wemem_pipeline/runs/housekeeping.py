"""Housekeeping of versioned artifacts: keep the newest versions of each dataset, delete the rest.

Every run writes a new version of each artifact it makes, ``<folder>/<run id>/<file>`` under
``data/`` (``data/06_models/dense_models.pt/<run id>/dense_models.pt``, seed branches and
scenarios in folders of their own), so ``data/`` only grows. :func:`plan_cleanup` finds the
versions on disk, without the catalog or a Kedro session, and keeps per dataset:

- the newest ``keep`` versions (``keep >= 1``: the newest is never deleted);
- the newest version made by a completed run: the one the next run loads;
- every version of a run still running, and of the runs a running run loads from (which of
  their versions it loads is known by artifact name only, and names are not folders);
- every version of the runs whose reports ``data/08_reporting/latest/`` shows, so that what
  it names (their run, its record, its versions) stays.

A run record (``data/09_runs/<run id>.json``) goes when the cleanup deletes the last of its run's
versions; records of runs that wrote no versioned artifact stay (they are small, and say why a
run stopped early). A file of the dataset store (``data/02_intermediate/datasets/``, one
``<fingerprint>.npz`` per data content, not versioned: runs refer to it by fingerprint) goes
when no kept version of a ``dataset`` reference names it and no running run uses that data.
Other non-versioned files, ``.gitkeep`` and folders that are not versions are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..catalog_datasets.dataset_store import DATASET_STORE, fingerprint_of_reference
from ..core.errors import UserError
from .latest_reports import LATEST_DIR, latest_runs
from .records import COMPLETED, RUNS_DIR, RunRecord, SaveLog, read_records

DATA_DIR = Path("data")
# A version folder's name: Kedro's timestamp, which is also the id of the run that wrote it.
VERSION_NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")
# The file name of the ``dataset`` artifact (and of its seed branches' variants): a reference
# into the dataset store.
DATASET_REFERENCE = "dataset.json"


def find_versions(project: Path) -> dict[str, list[str]]:
    """Every versioned dataset under ``project/data``: its folder (``data/...``, relative to
    ``project``) -> its versions, newest first.

    A dataset folder is one with a subfolder ``<version>/<its own name>``; every
    version-named subfolder of it counts as a version, an unfinished one (its file not yet
    written) too.
    """
    datasets: dict[str, list[str]] = {}
    for folder, subfolders, _ in os.walk(project / DATA_DIR):
        versions = [name for name in subfolders if VERSION_NAME.fullmatch(name)]
        if any((Path(folder, v, Path(folder).name)).exists() for v in versions):
            datasets[Path(folder).relative_to(project).as_posix()] = sorted(versions, reverse=True)
            # A version folder holds the saved file (or a folder of files), never datasets.
            subfolders[:] = [name for name in subfolders if name not in versions]
    return dict(sorted(datasets.items()))


def folder_bytes(path: Path) -> int:
    """The size of the files in ``path`` (a file or a folder, recursively); links not followed."""
    if not path.is_dir():
        return path.lstat().st_size if path.exists() else 0
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(Path(folder, name).lstat().st_size for name in files)
    return total


def bytes_written_by(project: Path, run_id: str) -> int:
    """The bytes of every version folder named ``run_id`` under ``project/data``, and of the
    dataset store file it wrote: what that run added (its run record not counted)."""
    versions = find_versions(project)
    written = sum(
        folder_bytes(project / folder / run_id)
        for folder, stored in versions.items()
        if run_id in stored
    )
    return written + _store_bytes_written_by(project, run_id, versions)


def _store_bytes_written_by(project: Path, run_id: str, versions: dict[str, list[str]]) -> int:
    """The store file ``run_id``'s dataset refers to, if written after the run started (the
    run wrote it; a later run on the same data found it there)."""
    try:
        started = datetime.strptime(run_id, "%Y-%m-%dT%H.%M.%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:  # not Kedro's timestamp: no start time to compare with
        return 0
    fingerprints = {
        _referred(project, folder, run_id)
        for folder, stored in versions.items()
        if Path(folder).name == DATASET_REFERENCE and run_id in stored
    }
    files = [project / DATASET_STORE / f"{f}.npz" for f in fingerprints - {None}]
    return sum(
        file.stat().st_size
        for file in files
        if file.is_file() and file.stat().st_mtime >= started.timestamp()
    )


@dataclass
class CleanupPlan:
    """What a cleanup keeps and deletes. Folders are relative to the project."""

    keep: int
    versions: dict[str, list[str]]  # dataset folder -> versions, newest first
    sizes: dict[tuple[str, str], int]  # (dataset folder, version) -> bytes
    states: dict[str, str]  # run id -> completed, failed, running, killed
    pipelines: dict[str, list[str]]  # run id -> the pipelines it ran
    delete: dict[str, list[str]] = field(default_factory=dict)  # dataset folder -> versions
    kept_beyond: dict[str, int] = field(default_factory=dict)  # reason -> older versions kept
    delete_records: list[str] = field(default_factory=list)  # run ids
    store: dict[str, int] = field(default_factory=dict)  # dataset store file -> bytes
    delete_store: list[str] = field(default_factory=list)  # dataset store files

    def deleted_bytes(self) -> int:
        versions = sum(self.sizes[folder, v] for folder, vs in self.delete.items() for v in vs)
        return versions + sum(self.store[file] for file in self.delete_store)

    def total_bytes(self) -> int:
        return sum(self.sizes.values()) + sum(self.store.values())

    def run_bytes(self, run_id: str) -> int:
        """The bytes of ``run_id``'s versions (:func:`bytes_written_by` without a new scan)."""
        return sum(size for (_, version), size in self.sizes.items() if version == run_id)

    def run_ids(self) -> list[str]:
        """Every run with versions or a record, newest first."""
        return sorted({v for _, v in self.sizes} | set(self.states), reverse=True)


def plan_cleanup(project: Path, keep: int) -> CleanupPlan:
    """Which versions to delete so that each dataset keeps its newest ``keep`` (see the module
    doc for what is kept besides). Deletes nothing."""
    if keep < 1:
        raise UserError(
            f"--keep {keep}: each dataset keeps at least its newest version",
            hint="give --keep 1 or more: how many of its newest versions each dataset keeps",
        )
    versions = find_versions(project)
    records = read_records(project)
    states = {run_id: record.state() for run_id, record in records.items()}
    running = {run_id for run_id, state in states.items() if state == "running"}
    # Kedro loads an input when its node starts, so what a running run loads must stay too.
    loaded_from = {v for run_id in running for v in records[run_id].loaded.values()}
    shown = latest_runs(project)
    plan = CleanupPlan(
        keep=keep,
        versions=versions,
        sizes={(f, v): folder_bytes(project / f / v) for f, vs in versions.items() for v in vs},
        states=states,
        pipelines={run_id: record.pipelines for run_id, record in records.items()},
    )
    for folder, stored in versions.items():
        newest_completed = next((v for v in stored if states.get(v) == COMPLETED), None)
        doomed = []
        for version in stored[keep:]:
            reason = _reason_to_keep(version, newest_completed, running, loaded_from, shown)
            if reason:
                plan.kept_beyond[reason] = plan.kept_beyond.get(reason, 0) + 1
            else:
                doomed.append(version)
        if doomed:
            plan.delete[folder] = doomed
    plan.delete_records = _records_left_without_versions(plan, records)
    plan.store = {
        path.relative_to(project).as_posix(): path.stat().st_size
        for path in sorted((project / DATASET_STORE).glob("*.npz"))
    }
    in_use = _fingerprints_kept(project, plan) | {
        records[run_id].dataset_fingerprint for run_id in running
    }
    plan.delete_store = [file for file in plan.store if Path(file).stem not in in_use]
    return plan


def _fingerprints_kept(project: Path, plan: CleanupPlan) -> set[str]:
    """The dataset store files that the ``dataset`` versions the plan keeps refer to."""
    fingerprints = {
        _referred(project, folder, version)
        for folder, versions in plan.versions.items()
        if Path(folder).name == DATASET_REFERENCE
        for version in set(versions) - set(plan.delete.get(folder, []))
    }
    return fingerprints - {None}


def _referred(project: Path, folder: str, version: str) -> str | None:
    """The fingerprint that the ``dataset`` version ``folder/version`` names. ``None`` for a
    reference that cannot be read (no run can load it either) or is not written yet (its run
    is running, which keeps its data)."""
    try:
        text = (project / folder / version / DATASET_REFERENCE).read_bytes()
    except OSError:
        return None
    return fingerprint_of_reference(text)


def _reason_to_keep(
    version: str,
    newest_completed: str | None,
    running: set[str],
    loaded_from: set[str],
    shown: set[str],
) -> str | None:
    """Why a version older than the newest ``keep`` stays; ``None``: it may go."""
    if version == newest_completed:
        return "the newest made by a completed run (the next run loads it)"
    if version in shown:
        return f"of a run whose reports {LATEST_DIR.as_posix()}/ shows"
    if version in running:
        return "of a run still running"
    if version in loaded_from:
        return "of a run that a running run loads from"
    return None


def _records_left_without_versions(
    plan: CleanupPlan, records: Mapping[str, RunRecord]
) -> list[str]:
    """Runs whose every version the plan deletes: their records go with them."""
    stored = Counter(v for versions in plan.versions.values() for v in versions)
    deleted = Counter(v for versions in plan.delete.values() for v in versions)
    return sorted(
        run_id
        for run_id, count in deleted.items()
        if count == stored[run_id] and run_id in records and plan.states[run_id] != "running"
    )


def apply_cleanup(project: Path, plan: CleanupPlan) -> None:
    """Delete what ``plan`` deletes: version folders first, then the records of their runs (a
    record without versions is harmless; versions without their record would be skipped)."""
    for folder, versions in plan.delete.items():
        for version in versions:
            shutil.rmtree(project / folder / version)
    for run_id in plan.delete_records:
        (project / RUNS_DIR / f"{run_id}.json").unlink(missing_ok=True)
        SaveLog(project / RUNS_DIR, run_id).remove()  # a killed run's log of what it saved
    for file in plan.delete_store:
        (project / file).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- report


def human_size(size: int) -> str:
    """``size`` bytes in decimal units: ``512 B``, ``13.4 kB``, ``5.2 MB``, ``1.3 GB``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _run_line(plan: CleanupPlan, run_id: str, deleted: bool) -> str:
    keep, delete = ("kept", "deleted") if deleted else ("keep", "delete")
    stored = sum(run_id in vs for vs in plan.versions.values())
    removed = sum(run_id in vs for vs in plan.delete.values())
    if not stored:
        fate = f"{keep} (no versioned artifacts)"
    elif removed == stored:
        fate = delete + (" (and its record)" if run_id in plan.delete_records else "")
    elif removed:
        fate = f"{delete} {removed} of {stored} versions"
    else:
        fate = keep
    state = plan.states.get(run_id, "no record")
    pipelines = ",".join(plan.pipelines.get(run_id, [])) or "-"
    size = human_size(plan.run_bytes(run_id))
    return f"  {run_id}  {state:<9}  {pipelines:<22} {size:>9}  {fate}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def describe(plan: CleanupPlan, deleted: bool, command: str = "kedro clean") -> str:
    """What the cleanup did (``deleted``) or would do, as the command prints it."""
    if not plan.versions and not plan.store:
        return f"No versioned artifacts under {DATA_DIR}/: nothing to delete."
    count = sum(len(vs) for vs in plan.versions.values())
    runs = plan.run_ids()
    lines = [
        f"Versioned artifacts under {DATA_DIR}/{' before the cleanup' if deleted else ''}: "
        f"{_plural(len(plan.versions), 'dataset')}, {_plural(count, 'version')}, "
        f"{human_size(sum(plan.sizes.values()))}.",
        f"Runs ({RUNS_DIR.as_posix()}), newest first: size of the versions each run wrote",
        *(_run_line(plan, run_id, deleted) for run_id in runs),
    ]
    newest = next((r for r in runs if plan.states.get(r) == COMPLETED and plan.run_bytes(r)), None)
    if newest:
        lines.append(
            f"One run of {','.join(plan.pipelines[newest])} added "
            f"{human_size(plan.run_bytes(newest))} (the newest completed run, {newest})."
        )
    if plan.store:
        lines.append(
            f"Dataset store ({DATASET_STORE}/, which the dataset versions refer to): "
            f"{_plural(len(plan.store), 'file')}, {human_size(sum(plan.store.values()))}."
        )
    verb = "Deleted" if deleted else "Would delete"
    lines.append(f"{verb}, keeping the newest {_plural(plan.keep, 'version')} per dataset:")
    width = max((len(name) for name in [*plan.delete, *plan.delete_store]), default=0)
    for folder, versions in plan.delete.items():
        size = human_size(sum(plan.sizes[folder, v] for v in versions))
        of_all = f"{_plural(len(versions), 'version')} of {len(plan.versions[folder])}"
        lines.append(f"  {folder:<{width}}  {of_all:<16} {size:>9}")
    for file in plan.delete_store:  # no kept version refers to it
        lines.append(f"  {file:<{width}}  {'unreferenced':<16} {human_size(plan.store[file]):>9}")
    if not plan.delete and not plan.delete_store:
        lines.append("  nothing")
    for reason, kept in plan.kept_beyond.items():
        lines.append(f"Also kept: {_plural(kept, 'older version')}, {reason}.")
    removed = sum(len(vs) for vs in plan.delete.values())
    removed_bytes = sum(plan.sizes[folder, v] for folder, vs in plan.delete.items() for v in vs)
    store = ""
    if plan.store:
        store_bytes = sum(plan.store[file] for file in plan.delete_store)
        store = (
            f", {_plural(len(plan.delete_store), 'dataset store file')} ({human_size(store_bytes)})"
        )
    left = plan.total_bytes() - plan.deleted_bytes()
    lines.append(
        f"{verb} {_plural(removed, 'version')} ({human_size(removed_bytes)}){store} and "
        f"{_plural(len(plan.delete_records), 'run record')}; {human_size(left)} "
        f"{'stay' if deleted else 'would stay'}."
    )
    if not deleted and (plan.delete or plan.delete_store):
        again = f"{command} --keep {plan.keep} --delete"
        lines.append(f"Dry run: nothing was deleted; `{again}` deletes the above.")
    return "\n".join(lines)
