"""The parallel runners (``wemem_pipeline.runners``): the same artifacts as the sequential run,
progress per branch, the cores shared among workers, and clear refusals."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset
from kedro_project import (
    ROOT,
    SEEDS,
    latest,
    made_once,
    project_copy,
    run_kedro,
    run_kedro_each,
    start_kedro,
    untimed,
    with_seeds,
)

from wemem_pipeline.core import threads
from wemem_pipeline.core.errors import DataError, ParameterError, UserError
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.runs.cli import error_block
from wemem_pipeline.runs.integrity import CheckedArtifact
from wemem_pipeline.runs.runners import (
    CONNECT_TIMEOUT_S,
    BranchProgress,
    ClusterError,
    DaskRunner,
    _picklable,
    check_worker_counts,
    remove_own_versions,
)

RUNNERS = {
    "parallel": ["--runner=wemem_pipeline.runs.runners.ParallelRunner"],
    "dask": ["--runner=wemem_pipeline.runs.runners.DaskRunner", "--runner-params=workers=2"],
}
# Every artifact of a seed branch a report is made from, and the reports themselves.
ARTIFACTS = [
    "07_model_output/scenario3/seed_{seed}/attack_metrics.csv",
    "07_model_output/seed_{seed}/iterative_history.csv",
    "08_reporting/scenario3/seed_{seed}/report.json",
]


# The fast set keeps the Dask run (worker processes, the project's own runner code); Kedro's
# ParallelRunner, which the project only subclasses, runs with the slow tests.
@pytest.fixture(scope="module", params=[pytest.param("parallel", marks=pytest.mark.slow), "dask"])
def runner_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The ``seed_run`` (2-seed scenario3) again with a parallel runner, in its own project."""

    def make(folder: Path) -> tuple[Path, subprocess.CompletedProcess]:
        project = with_seeds(project_copy(folder))
        result = run_kedro(project, "--pipeline=scenario3", *RUNNERS[request.param])
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return project, result

    return made_once(tmp_path_factory, f"runner_{request.param}", make)


def load(project: Path, relative: str):
    path = latest(project, relative)
    if path.suffix == ".json":
        return untimed(json.loads(path.read_text()))
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c])


def assert_same_artifacts(project: Path, seed_run: Path) -> None:
    """``project``'s run made the ``seed_run``'s artifacts (wall-clock fields left out)."""
    for seed in SEEDS:
        for relative in ARTIFACTS:
            artifact = relative.format(seed=seed)
            made, expected = load(project, artifact), load(seed_run, artifact)
            if isinstance(expected, pd.DataFrame):
                pd.testing.assert_frame_equal(made, expected)
            else:
                assert made == expected, relative
    aggregate = "08_reporting/scenario3/seeds/report.json"
    assert load(project, aggregate) == load(seed_run, aggregate)


def test_a_parallel_run_makes_the_sequential_runs_artifacts(runner_run, seed_run: Path) -> None:
    project, result = runner_run
    assert_same_artifacts(project, seed_run)
    log = result.stdout + result.stderr
    # Every node of each seed's branch done, as many in each (the count moves with the pipeline).
    done = r"nodes done per branch: run (\d+)/\1, seed_0 (\d+)/\2, seed_2 \2/\2\b"
    assert re.search(done, " ".join(log.split()))
    record = json.loads(next((project / "data" / "09_runs").glob("*.json")).read_text())
    assert record["status"] == "completed"
    assert "seed_2.scenario3.attack_metrics" in record["saved"]  # saved by a worker process


