"""Faults of the machine a run meets, named in the project's one block instead of the pages
of traceback they print: a full disk, and a ``data/`` the run may not write (a read-only
file system, or missing permissions)."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from ..core.errors import UserError, causes

_FULL = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}
# Kedro's error for a dataset that failed to save names it.
_DATASET = re.compile(r"^([\w.\-]+): ")
_ERRNO = re.compile(r"\[Errno (\d+)\] ([^:\n]+)")


class StorageError(UserError):
    """The disk a run writes to is full, or the run may not write there."""


def storage_fault(error: BaseException, project: Path) -> StorageError | None:
    """The full disk or the unwritable folder that made a run of ``project`` fail with
    ``error``; ``None`` when no such fault is among its causes."""
    chain = list(causes(error))
    fault = _fault_in(chain)
    if fault is None:
        return None
    path = Path(os.fsdecode(fault.filename)) if fault.filename else None
    data = Path(project) / "data"
    where = _shown(path, project) if path else _dataset_of(chain)
    in_data = path is None or _is_below(path, data)
    if fault.errno in _FULL:
        usage = shutil.disk_usage(next(p for p in (data, *data.parents) if p.exists()))
        return StorageError(
            f"the disk that holds {'data/' if in_data else _shown(path.parent, project)} is "
            f"full: {fault.strerror} while writing {where} ({_size(usage.free)} free of "
            f"{_size(usage.total)})",
            hint="free space on that disk (kedro clean --delete removes old versions of "
            "the artifacts in data/; du -sh data/* shows what takes the space), or make data/ "
            "a link to a folder on a larger disk; then run again",
        )
    reason = "a read-only file system" if fault.errno == errno.EROFS else "permission denied"
    if in_data:
        return StorageError(
            f"data/ is not writable ({reason}): the run could not write {where}",
            hint="make data/ writable (ls -ld data data/* shows its owners and modes; mount "
            "shows a read-only file system), or run in a copy of the project on a writable "
            "disk",
        )
    return StorageError(
        f"{where}: {reason}",
        hint="check the permissions of that file and its folder (ls -ld), or give the run "
        "a path it may use",
    )


def _fault_in(chain: list[BaseException]) -> OSError | None:
    """The fault ``chain`` began with (saving the run record may fail again while the run
    fails): an ``OSError``, or one that an error of a worker process names in its text (its
    cause did not travel back with it)."""
    for link in reversed(chain):
        if isinstance(link, OSError) and link.errno in _FULL | _NOT_WRITABLE:
            return link
    for link in chain:
        named = _ERRNO.search(str(link))
        if named and int(named.group(1)) in _FULL | _NOT_WRITABLE:
            return OSError(int(named.group(1)), named.group(2).strip())
    return None


def _dataset_of(chain: list[BaseException]) -> str:
    named = next((m for e in chain if (m := _DATASET.match(str(e)))), None)
    return f"the dataset {named.group(1)!r}" if named else "a file"


def _is_below(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _shown(path: Path, project: Path) -> str:
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(os.path.abspath(project)):
        return absolute.relative_to(os.path.abspath(project)).as_posix()
    return str(absolute)


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
