"""The default ``scenario3`` run on a quiet machine and beside one CPU-bound process.

Every laptop runs other processes; a run must not collapse when one of them is busy. This
runs ``kedro run --pipeline=scenario3`` (base settings, digits) in a scratch copy of the
project, first alone, then beside ``sh -c 'while :; do :; done'``, and prints both wall
times and their ratio (the goal: at most 2.5x).

    python benchmarks/busy_machine.py             # the project's thread settings (threads: auto)
    python benchmarks/busy_machine.py --untuned   # also torch's defaults, as before issue 11

``--untuned`` imports torch before the project, so OpenMP keeps its default spin-waiting,
and uses one thread per core: what every run did before ``threads`` existed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEDRO = [sys.executable, "-m", "kedro"]
# Torch first: the project's OMP_WAIT_POLICY default then comes too late to matter.
UNTUNED_KEDRO = [sys.executable, "-c", "import torch; from kedro.framework.cli import main; main()"]


def scratch_project(root: Path) -> Path:
    project = root / "project"
    (project / "src").mkdir(parents=True)
    (project / "data").mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    return project


def timed_run(project: Path, kedro: list[str], params: str, timeout: float) -> float | None:
    """Seconds ``kedro run --pipeline=scenario3`` took; ``None`` past ``timeout``."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    command = [*kedro, "run", "--pipeline=scenario3", "--params", params]
    start = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-2000:])
    return time.perf_counter() - start


def beside_busy_process(*args):
    """:func:`timed_run` of ``args`` while one other process keeps a core busy."""
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        return timed_run(*args)
    finally:
        busy.kill()
        busy.wait()


def show(seconds: float | None, timeout: float) -> str:
    return f"> {timeout:.0f}" if seconds is None else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--untuned", action="store_true", help="also measure torch's defaults")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run (600)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; load average before: {os.getloadavg()[0]:.2f}")
    settings = [("threads: auto (the project)", KEDRO, "threads=auto")]
    if args.untuned:
        settings.append((f"untuned ({cores} threads, spinning)", UNTUNED_KEDRO, f"threads={cores}"))
    print(f"{'setting':<36}{'quiet s':>10}{'busy s':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        for name, kedro, params in settings:
            quiet = timed_run(project, kedro, params, args.timeout)
            busy = beside_busy_process(project, kedro, params, args.timeout)
            ratio = f"{busy / quiet:.2f}x" if busy and quiet else ""
            if busy is None and quiet:
                ratio = f"> {args.timeout / quiet:.1f}x"
            print(
                f"{name:<36}{show(quiet, args.timeout):>10}{show(busy, args.timeout):>10}{ratio:>8}"
            )


if __name__ == "__main__":
    main()