def test_bad_runner_settings_stop_the_run_in_one_block(tmp_path: Path) -> None:
    silent = free_port()
    cases = {
        "max_workers": ["--runner=ParallelRunner", "--runner-params=max_workers=0"],
        "workers": ["--runner=wemem_pipeline.runs.runners.DaskRunner", "--runner-params=workers=0"],
        f"127.0.0.1:{silent}": [
            "--runner=wemem_pipeline.runs.runners.DaskRunner",
            f"--runner-params=address=tcp://127.0.0.1:{silent}",
        ],
    }
    projects = {}
    for i, name in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        projects[name] = project_copy(tmp_path / str(i))
    results = run_kedro_each(
        [(projects[n], ("--pipeline=scenario3", *a)) for n, a in cases.items()]
    )
    for name, result in zip(cases, results, strict=True):
        assert result.returncode == 1, result.stderr[-2000:]
        assert name in result.stderr and "wemem-pipeline: the run stopped" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert not [path for path in (projects[name] / "data").rglob("*") if path.is_file()]
    assert f"within {CONNECT_TIMEOUT_S} s" in results[2].stderr


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_worker_counts_below_one_are_refused() -> None:
    for name in ("max_workers", "workers", "threads_per_worker"):
        with pytest.raises(ParameterError, match=f"{name} must be an integer >= 1"):
            check_worker_counts({name: 0})
    check_worker_counts({"max_workers": 2, "is_async": True})
    with pytest.raises(UserError, match="address together with workers"):
        DaskRunner(address="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(ParameterError, match="retries must be an integer >= 0"):
        DaskRunner(retries=-1)


def test_a_worker_uses_its_share_of_the_cores() -> None:
    try:
        threads.limit_cores(1)
        assert threads.thread_count("auto", "cnn") == 1
        assert threads.thread_count(3, "mlp") == 1
    finally:
        threads.limit_cores(None)
    assert threads.thread_count(3, "mlp") == 3


def test_progress_is_counted_per_branch() -> None:
    def step(x):
        return x

    branch = Pipeline([node(step, "a", "b", name="first"), node(step, "b", "c", name="second")])
    pipeline = Pipeline(branch, namespace="seed_1") + Pipeline(branch, namespace="seed_2")
    pipeline += Pipeline([node(step, ["seed_1.c"], "d", name="aggregate")])
    progress = BranchProgress(pipeline)
    nodes = {n.name: n for n in pipeline.nodes}
    progress.finished(nodes["seed_2.first"])
    assert progress.finished(nodes["seed_2.second"]) == "run 0/1, seed_1 0/2, seed_2 2/2"


def test_errors_travel_back_from_a_worker() -> None:
    error = UserError("what", hint="do this")
    travelled = pickle.loads(pickle.dumps(_picklable(error)))
    assert (str(travelled), travelled.hint) == ("what", "do this")

    class Local(Exception):  # cannot be pickled: defined in a function
        pass

    stand_in = _picklable(Local("deep inside a node"))
    assert isinstance(stand_in, RuntimeError) and "Local: deep inside a node" in str(stand_in)
    pickle.dumps(stand_in)


def test_a_retried_node_removes_only_its_own_version(tmp_path: Path) -> None:
    def versioned(name: str) -> CheckedArtifact:
        csv = CSVDataset(filepath=str(tmp_path / f"{name}.csv"), version=Version("run-2", "run-2"))
        return CheckedArtifact(name, csv, tmp_path, "run-2")

    catalog = DataCatalog({"table": versioned("table"), "other": versioned("other")})
    files = {
        (name, version): tmp_path / f"{name}.csv" / version / f"{name}.csv"
        for name in ("table", "other")
        for version in ("run-1", "run-2")
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a\n1\n")
    maker = node(lambda: (None, None), None, ["table", "scratch"], name="maker")

    assert remove_own_versions(maker, catalog, "run-2") == [str(files["table", "run-2"])]
    assert [key for key, path in files.items() if not path.exists()] == [("table", "run-2")]
    assert remove_own_versions(maker, catalog, "run-1") == []  # not the version it saves


# ----------------------------------------------------------------------------- Dask faults
# Node functions for small pipelines on a cluster: its workers import them from here.


def double(numbers: list[int]) -> list[int]:
    return [2 * n for n in numbers]


def write_total(doubled: list[int], path: str) -> None:
    Path(path).write_text(str(sum(doubled)))


def count_and_refuse(doubled: list[int], path: str) -> None:
    with open(path, "a") as runs:
        runs.write("run\n")
    raise DataError("the numbers are wrong", hint="fix them")


def stop_own_worker(doubled: list[int]) -> None:
    os._exit(1)


@pytest.fixture(scope="module")
def local_cluster():
    """A LocalCluster of two worker processes, each with a nanny, which starts it again when
    it is lost."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield cluster.scheduler_address
    cluster.close()


def run_on_cluster(address: str, last: node, tmp_path: Path, retries: int = 2) -> None:
    """``numbers`` -> ``double`` -> (in memory) -> ``last`` on the cluster at ``address``."""
    pipeline = Pipeline([node(double, "numbers", "doubled", name="double"), last])
    catalog = DataCatalog(
        {
            "numbers": MemoryDataset([1, 2, 3]),
            "params:path": MemoryDataset(str(tmp_path / "out.txt")),
            "run_config": MemoryDataset(RunConfig()),  # the project's hooks read it
        }
    )
    runner = DaskRunner(address=address, retries=retries)
    try:
        runner.run(pipeline, catalog, run_id="run-1")
    finally:
        runner._client.close()


@pytest.mark.slow
def test_dask_stops_when_a_node_has_lost_its_worker_too_often(
    local_cluster: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stopping = node(stop_own_worker, "doubled", None, name="stop_worker")
    with pytest.raises(ClusterError) as error:
        run_on_cluster(local_cluster, stopping, tmp_path, retries=1)
    workers = re.findall(r"tcp://[\d.]+:\d+", str(error.value))
    assert "node stop_worker was lost with its Dask worker 2 times" in str(error.value)
    assert len(set(workers)) == 2 and "--runner-params=retries=" in error.value.hint
    assert error_block(error.value).startswith("wemem-pipeline: the run stopped (cluster problem)")
    retry = f"Dask worker {workers[0]} was lost while running stop_worker; running it again"
    assert retry in caplog.text and "(retry 1 of 1)" in caplog.text


# ----------------------------------------------------------------------------- worker loss


@pytest.fixture
def processes():
    """A list for a test's processes; each still running at its end is killed (a Dask
    worker's own children end with it)."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def kill_a_worker_between_saves(address: str, project: Path, timeout_s: float = 900) -> str:
    """Once a seed's ``plot_mem_scores`` (two figures, saved one after the other) has saved
    its first figure on a worker of the scheduler at ``address``, kill that worker's process
    (SIGKILL); returns the node's name. The node's run is lost with its first figure saved."""
    from distributed import Client

    with Client(address, timeout="30s") as client:
        pids = client.run(os.getpid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                for key in keys:
                    name = str(key).partition("-")[0]
                    branch, _, step = name.partition(".")
                    figures = project / "data" / "08_reporting" / branch
                    if step == "plot_mem_scores" and list(figures.glob("mem_*.png/*/*.png")):
                        os.kill(pids[worker], signal.SIGKILL)
                        return name
            time.sleep(0.02)
    raise AssertionError("no plot_mem_scores was caught between its two saves")


def finish(run: subprocess.Popen, output: Path) -> str:
    """What the run printed, once it has exited successfully."""
    run.wait(timeout=1800)
    printed = output.read_text()
    assert run.returncode == 0, printed[-4000:]
    return printed


def assert_retried(printed: str, name: str) -> None:
    """The run's log says ``name`` was run again and its lost run's figure removed."""
    printed = " ".join(printed.split())
    assert re.search(rf"Dask worker tcp://\S+ was lost while running {name}; running it", printed)
    assert f"{name}: removed what its lost run had saved of this run's version" in printed


@pytest.mark.slow
def test_a_local_cluster_run_survives_a_lost_worker(
    tmp_path: Path, seed_run: Path, processes: list
) -> None:
    project = with_seeds(project_copy(tmp_path))
    output = tmp_path / "kedro_run.log"
    run = start_kedro(project, "--pipeline=scenario3", *RUNNERS["dask"], output=output)
    processes.append(run)
    address = None
    while address is None and run.poll() is None:
        address = re.search(r"Dask LocalCluster (tcp://[\d.]+:\d+)", output.read_text())
        time.sleep(0.2)
    assert address, output.read_text()[-3000:]
    name = kill_a_worker_between_saves(address[1], project)
    assert_retried(finish(run, output), name)
    assert_same_artifacts(project, seed_run)


def start_scheduler_without_project(processes: list, log: Path) -> str:
    """A ``dask scheduler`` whose Python cannot import Kedro or this project; its address."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = [sys.executable, str(ROOT / "tests" / "scheduler_without_project.py")]
    scheduler += ["--host", "127.0.0.1", "--port", address.rpartition(":")[2], "--no-dashboard"]
    with log.open("w") as output:
        processes.append(subprocess.Popen(scheduler, stdout=output, stderr=subprocess.STDOUT))
    with Client(address, timeout="60s"):  # it answers
        return address


def start_workers(processes: list, address: str, count: int, folder: Path) -> None:
    """``count`` ``dask worker`` processes without nannies (a lost one stays lost), started
    in ``folder``, that import the project and this file's node functions."""
    from distributed import Client

    worker = [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-nanny"]
    paths = [os.environ.get("PYTHONPATH"), str(Path(__file__).parent), str(ROOT / "tests")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    for _ in range(count):
        processes.append(subprocess.Popen([*worker, "--no-dashboard"], cwd=folder, env=environment))
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(count, timeout=120)


def mark_and_sleep(doubled: list[int], path: str) -> None:
    Path(path).write_text("started")
    time.sleep(20)


@pytest.mark.slow
def test_small_pipelines_on_a_scheduler_without_the_project(
    tmp_path: Path, processes: list
) -> None:
    """In-memory data travels between nodes, a node's own error comes back and is not run
    again, and a lost scheduler stops the run in one block."""
    address = start_scheduler_without_project(processes, tmp_path / "scheduler.log")
    start_workers(processes, address, 1, tmp_path)
    out = tmp_path / "out.txt"
    run_on_cluster(address, node(write_total, ["doubled", "params:path"], None), tmp_path)
    assert out.read_text() == "12"

    refusing = node(count_and_refuse, ["doubled", "params:path"], None, name="refuse")
    with pytest.raises(DataError, match="the numbers are wrong"):
        run_on_cluster(address, refusing, tmp_path)
    assert out.read_text() == "12run\n"  # it ran once
    out.unlink()

    def kill_the_scheduler_once_the_node_runs() -> None:
        while not out.exists():
            time.sleep(0.05)
        processes[0].kill()

    threading.Thread(target=kill_the_scheduler_once_the_node_runs, daemon=True).start()
    sleeping = node(mark_and_sleep, ["doubled", "params:path"], None, name="sleep")
    with pytest.raises(ClusterError, match="scheduler-connection-lost") as error:
        run_on_cluster(address, sleeping, tmp_path)
    assert "while sleep on tcp://" in str(error.value)
    assert "1 of 2 nodes had finished" in str(error.value)
    assert "may not import" not in (tmp_path / "scheduler.log").read_text()


@pytest.fixture
def cluster_without_project(tmp_path: Path, processes: list) -> tuple[Path, str]:
    """A 2-seed project and the address of a scheduler whose Python cannot import Kedro or
    this project, with two workers started in the project."""
    project = with_seeds(project_copy(tmp_path))
    address = start_scheduler_without_project(processes, tmp_path / "scheduler.log")
    start_workers(processes, address, 2, project)
    return project, address


@pytest.mark.slow
def test_a_run_on_a_scheduler_without_the_project_survives_a_lost_worker(
    tmp_path: Path, seed_run: Path, cluster_without_project: tuple[Path, str], processes: list
) -> None:
    project, address = cluster_without_project
    output = tmp_path / "kedro_run.log"
    dask = ["--runner=wemem_pipeline.runs.runners.DaskRunner", f"--runner-params=address={address}"]
    run = start_kedro(project, "--pipeline=scenario3", *dask, output=output)
    processes.append(run)
    name = kill_a_worker_between_saves(address, project)
    assert_retried(finish(run, output), name)
    assert_same_artifacts(project, seed_run)
    assert "may not import" not in (tmp_path / "scheduler.log").read_text()
