"""The parallel runners (``wemem_pipeline.runners``): the same artifacts as the sequential run,
progress per branch, the cores shared among workers, and clear refusals."""

from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path

import pandas as pd
import pytest
from kedro.pipeline import Pipeline, node
from kedro_project import SEEDS, latest, project_copy, run_kedro, run_kedro_each, with_seeds

from wemem_pipeline.core import threads
from wemem_pipeline.core.errors import ParameterError, UserError
from wemem_pipeline.runs.runners import (
    CONNECT_TIMEOUT_S,
    BranchProgress,
    DaskRunner,
    _picklable,
    check_worker_counts,
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


@pytest.fixture(scope="module", params=list(RUNNERS))
def runner_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The ``seed_run`` (2-seed scenario3) again with a parallel runner, in its own project."""
    project = with_seeds(project_copy(tmp_path_factory.mktemp(request.param)))
    result = run_kedro(project, "--pipeline=scenario3", *RUNNERS[request.param])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project, result


def untimed(value):
    """A report without its wall-clock fields."""
    if isinstance(value, dict):
        timed = ("seconds", "time_relative_to_base")
        return {k: untimed(v) for k, v in value.items() if not any(t in k for t in timed)}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def load(project: Path, relative: str):
    path = latest(project, relative)
    if path.suffix == ".json":
        return untimed(json.loads(path.read_text()))
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c])


def test_a_parallel_run_makes_the_sequential_runs_artifacts(runner_run, seed_run: Path) -> None:
    project, result = runner_run
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
    log = result.stdout + result.stderr
    assert "nodes done per branch: run 1/1, seed_0 14/14, seed_2 14/14" in " ".join(log.split())
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
