"""Time of each stage of a pipeline (wall and CPU), and the share spent inside training.

Runs the registered pipeline with Kedro's runner, in memory (nothing is written to
``data/``), with the project's parameters (base, or another environment), and prints one
line per node plus the share of the time spent in the training loops. CPU time (user + sys
of this process and its forked workers) is what to compare on a shared machine: with one
torch thread per process it is close to the work done, whatever the other jobs do; with
``workers`` above 1 the wall time of a quiet machine is below it.

    python benchmarks/stage_times.py              # every pipeline (__default__) on digits
    python benchmarks/stage_times.py --env test   # the tiny test settings
    python benchmarks/stage_times.py --pipeline scenario3
    # this checkout against another one (e.g. a worktree of main), run alternately, with the
    # CPU time of a whole `kedro run` (start-up included) of each:
    python benchmarks/stage_times.py --pipeline scenario3 --compare-to /tmp/main --repeats 2 \
        --kedro-run
    # both with other settings (kedro's --params syntax), e.g. the defaults before issue 25:
    python benchmarks/stage_times.py --pipeline scenario3 --compare-to /tmp/main \
        --params "split.test_fraction=0.3,scenario3.settings.window.stride=0.025"
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the forked workers that
    share a stage's work, ``workers``)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def with_overrides(parameters: dict, overrides: str) -> dict:
    """``parameters`` with kedro ``--params`` style ``a.b=value,c=value`` set (YAML values)."""
    import yaml

    for item in filter(None, overrides.split(",")):
        key, value = item.split("=", 1)
        *path, last = key.strip().split(".")
        section = parameters
        for part in path:
            section = section.setdefault(part, {})
        section[last] = yaml.safe_load(value)
    return parameters


def time_pipeline(checkout: Path, env: str, pipeline: str, overrides: str = "") -> dict:
    """Wall and CPU seconds of each node of ``pipeline``, run in memory in this process.

    The project is the one on ``sys.path`` (the caller points ``PYTHONPATH`` at
    ``checkout/src``); its parameters are read from ``checkout/conf``, then ``overrides``.
    """
    from kedro.framework.hooks import hook_impl
    from kedro.framework.hooks.markers import HOOK_NAMESPACE
    from kedro.framework.hooks.specs import DatasetSpecs, NodeSpecs, PipelineSpecs
    from kedro.framework.project import configure_project, pipelines
    from kedro.pipeline.node import Node
    from kedro.runner import SequentialRunner
    from pluggy import PluginManager

    from wemem_pipeline.core import ensemble, memorability, pruning, training
    from wemem_pipeline.runs.parameters import load_parameters, memory_catalog

    class NodeTimes:
        """Kedro hooks that time every node the runner runs."""

        def __init__(self) -> None:
            self.seconds: dict[str, tuple[float, float]] = {}
            self._started: dict[str, tuple[float, float]] = {}

        @hook_impl
        def before_node_run(self, node: Node) -> None:
            self._started[node.name] = (time.perf_counter(), cpu_seconds())

        @hook_impl
        def after_node_run(self, node: Node) -> None:
            wall, cpu = self._started.pop(node.name)
            self.seconds[node.name] = (time.perf_counter() - wall, cpu_seconds() - cpu)

    spent = {"seconds": 0.0}

    def timed(function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent["seconds"] += time.perf_counter() - start

        return wrapper

    # The training loops are imported by name where they are used: patch them there.
    for module in (training, ensemble, memorability, pruning):
        for name in ("fit", "fit_ensemble"):
            if hasattr(module, name):
                setattr(module, name, timed(getattr(module, name)))

    parameters = with_overrides(load_parameters(checkout / "conf", env), overrides)
    configure_project("wemem_pipeline")
    hooks = PluginManager(HOOK_NAMESPACE)
    for specs in (NodeSpecs, PipelineSpecs, DatasetSpecs):
        hooks.add_hookspecs(specs)
    times = NodeTimes()
    hooks.register(times)
    catalog = memory_catalog(parameters)  # checks the parameters, as a project run does
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    SequentialRunner().run(pipelines[pipeline], catalog, hooks)
    return {
        "dataset": parameters["dataset"]["name"],
        "nodes": times.seconds,
        "total": (time.perf_counter() - start_wall, cpu_seconds() - start_cpu),
        "training": spent["seconds"],
        "workers": parameters.get("workers", "auto"),
    }


def child_cpu_seconds(command: list[str], cwd: Path, checkout: Path) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of ``command`` run in ``cwd`` with ``checkout``'s code."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(checkout / "src"),
        "OMP_NUM_THREADS": "1",
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(checkout: Path, args: argparse.Namespace) -> dict:
    """One measurement of ``checkout`` in fresh processes: the in-memory pipeline run and,
    with ``--kedro-run``, a whole ``kedro run`` (imports and catalog included)."""
    command = [sys.executable, __file__, "--json", "--checkout", str(checkout)]
    command += ["--env", args.env, "--pipeline", args.pipeline, "--params", args.params]
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=environment, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if args.kedro_run:
        run = ["kedro", "run", f"--pipeline={args.pipeline}"]
        if args.env != "base":
            run.append(f"--env={args.env}")
        if args.params:
            run.append(f"--params={args.params}")
        result["kedro_run"] = child_cpu_seconds(run, checkout, checkout)
    return result


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_single(result: dict, pipeline: str, env: str) -> None:
    total_wall, total_cpu = result["total"]
    print(f"pipeline {pipeline}, env={env}, dataset={result['dataset']}")
    print(f"{'node':<34}{'seconds':>10}{'cpu s':>9}{'share':>9}")
    for name, (wall, cpu) in result["nodes"].items():
        print(f"{name:<34}{wall:>10.2f}{cpu:>9.2f}{wall / total_wall:>9.1%}")
    print(f"{'total':<34}{total_wall:>10.2f}{total_cpu:>9.2f}")
    if result["workers"] != 1:  # the loops ran in forked workers, out of this count's reach
        print("time inside training: measured with --params workers=1 only")
        return
    share = result["training"] / total_wall
    print(f"time inside training (fit, fit_ensemble): {result['training']:.2f}s = {share:.1%}")


def print_comparison(runs: dict[str, list[dict]], names: tuple[str, str], args) -> None:
    """Median CPU seconds per node of both checkouts, and their ratio (this / other)."""
    import numpy as np

    def median(label: str, pick) -> float:
        values = [pick(run) for run in runs[label] if pick(run) is not None]
        return float(np.median(values)) if values else float("nan")

    this, other = names
    nodes = list(dict.fromkeys(n for run in runs[this] + runs[other] for n in run["nodes"]))
    rows = [(n, lambda run, n=n: run["nodes"].get(n, (None, None))[1]) for n in nodes]
    rows.append(("total (nodes)", lambda run: run["total"][1]))
    if args.kedro_run:
        rows.append(("kedro run (cpu: user+sys)", lambda run: run["kedro_run"][1]))
        rows.append(("kedro run (wall)", lambda run: run["kedro_run"][0]))
    print(f"pipeline {args.pipeline}, env={args.env}; CPU seconds, median of {args.repeats}")
    if args.params:
        print(f"--params {args.params}")
    print(f"{'node':<34}{'this':>9}{'other':>9}{'ratio':>8}")
    for name, pick in rows:
        mine, theirs = median(this, pick), median(other, pick)
        ratio = mine / theirs if theirs else float("nan")
        print(f"{name:<34}{mine:>9.2f}{theirs:>9.2f}{ratio:>8.2f}")
    print(f"this: {ROOT}\nother: {args.compare_to}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--pipeline", default="__default__", help="registered pipeline name")
    parser.add_argument(
        "--compare-to", type=Path, help="another checkout to time alternately with this one"
    )
    parser.add_argument("--repeats", type=int, default=1, help="measurements per checkout")
    parser.add_argument(
        "--kedro-run", action="store_true", help="also time a whole `kedro run` of each"
    )
    parser.add_argument(
        "--params", default="", help="settings for both, as kedro's --params (a.b=1,c=x)"
    )
    parser.add_argument("--checkout", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    if args.json:  # one measurement, for the process that compares
        print(json.dumps(time_pipeline(args.checkout, args.env, args.pipeline, args.params)))
        return
    if args.compare_to is None:
        result = time_pipeline(args.checkout, args.env, args.pipeline, args.params)
        print_single(result, args.pipeline, args.env)
        return
    names = ("this", "other")
    checkouts = {"this": ROOT, "other": args.compare_to.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in names}
    print(f"load average before: {load_average()}")
    for repeat in range(args.repeats):
        # Alternate which goes first, so a change of load hurts both alike.
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            runs[name].append(measure(checkouts[name], args))
    print(f"load average after: {load_average()}")
    print_comparison(runs, names, args)


if __name__ == "__main__":
    main()
