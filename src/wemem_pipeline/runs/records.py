"""Which run made each artifact: the run records in ``data/09_runs/``.

Every versioned artifact lies at ``<filepath>/<version>/<file>``, and the version is the id of
the run that saved it. Each run writes its record to ``data/09_runs/<run id>.json``: its
status (``running``, ``completed`` or ``failed``), the fingerprint of its dataset, its seed and
the settings that shape artifacts, the artifacts it wrote and the versions it loaded. So every
artifact carries its run's identity through its version (:mod:`.versions` picks them).
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import glob
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.project import settings

from ..core.errors import ArtifactError
from .seed_branches import split_branch

if TYPE_CHECKING:  # the settings load torch; `kedro clean` reads records without it
    from ..core.run_config import RunConfig

log = logging.getLogger(__name__)

RUNS_DIR = Path("data") / "09_runs"
COMPLETED = "completed"
# Room at the end of every record for its final state when the disk is full (see save).
_SLACK = " " * 1024

# Settings that shape each artifact besides the data (first matching name pattern wins). The
# data itself is also compared by fingerprint, which catches a file changed in place. A
# namespaced artifact (``scenario3.defended_outputs``) is shaped by its namespace's section too.
_RUN = ("seed", "split", "model", "training")
_TUNING = (*_RUN, "pruning", "memorability", "attacks", "autotune")
_AUDIT = (*_RUN, "pruning", "memorability", "attacks", "audit", "evaluation")
_SHAPING = (
    ("dataset", ()),
    ("splits", ("seed", "split")),
    ("*_mem_scores", (*_RUN, "memorability")),
    ("dense_*", _RUN),
    ("one_shot_*", (*_RUN, "pruning")),
    ("iterative_*", (*_RUN, "pruning")),
    ("stored_models", (*_RUN, "pruning")),
    ("autotune_*", _TUNING),
    ("audit_*", _AUDIT),
    ("compare_audit_*", (*_AUDIT, "compare")),
    ("tuned_settings", _TUNING),
    ("*", (*_RUN, "pruning", "memorability", "attacks")),
)
# The dataset keys that choose the data (not where raw files are cached).
_DATA_KEYS = ("name", "path", "label_column")


def shaping_sections(artifact: str) -> tuple[str, ...]:
    """The parameter sections whose values an artifact depends on. A seed branch's artifact
    (``seed_4.dense_models``) was made with its branch's seed, which its name already says."""
    seed_branch, artifact = split_branch(artifact)
    namespace, _, name = artifact.rpartition(".")
    sections = next(s for pattern, s in _SHAPING if fnmatch.fnmatch(name, pattern))
    if seed_branch:
        sections = tuple(section for section in sections if section != "seed")
    return ("dataset", *sections, namespace) if namespace else ("dataset", *sections)


