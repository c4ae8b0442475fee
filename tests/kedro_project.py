"""Run ``kedro`` in a scratch copy of the project, for the end-to-end tests."""

from __future__ import annotations

import fcntl
import importlib
import json
import logging
import os
import pickle
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # not imported by the kedro runs this file drives as a script
    import pytest

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


def _kedro_env() -> dict[str, str]:
    # Wide enough that rich writes each log message on one line, for the tests to read.
    return {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
        "COLUMNS": "400",
    }


def run_kedro(project: Path, *args: str, env: str = "test") -> subprocess.CompletedProcess:
    """``kedro run --env=<env> *args`` in ``project`` (``local``: the shipped settings)."""
    command = [sys.executable, "-m", "kedro", "run", f"--env={env}", *args]
    return subprocess.run(command, cwd=project, env=_kedro_env(), capture_output=True, text=True)


def start_kedro(project: Path, *args: str, output: Path) -> subprocess.Popen:
    """``kedro run --env=test *args`` in ``project``, left running; what it prints goes to the
    file ``output`` line by line, for a test to read while it runs."""
    command = [sys.executable, "-m", "kedro", "run", "--env=test", *args]
    with output.open("w") as file:  # the child keeps its own handle
        return subprocess.Popen(
            command,
            cwd=project,
            env={**_kedro_env(), "PYTHONUNBUFFERED": "1"},
            stdout=file,
            stderr=subprocess.STDOUT,
        )


RUN_OUTPUT = "kedro_run.log"  # what a session fixture's run printed, kept in its project

SEEDS = [0, 2]  # a list, as a parameters file gives it; seed 0 is the session's default run


def with_seeds(project: Path) -> Path:
    """``project`` with ``evaluation.seeds: SEEDS`` in its test environment."""
    (project / "conf" / "test" / "parameters_seeds.yml").write_text(
        f"evaluation:\n  seeds: {SEEDS}\n"
    )
    return project


T = TypeVar("T")


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)``'s value, made once per test session in an empty ``folder`` of its own.

    With pytest-xdist every worker process has its own session-scoped and module-scoped
    fixtures, and work stealing spreads one module's tests over workers, so an end-to-end
    fixture would run once per worker that needs it. Here the first process to ask makes the
    value; the others wait on a lock file and read what it left (its value, or its failure).
    The value must pickle (paths, ``subprocess.CompletedProcess``, dicts of them); tests only
    read ``folder``: one that runs ``kedro`` again works in a copy.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    # A worker's base folder is <session>/<worker id>: the session's is shared by its workers.
    shared = tmp_path_factory.getbasetemp()
    if worker is not None:
        shared = shared.parent
    folder, value, failure = shared / name, shared / f"{name}.pickle", shared / f"{name}.failed"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failure.exists():
            raise RuntimeError(f"{name}, made in another worker, failed:\n{failure.read_text()}")
        if not value.exists():
            folder.mkdir()
            try:
                made = make(folder)
            except BaseException:
                failure.write_text(traceback.format_exc()[-5000:])
                raise
            # Written by this session for this session: the pickle never leaves the temp folder.
            value.write_bytes(pickle.dumps(made))
        return pickle.loads(value.read_bytes())


