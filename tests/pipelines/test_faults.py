"""Faults of the disk a run writes to (``runs/faults.py``): a full disk and a read-only
``data/`` each end the run in the project's one block, naming data/ and what to do.

End to end, data/ is a small tmpfs (disk full) or a read-only one, which needs root (or
permission to mount); without root a read-only data/ is made with chmod and the full disk is
skipped. Root ignores file modes, so chmod alone would test nothing there."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kedro.io.core import DatasetError
from kedro_project import project_copy, run_kedro_each

from wemem_pipeline.runs.faults import storage_fault

REFUSED = "wemem-pipeline: the run stopped (disk problem)"
PROJECT = Path("/work/project")


def mount_tmpfs(folder: Path, options: str) -> bool:
    """A tmpfs over ``folder``; False where this process may not mount."""
    if os.geteuid() != 0:
        return False
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    return subprocess.run(command, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``--pipeline=data_split`` with data/ full (64 KB: the run record fits, the dataset
    does not) and with data/ read-only: ``{name: (project, result)}``, ``None`` where the
    fault cannot be made here."""
    full = project_copy(tmp_path_factory.mktemp("full"))
    read_only = project_copy(tmp_path_factory.mktemp("read_only"))
    runs = {}
    if mount_tmpfs(full / "data", "size=64k"):
        runs["full"] = full
    if mount_tmpfs(read_only / "data", "ro,size=64k"):
        runs["read_only"] = read_only
    elif os.geteuid() != 0:
        (read_only / "data").chmod(0o555)
        runs["read_only"] = read_only
    try:
        results = run_kedro_each(
            [(project, ["--pipeline=data_split"]) for project in runs.values()]
        )
        yield {name: (runs[name], result) for name, result in zip(runs, results, strict=True)}
    finally:
        for project in runs.values():
            if os.geteuid() == 0:
                subprocess.run(["umount", str(project / "data")], check=True)
            else:
                (project / "data").chmod(0o755)


def refusal(fault_runs: dict, name: str) -> str:
    if name not in fault_runs:
        pytest.skip("making this fault needs root and permission to mount a tmpfs")
    _, result = fault_runs[name]
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert REFUSED in result.stderr and "Traceback" not in output, output[-3000:]
    return " ".join(result.stderr[result.stderr.index(REFUSED) :].split())


def test_a_full_disk_is_one_block_naming_data(fault_runs: dict) -> None:
    message = refusal(fault_runs, "full")
    assert "the disk that holds data/ is full: No space left on device" in message
    assert "while writing the dataset 'dataset'" in message and "free of 64.0 KB" in message
    assert "kedro clean --delete" in message
    # The record still says what happened, though the disk has no room for a new file.
    runs = fault_runs["full"][0] / "data/09_runs"
    [record] = [json.loads(path.read_text()) for path in runs.glob("*.json")]
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert not list(runs.glob("*.tmp"))


def test_a_read_only_data_folder_is_one_block(fault_runs: dict) -> None:
    message = refusal(fault_runs, "read_only")
    assert "data/ is not writable" in message and "the run could not write data/09_runs" in (
        message
    )


# ----------------------------------------------------------------------------- unit tests


def saving_failed(fault: OSError, dataset: str = "dense_models") -> DatasetError:
    """``fault`` as Kedro reports it from a dataset's save."""
    try:
        try:
            raise fault
        except OSError as error:
            raise DatasetError(f"{dataset}: Failed while saving data to dataset X") from error
    except DatasetError as error:
        return error


def test_a_full_disk_names_the_dataset_and_the_free_space(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    fault = storage_fault(saving_failed(OSError(errno.ENOSPC, "No space left")), tmp_path)
    assert "the disk that holds data/ is full: No space left while writing the dataset " in (
        str(fault)
    )
    assert "'dense_models'" in str(fault) and " free of " in str(fault)


def test_a_fault_in_a_worker_process_is_read_from_the_error_it_sent_back() -> None:
    """A worker's error travels back without its cause: only its text names the fault."""
    error = DatasetError("dense_models: Failed while saving.\n[Errno 28] No space left on device")
    fault = storage_fault(error, PROJECT)
    assert str(fault).startswith("the disk that holds data/ is full: No space left on device")


def test_the_fault_the_run_failed_with_is_named_not_a_later_one() -> None:
    """The run record written while the run fails may meet the full disk again."""
    try:
        try:
            raise saving_failed(OSError(errno.ENOSPC, "No space left on device"), "splits")
        except DatasetError as failed:
            record = "/work/project/data/09_runs/r.tmp"
            raise OSError(errno.ENOSPC, "No space left", record) from failed
    except OSError as error:
        fault = storage_fault(error, PROJECT)
    assert "while writing the dataset 'splits'" in str(fault)


def test_permission_denied_outside_data_names_the_file() -> None:
    fault = storage_fault(PermissionError(errno.EACCES, "Permission denied", "/srv/x.csv"), PROJECT)
    assert str(fault) == "/srv/x.csv: permission denied"


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(errno.ENOENT, "No such file", "/work/project/data/x"),
        ValueError("not a fault"),
        DatasetError("dataset: not serialised"),
    ],
)
def test_other_errors_are_no_fault(error: Exception) -> None:
    assert storage_fault(error, PROJECT) is None
