"""What checking every artifact's bytes costs a run: hashing each file when it is saved and
each time a node loads it, against the run's wall time.

Runs ``kedro run --pipeline=scenario3`` (base settings, digits; ``--env fmnist`` for
Fashion-MNIST) in a scratch copy of the project, then hashes, as the run did, every file its
record lists: once for its save, once per node of the pipeline that loads it (with the read
of the run's save log each load of its own artifacts takes), and recomputes the dataset's
fingerprint once per load of the dataset (its store file is checked that way). The files are
in the page cache, as they were during the run.

    python benchmarks/integrity_cost.py              # digits, about a minute on 2 cores
    python benchmarks/integrity_cost.py --env fmnist # 10k samples per pool, ~10 minutes
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from busy_machine import scratch_project
from kedro.framework.project import configure_project, pipelines
from kedro.io import Version

from wemem_pipeline.catalog_datasets.dataset_store import DATASET_STORE, StoredDatasetDataset
from wemem_pipeline.runs.integrity import file_digest
from wemem_pipeline.runs.records import RUNS_DIR, RunRecord, SaveLog

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "scenario3"


def run(project: Path, env_name: str) -> float:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "kedro", "run", f"--env={env_name}", f"--pipeline={PIPELINE}"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return time.perf_counter() - started


def loads_per_artifact() -> Counter:
    """How many nodes of the pipeline load each dataset."""
    configure_project("wemem_pipeline")
    return Counter(name for node in pipelines[PIPELINE].nodes for name in node.inputs)


def timed(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    env_name = parser.parse_args().env
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        wall = run(project, env_name)
        run_id = next((project / RUNS_DIR).glob("*.json")).stem
        record = RunRecord.load(project, run_id)
        loads = loads_per_artifact()
        log_read = timed(lambda: SaveLog(project / RUNS_DIR, run_id).entries())
        rows, total = [], 0.0
        for artifact, saved in sorted(record.saved.items()):
            digest = timed(lambda saved=saved: file_digest(str(project / saved["file"])))
            seconds = digest * (1 + loads[artifact]) + log_read * loads[artifact]
            total += seconds
            rows.append((artifact, saved["bytes"], loads[artifact], seconds))
        # The dataset's own file in the store is checked by its fingerprint at every load.
        store_file = next((project / DATASET_STORE).glob("*.npz"))
        dataset = StoredDatasetDataset(
            filepath=str(project / "data/02_intermediate/dataset.json"),
            store={"path": str(project / DATASET_STORE)},
            version=Version(run_id, None),
        )
        loaded = dataset.load()
        fingerprint = timed(loaded.fingerprint) * loads["dataset"]
        total += fingerprint
        rows.append(
            (
                "(the dataset store file: fingerprint)",
                store_file.stat().st_size,
                loads["dataset"],
                fingerprint,
            )
        )
    print(f"kedro run --env={env_name} --pipeline={PIPELINE}: {wall:.1f} s wall time")
    print(f"load average before hashing: {os.getloadavg()[0]:.2f} (2 cores)\n")
    print("| artifact | bytes | loads | hashing (ms) |")
    print("|---|---:|---:|---:|")
    for artifact, size, count, seconds in rows:
        print(f"| {artifact} | {size:,} | {count} | {seconds * 1000:.1f} |")
    print(
        f"\n{len(rows)} artifacts, {sum(r[1] for r in rows) / 1e6:.1f} MB: hashing "
        f"{total:.3f} s = {100 * total / wall:.2f}% of the run's {wall:.1f} s"
    )


if __name__ == "__main__":
    main()
