"""Wall time of a Dask run that loses one of its two workers, against the same run undisturbed.

Starts ``dask scheduler`` and two ``dask worker --nthreads 1 --no-nanny`` processes (a lost
worker stays lost) in a scratch copy of the project (its own empty ``data/``), and runs

    kedro run --env=<env> --pipeline=scenario3 --params evaluation.seeds=<n> \\
        --runner=wemem_pipeline.runs.runners.DaskRunner --runner-params=address=<scheduler>

undisturbed, and again with a fresh scratch project, scheduler and workers, killing
(SIGKILL) one worker while it runs a node, once half the run's nodes have finished. Each
repeat runs both, the undisturbed one first in odd repeats and second in even ones (the first
run after a pause pays for a cold file cache). Prints each run's wall time and Kedro's own
pipeline time, the machine's 1-minute load average before and after it, the ratio of the
total times, the nodes that were lost, and whether every report of every run agrees
(wall-clock fields left out).

    python benchmarks/worker_loss.py                        # --env test, 3 seeds, 2 repeats
    python benchmarks/worker_loss.py --env base --seeds 2 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributed import Client
from runner_speedup import reports, scratch_project


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_cluster(project: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and two workers without nannies, started in ``project``; its address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": project}
    dask = [sys.executable, "-m", "dask"]
    scheduler = [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker = [*dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    processes = [subprocess.Popen(scheduler, **quiet)]
    with Client(address, timeout="60s") as client:
        processes += [subprocess.Popen(worker, **quiet) for _ in range(2)]
        client.wait_for_workers(2, timeout=120)
    return address, processes


def kill_a_busy_worker(address: str) -> str:
    """SIGKILL the process of a worker that runs a node now; returns the node's name."""
    with Client(address, timeout="30s") as client:
        pids = client.run(os.getpid)
        while True:
            for worker, keys in client.processing().items():
                if keys:
                    os.kill(pids[worker], signal.SIGKILL)
                    return str(keys[0]).partition("-")[0]
            time.sleep(0.05)


def wait_for_half(run: subprocess.Popen, output: Path) -> None:
    """Until half the run's nodes have finished (the runner logs each with every branch's
    count: ``nodes done per branch: run 0/1, seed_0 7/14, ...``)."""
    while run.poll() is None:
        counts = re.findall(r"nodes done per branch: ([^\n]*)", output.read_text())
        if counts:
            done_total = re.findall(r"(\d+)/(\d+)", counts[-1])
            done, total = (sum(int(pair[i]) for pair in done_total) for i in (0, 1))
            if 2 * done >= total:
                return
        time.sleep(0.2)


def run(args: argparse.Namespace, scratch: Path, name: str, lose_worker: bool) -> dict:
    """One run in its own scratch project and cluster; its wall time, loads and reports."""
    project = scratch_project(scratch, name)
    address, processes = start_cluster(project)
    command = [
        *(sys.executable, "-m", "kedro", "run", f"--env={args.env}", "--pipeline=scenario3"),
        *("--params", f"evaluation.seeds={args.seeds}"),
        "--runner=wemem_pipeline.runs.runners.DaskRunner",
        f"--runner-params=address={address}",
    ]
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    output = scratch / f"{name}.log"
    try:
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        with output.open("w") as log:
            kedro = subprocess.Popen(
                command, cwd=project, env={**environment, "COLUMNS": "400"}, stdout=log, stderr=log
            )
        lost = None
        if lose_worker:
            wait_for_half(kedro, output)
            lost = f"{kill_a_busy_worker(address)} at {time.perf_counter() - started:.1f} s"
        kedro.wait()
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.kill()
            process.wait()
    printed = output.read_text()
    if kedro.returncode:
        sys.exit(f"the {name} run failed:\n{printed[-3000:]}")
    retries = re.findall(r"Dask worker \S+ was lost while running \S+; .*?\)", printed)
    pipeline = re.search(r"Pipeline execution completed successfully in ([\d.]+) sec", printed)
    return {
        "seconds": seconds,
        "pipeline": float(pipeline[1]) if pipeline else None,
        "load": (load_before, os.getloadavg()[0]),
        "lost": lost,
        "retries": retries,
        "reports": reports(project),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="test")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results = []  # (repeat, kind, result)
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(1, args.repeats + 1):
            kinds = ["undisturbed", "worker lost"]
            for kind in kinds if repeat % 2 else kinds[::-1]:
                name = f"{kind.split()[0]}{repeat}"
                result = run(args, Path(scratch), name, lose_worker=kind == "worker lost")
                print(f"{kind} ({repeat}): {result['seconds']:.1f} s", flush=True)
                results.append((repeat, kind, result))
    print(
        f"\nscenario3, {args.seeds} seeds, env {args.env}, scheduler + 2 workers x 1 thread, "
        f"{os.cpu_count()} cores (load: 1-minute load average before / after)"
    )
    print(f"{'repeat':<8}{'run':<13}{'wall':>8}{'pipeline':>10}{'load':>14}  lost")
    for repeat, kind, result in results:
        before, after = result["load"]
        pipeline = f"{result['pipeline']:.1f} s" if result["pipeline"] else "-"
        print(
            f"{repeat:<8}{kind:<13}{result['seconds']:>6.1f} s{pipeline:>10}"
            f"{before:>8.2f} /{after:>5.2f}  {result['lost'] or '-'}"
        )
    total = {
        kind: sum(r["seconds"] for _, k, r in results if k == kind)
        for kind in ("undisturbed", "worker lost")
    }
    ratio = total["worker lost"] / total["undisturbed"]
    print(f"ratio of the totals, worker lost / undisturbed: {ratio:.2f}x")
    for _, _, result in results:
        print("\n".join(f"logged: {line}" for line in result["retries"]))
    first = results[0][2]["reports"]
    same = all(result["reports"] == first for _, _, result in results)
    print(f"same reports: {'yes' if same else 'NO'} ({len(first)} report.json files)")


if __name__ == "__main__":
    main()
