"""Which run made each artifact: the run records in ``data/09_runs/``.

Every versioned artifact lies at ``<filepath>/<version>/<file>``, and the version is the id of
the run that saved it. Each run writes its record to ``data/09_runs/<run id>.json``: its
status (``running``, ``completed`` or ``failed``), the fingerprint of its dataset, its seed and
the settings that shape artifacts, the artifacts it wrote and the versions it loaded. So every
artifact carries its run's identity through its version (:mod:`.versions` picks them).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.run_config import RunConfig
from .seed_branches import split_branch

log = logging.getLogger(__name__)

RUNS_DIR = Path("data") / "09_runs"
COMPLETED = "completed"

# Settings that shape each artifact besides the data (first matching name pattern wins). The
# data itself is also compared by fingerprint, which catches a file changed in place. A
# namespaced artifact (``scenario3.defended_outputs``) is shaped by its namespace's section too.
_RUN = ("seed", "split", "model", "training")
_TUNING = (*_RUN, "pruning", "memorability", "attacks", "autotune")
_SHAPING = (
    ("dataset", ()),
    ("splits", ("seed", "split")),
    ("*_mem_scores", (*_RUN, "memorability")),
    ("dense_*", _RUN),
    ("one_shot_*", (*_RUN, "pruning")),
    ("iterative_*", (*_RUN, "pruning")),
    ("stored_models", (*_RUN, "pruning")),
    ("autotune_*", _TUNING),
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
        if key not in values and key not in ("dataset", "device", "threads"):
            values[key] = value
    return json.loads(json.dumps(values, default=str))


@dataclass
class RunRecord:
    """What one ``kedro run`` was and did; saved as ``data/09_runs/<run_id>.json``."""

    run_id: str
    pipelines: list[str]
    env: str
    status: str = "running"
    started: str = ""
    finished: str | None = None
    error: str | None = None
    process: int = field(default_factory=os.getpid)
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # artifact -> version
    saved: list[str] = field(default_factory=list)

    def save(self, project: Path) -> None:
        path = project / RUNS_DIR / f"{self.run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")  # a kill mid-write must not leave half a record
        temporary.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        temporary.replace(path)

    @classmethod
    def load(cls, project: Path, run_id: str) -> RunRecord | None:
        path = project / RUNS_DIR / f"{run_id}.json"
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    def finish(self, project: Path, error: BaseException | None = None) -> None:
        self.finished = _now()
        self.status = COMPLETED if error is None else "failed"
        self.error = None if error is None else f"{type(error).__name__}: {error}"[:500]
        self.save(project)

    def state(self) -> str:
        """``completed``, ``failed``, ``running``, or ``killed`` (its process is gone)."""
        if self.status == "running" and not _process_alive(self.process):
            return "killed"
        return self.status


def new_record(run_params: Mapping[str, Any], config: RunConfig, parameters: Mapping) -> RunRecord:
    return RunRecord(
        run_id=run_params["run_id"],
        pipelines=list(run_params.get("pipeline_names") or ["__default__"]),
        env=str(run_params.get("env")),
        started=_now(),
        dataset=config.dataset.name,
        settings=shaping_values(config, parameters),
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