def shaping_values(config: RunConfig, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The run's value of every section that may shape an artifact, as JSON values.

    Typed sections come from ``config`` (so defaults and spellings compare equal); the
    others (``attacks``, a scenario's section) from the raw parameters.
    """
    values: dict[str, Any] = {
        "seed": config.seed,
        "dataset": {key: getattr(config.dataset, key) for key in _DATA_KEYS},
    }
    for section in ("split", "model", "training", "pruning", "memorability"):
        values[section] = dataclasses.asdict(getattr(config, section))
    for key, value in parameters.items():
        if key not in values and key not in ("dataset", "device", "threads", "workers"):
            values[key] = value
    return json.loads(json.dumps(values, default=str))


@dataclass
class RunRecord:
    """What one ``kedro run`` was and did; saved as ``data/09_runs/<run_id>.json``.

    ``saved`` maps each artifact the run saved to its file, content hash and size. The run's
    processes log each save as it happens (:class:`SaveLog`) and :meth:`load` merges those
    logs, so the record of a killed run lists what it saved too.
    """

    run_id: str
    pipelines: list[str]
    env: str
    status: str = "running"
    started: str = ""
    finished: str | None = None
    error: str | None = None
    process: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # artifact -> version
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)  # artifact -> SavedFile

    def path(self, project: Path) -> Path:
        return record_path(project, self.run_id)

    def saved_file(self, file: str) -> dict[str, Any] | None:
        """What the run recorded of ``file`` (relative to the project), under whichever
        artifact saved it (``stored_models`` reads the file ``iterative_models`` saved)."""
        return next((saved for saved in self.saved.values() if saved.get("file") == file), None)

    def create(self, project: Path) -> None:
        """Write the record of a new run; refuses a run id another run already has."""
        path = self.path(project)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.open("x").close()  # two runs started in the same millisecond share an id
        except FileExistsError:
            raise ArtifactError(
                f"another run already has the id {self.run_id} ({path})",
                hint="start the run again: run ids are start times to the millisecond",
            ) from None
        self.save(project)

    def save(self, project: Path) -> bool:
        """Write the record; ``False`` when a full disk left room only for its compact form
        (without the artifacts its processes logged as saved, whose logs then stay)."""
        text = json.dumps(dataclasses.asdict(self), indent=2) + _SLACK
        path = self.path(project)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")  # a kill mid-write must not leave half a record
        try:
            temporary.write_text(text)
            temporary.replace(path)
            return True
        except OSError as error:
            temporary.unlink(missing_ok=True)
            if error.errno != errno.ENOSPC or not path.is_file():
                raise
            # A full disk has no room for a new file, but the record's own blocks hold its
            # new text: without the merged save log (still on disk), it fits in the slack.
            compact = json.dumps(dataclasses.asdict(self) | {"saved": {}}, indent=2)
            with path.open("r+") as file:
                file.write(compact)
                file.truncate()
            return False

    @classmethod
    def load(cls, project: Path, run_id: str) -> RunRecord | None:
        """The record of ``run_id`` with its save log merged; ``None`` if there is none.

        Raises :class:`TornRecordError` when the file is not a record (cut short, edited).
        """
        path = record_path(project, run_id)
        if not path.is_file():
            return None
        try:
            values = json.loads(path.read_text())
            record = cls(**values)
        except (ValueError, TypeError) as error:
            raise TornRecordError(path, str(error)) from None
        if not isinstance(record.saved, dict):  # a record from before content hashes
            record.saved = {}
        record.saved |= SaveLog(project / RUNS_DIR, run_id).entries()
        return record

    def finish(self, project: Path, error: BaseException | None = None) -> None:
        """Mark the run ``completed`` or ``failed`` (with the reason), with everything its
        processes logged as saved; their logs go once the record holds them."""
        self.finished = _now()
        self.status = COMPLETED if error is None else "failed"
        self.error = None if error is None else f"{type(error).__name__}: {error}"[:500]
        log_files = SaveLog(project / RUNS_DIR, self.run_id)
        self.saved |= log_files.entries()
        if self.save(project):
            log_files.remove()

    def state(self) -> str:
        """``completed``, ``failed``, ``running``, or ``killed`` (its process is gone; a run
        of another host is taken to be running)."""
        here = self.host == socket.gethostname()
        if self.status == "running" and here and not _process_alive(self.process):
            return "killed"
        return self.status


class TornRecordError(ArtifactError):
    """A run record that cannot be read: cut short by a full disk, or edited by hand."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(
            f"the run record {path} is damaged ({cause})",
            hint="the versions of that run are skipped; restore the file, or delete it and "
            "the run's version folders (`kedro clean` lists them) if they are not needed",
        )
        self.path, self.cause = path, cause

    def __reduce__(self):
        return type(self), (self.path, self.cause)


def record_path(project: Path, run_id: str) -> Path:
    return project / RUNS_DIR / f"{run_id}.json"


def readable_record(project: Path, run_id: str) -> RunRecord | None:
    """``run_id``'s record; ``None`` when there is none or it is damaged (named in a warning:
    that run's versions are then judged as having no record)."""
    try:
        return RunRecord.load(project, run_id)
    except TornRecordError as error:
        log.warning("%s", error)
        return None


def read_records(project: Path) -> dict[str, RunRecord]:
    """Every readable run record by run id (see :func:`readable_record`)."""
    records = {path.stem: readable_record(project, path.stem) for path in _record_files(project)}
    return {run_id: record for run_id, record in records.items() if record is not None}


def _record_files(project: Path) -> list[Path]:
    return sorted((project / RUNS_DIR).glob("*.json"))


class SaveLog:
    """The artifacts a run's processes have saved, one JSON line each, logged as they are
    saved: ``data/09_runs/<run id>.saved.<host>-<pid>.jsonl``. Each process appends to a file
    of its own, so parallel workers (on other hosts too) never write into one file."""

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.runs_dir, self.run_id = Path(runs_dir), run_id

    def add(self, artifact: str, saved: dict[str, Any]) -> None:
        name = f"{self.run_id}.saved.{socket.gethostname()}-{os.getpid()}.jsonl"
        line = json.dumps({"artifact": artifact, **saved, "saved_at": _now("microseconds")}) + "\n"
        with (self.runs_dir / name).open("a") as file:
            file.write(line)

    def entries(self) -> dict[str, dict[str, Any]]:
        """Artifact -> what was saved; the latest save wins (a node run again after its
        worker was lost saves again, in another process's file). A line cut short by a kill
        is skipped: its artifact's save did not finish."""
        lines = []
        for path in self.files():
            for line in path.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return {
            entry.pop("artifact"): entry for entry in sorted(lines, key=lambda e: e["saved_at"])
        }

    def files(self) -> list[Path]:
        return sorted(self.runs_dir.glob(f"{glob.escape(self.run_id)}.saved.*.jsonl"))

    def remove(self) -> None:
        for path in self.files():
            path.unlink(missing_ok=True)


def new_record(run_params: Mapping[str, Any], config: RunConfig, parameters: Mapping) -> RunRecord:
    return RunRecord(
        run_id=run_params["run_id"],
        pipelines=list(run_params.get("pipeline_names") or ["__default__"]),
        env=run_params.get("env") or _default_env(),
        started=_now(),
        dataset=config.dataset.name,
        settings=shaping_values(config, parameters),
    )


def _default_env() -> str:
    """The environment Kedro uses without ``--env`` (``default_run_env`` in settings.py)."""
    return settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")


def _now(timespec: str = "seconds") -> str:
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