def finished_kedro_run(project: Path, *args: str) -> Path:
    """``project`` after ``kedro run --env=test *args``, which must succeed; what the run
    printed is kept in ``project/RUN_OUTPUT``."""
    result = run_kedro(project, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (project / RUN_OUTPUT).write_text(result.stdout + result.stderr)
    return project


def untimed(value):
    """A report without its wall-clock fields (two runs of one seed differ only there)."""
    if isinstance(value, dict):
        timed = ("seconds", "time_relative_to_base")
        return {k: untimed(v) for k, v in value.items() if not any(t in k for t in timed)}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def latest(project: Path, relative: str) -> Path:
    """The newest version of the versioned artifact ``data/<relative>``."""
    versions = sorted((project / "data" / relative).iterdir())
    return versions[-1] / Path(relative).name


def run_kedro_each(runs: Sequence[tuple[Path, Sequence[str]]]) -> list[subprocess.CompletedProcess]:
    """``run_kedro(project, *args)`` for each ``(project, args)``, two at a time.

    For runs that stop early (at the parameter check, say) nearly all of a ``kedro run`` is
    its start-up: importing torch, Kedro and the project, ~5 s. So one driver process (this
    file run as a script) pays the imports once and forks a child per run. Each child goes on
    as that ``python -m kedro run`` would from its imports on: the same CLI code path, with its
    own working directory, Kedro project, hooks, logging and exit code, and its stdout and
    stderr in files of its own.
    """
    with tempfile.TemporaryDirectory() as scratch:
        jobs = [[str(project), *args] for project, args in runs]
        Path(scratch, "jobs.json").write_text(json.dumps(jobs))
        command = [sys.executable, __file__, scratch]
        driver = subprocess.run(command, env=_kedro_env(), capture_output=True, text=True)
        if driver.returncode != 0:
            raise RuntimeError(f"the kedro run driver failed:\n{driver.stderr}")
        returncodes = json.loads(Path(scratch, "returncodes.json").read_text())
        return [
            subprocess.CompletedProcess(
                [sys.executable, "-m", "kedro", "run", "--env=test", *args],
                returncode,
                Path(scratch, f"{i}.out").read_text(),
                Path(scratch, f"{i}.err").read_text(),
            )
            for i, ((_, args), returncode) in enumerate(zip(runs, returncodes, strict=True))
        ]


def _fork_kedro_run(output: str, project: str, *args: str) -> int:
    """Start ``kedro run --env=test *args`` in ``project`` in a child, its stdout and stderr
    to ``output.out`` and ``output.err``; the child's pid."""
    from kedro.framework.cli import main
    from kedro.framework.project import LOGGING

    sys.stdout.flush()  # or the child writes this process's pending output again
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd, suffix in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{output}.{suffix}", os.O_WRONLY | os.O_CREAT, 0o600), fd)
        os.chdir(project)
        sys.path[0] = project  # as ``python -m`` puts the working directory first
        sys.argv = ["python -m kedro", "run", "--env=test", *args]
        # Kedro sets up logging when imported, from the working directory's conf/ (and logs
        # which file it took): what the run's own import would have done.
        LOGGING.__init__()
        main()
        code = 0
    except SystemExit as exit_:  # as the interpreter would exit with it
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # not the driver's exit: its atexit handlers are not the run's


def _drive(scratch: Path, at_once: int = 2) -> None:
    """The runs of ``scratch/jobs.json``, ``at_once`` at a time (each is single-threaded)."""
    jobs = json.loads((scratch / "jobs.json").read_text())
    running: dict[int, int] = {}  # pid: job
    returncodes = [0] * len(jobs)

    def wait() -> None:
        pid, status = os.wait()
        returncodes[running.pop(pid)] = os.waitstatus_to_exitcode(status)

    for i, job in enumerate(jobs):
        if len(running) == at_once:
            wait()
        running[_fork_kedro_run(str(scratch / str(i)), *job)] = i
    while running:
        wait()
    (scratch / "returncodes.json").write_text(json.dumps(returncodes))


if __name__ == "__main__":
    # What a ``kedro run`` of this project imports (torch through the project, after the
    # package's __init__ sets OpenMP up), once for all the forked runs. Not its settings:
    # their hooks take the working directory when imported, the run's project in the child.
    import kedro.framework.cli  # noqa: F401

    # And what the run imports on first use: every pipeline's nodes (the library, torch,
    # sklearn), the hooks' checks, and torch._dynamo, which torch.optim imports when a
    # process makes its first optimizer (~1 s).
    import torch._dynamo  # noqa: F401

    import wemem_pipeline.cli  # noqa: F401
    import wemem_pipeline.core.autotune  # noqa: F401
    import wemem_pipeline.core.parameter_checks  # noqa: F401
    import wemem_pipeline.core.run_checks  # noqa: F401
    import wemem_pipeline.hooks  # noqa: F401
    import wemem_pipeline.pipeline_registry  # noqa: F401
    import wemem_pipeline.pipelines
    import wemem_pipeline.runs.summary  # noqa: F401

    for pipeline in pkgutil.iter_modules(wemem_pipeline.pipelines.__path__):
        importlib.import_module(f"wemem_pipeline.pipelines.{pipeline.name}.pipeline")

    try:  # kedro-mlflow (the mlflow extra): Kedro imports its hooks even when they are turned off
        import kedro_mlflow.framework.cli.cli  # noqa: F401
        import kedro_mlflow.framework.hooks.mlflow_hook  # noqa: F401
    except ImportError:
        pass

    _drive(Path(sys.argv[1]))
