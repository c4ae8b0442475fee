"""The bytes each ``kedro run`` adds to ``data/``, per artifact, over repeated runs.

Copies a project's ``pyproject.toml`` and ``conf/`` (``conf/local`` left out) into a scratch
folder with an empty ``data/``, runs ``kedro run`` there ``--runs`` times, and after each run
prints every artifact that grew: a versioned artifact (``data/<...>/<name>/<version>/``) by
its folder, any other file (the dataset store, run records) by its own path. The project's
code is whatever ``python -m kedro`` imports (``PYTHONPATH``), so the same script measures
an older checkout with ``--source`` and ``PYTHONPATH`` pointing at it.

    python benchmarks/disk_per_run.py --pipeline data_split                 # digits
    python benchmarks/disk_per_run.py --pipeline data_split --env fmnist    # fashion_mnist
    PYTHONPATH=/tmp/before/src python benchmarks/disk_per_run.py --source /tmp/before ...
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")


def scratch_project(source: Path, folder: Path) -> Path:
    project = folder / "project"
    (project / "data").mkdir(parents=True)
    (project / "src").mkdir()  # Kedro wants it; the package is imported from PYTHONPATH
    shutil.copy(source / "pyproject.toml", project)
    shutil.copytree(source / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    return project


def artifact_of(relative: Path) -> str:
    """A file's artifact: the folder above its version folder, else the file itself; run
    records (one file per run) count as one artifact."""
    parts = relative.parts
    for index, part in enumerate(parts):
        if VERSION.fullmatch(part):
            return Path(*parts[:index]).as_posix()
    if parts[:2] == ("data", "09_runs"):
        return "data/09_runs"
    return relative.as_posix()


def sizes(project: Path) -> dict[Path, int]:
    return {
        path.relative_to(project): path.stat().st_size
        for path in (project / "data").rglob("*")
        if path.is_file()
    }


def added(before: dict[Path, int], after: dict[Path, int]) -> Counter:
    """Bytes per artifact that appeared or grew between two snapshots."""
    grown: Counter = Counter()
    for path, size in after.items():
        if size > before.get(path, 0):
            grown[artifact_of(path)] += size - before.get(path, 0)
    return grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="data_split")
    parser.add_argument("--env", default="base", help="configuration environment")
    parser.add_argument("--params", help="kedro run --params")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, default=ROOT, help="the project to copy")
    args = parser.parse_args()

    command = [sys.executable, "-m", "kedro", "run", f"--pipeline={args.pipeline}"]
    command += [f"--env={args.env}"] + ([f"--params={args.params}"] if args.params else [])
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "WEMEM_TRACKING": "off"}
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(args.source, Path(scratch))
        print(f"`{' '.join(command[2:])}` in a copy of {args.source}, {args.runs} runs")
        totals = []
        for run in range(1, args.runs + 1):
            before = sizes(project)
            start = time.perf_counter()
            result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if result.returncode != 0:
                sys.exit(f"run {run} failed:\n{result.stderr[-3000:]}")
            grown = added(before, sizes(project))
            totals.append(sum(grown.values()))
            print(f"\nrun {run}: {totals[-1]:,} bytes added in {seconds:.1f} s")
            for artifact, size in sorted(grown.items()):
                print(f"  {size:>13,}  {artifact}")
        data = sum(sizes(project).values())
        print(f"\ndata/ after {args.runs} runs: {data:,} bytes; per run: {totals}")


if __name__ == "__main__":
    main()
