"""Run ``kedro`` in a scratch copy of the project, for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml and conf/ in ``tmp_path/project``, with an empty data/ folder."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    (project / "src").mkdir()  # the package itself is imported from the installed project
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / "data").mkdir()
    return project


def run_kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``kedro run --env=test *args`` in ``project``."""
    # Wide enough that rich writes each log message on one line, for the tests to read.
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
        "COLUMNS": "400",
    }
    command = [sys.executable, "-m", "kedro", "run", "--env=test", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)


def latest(project: Path, relative: str) -> Path:
    """The newest version of the versioned artifact ``data/<relative>``."""
    versions = sorted((project / "data" / relative).iterdir())
    return versions[-1] / Path(relative).name
