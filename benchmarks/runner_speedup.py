"""Wall time of one multi-seed run under each runner, side by side, and that they agree.

Runs ``kedro run --pipeline=<pipeline> --params evaluation.seeds=<n>`` in a scratch copy of
the project (its own empty ``data/``) once per runner: Kedro's ``SequentialRunner``, the
project's ``ParallelRunner`` and its ``DaskRunner`` on a LocalCluster. Prints each wall
time, the speed-up over sequential, the machine's load average before and after, and
whether every report equals the sequential run's (wall-clock seconds left out).

    python benchmarks/runner_speedup.py                      # 3-seed scenario3 on digits
    python benchmarks/runner_speedup.py --env fmnist --seeds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = {
    "sequential": [],
    "ParallelRunner": ["--runner=wemem_pipeline.runs.runners.ParallelRunner"],
    "Dask LocalCluster": ["--runner=wemem_pipeline.runs.runners.DaskRunner"],
}


def scratch_project(parent: Path, name: str) -> Path:
    project = parent / name
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / "src").mkdir()
    return project


def reports(project: Path) -> dict[str, object]:
    """Every report.json of the run, by path below ``data/``, without timing fields."""

    def untimed(value: object) -> object:
        if isinstance(value, dict):
            return {
                k: untimed(v)
                for k, v in value.items()
                if "seconds" not in k and k != "time_relative_to_base"
            }
        if isinstance(value, list):
            return [untimed(v) for v in value]
        return value

    return {
        str(path.parent.parent.relative_to(project / "data")): untimed(json.loads(path.read_text()))
        for path in (project / "data").rglob("report.json")
        if path.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--pipeline", default="scenario3")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, options in RUNNERS.items():
            project = scratch_project(Path(scratch), name.split()[0])
            command = [
                *(sys.executable, "-m", "kedro", "run", f"--env={args.env}"),
                f"--pipeline={args.pipeline}",
                *("--params", f"evaluation.seeds={args.seeds}"),
                *options,
            ]
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = subprocess.run(
                command, cwd=project, env=environment, capture_output=True, text=True
            )
            seconds = time.perf_counter() - started
            if result.returncode:
                sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
            print(f"{name}: {seconds:.1f} s", flush=True)
            rows.append((name, seconds, load_before, os.getloadavg()[0], reports(project)))

    sequential = rows[0]
    print(
        f"\n{args.pipeline}, {args.seeds} seeds, env {args.env}, {os.cpu_count()} cores "
        "(load: 1-minute load average before / after)"
    )
    print(f"{'runner':<20}{'seconds':>9}{'speed-up':>10}{'load':>13}  same reports")
    for name, seconds, before, after, found in rows:
        same = "yes" if found == sequential[4] else "NO"
        speedup = sequential[1] / seconds
        print(f"{name:<20}{seconds:>9.1f}{speedup:>9.2f}x{before:>6.2f} /{after:>5.2f}  {same}")


if __name__ == "__main__":
    main()
