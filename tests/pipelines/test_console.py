"""The console of a run: its nodes and warnings, but the data catalog's line for every load
and save only with ``--verbose`` (conf/logging.yml)."""

from __future__ import annotations

from pathlib import Path

from kedro_project import project_copy, run_kedro_each

CATALOG_LINES = ("Loading data from", "Saving data to")


def _catalog_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(text in line for text in CATALOG_LINES)]


def _project(folder: Path) -> Path:
    folder.mkdir()
    return project_copy(folder)


def test_loads_and_saves_are_logged_only_with_verbose(tmp_path: Path) -> None:
    quiet, verbose = (_project(tmp_path / name) for name in ("quiet", "verbose"))
    runs = [(quiet, ["--pipeline=data_split"]), (verbose, ["--pipeline=data_split", "--verbose"])]
    quiet_run, verbose_run = run_kedro_each(runs)
    assert quiet_run.returncode == 0, quiet_run.stderr[-3000:]
    assert verbose_run.returncode == 0, verbose_run.stderr[-3000:]
    quiet_output = quiet_run.stdout + quiet_run.stderr
    assert "Completed node" in quiet_output
    assert _catalog_lines(quiet_output) == []
    verbose_lines = _catalog_lines(verbose_run.stdout + verbose_run.stderr)
    assert any("Saving data to splits" in line for line in verbose_lines)
    assert any("Loading data from dataset" in line for line in verbose_lines)
