"""Wall time of each stage of a pipeline, and the share spent inside training.

Runs the registered pipeline with Kedro's runner, in memory (nothing is written to
``data/``), with the project's parameters (base, or another environment), and prints one
line per node plus the share of the time spent in the training loops.

    python benchmarks/stage_times.py              # every pipeline (__default__) on digits
    python benchmarks/stage_times.py --env test   # the tiny test settings
    python benchmarks/stage_times.py --pipeline scenario3
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.framework.hooks.markers import HOOK_NAMESPACE
from kedro.framework.hooks.specs import DatasetSpecs, NodeSpecs, PipelineSpecs
from kedro.framework.project import configure_project, pipelines
from kedro.pipeline.node import Node
from kedro.runner import SequentialRunner
from pluggy import PluginManager

from wemem_pipeline.core import ensemble, memorability, pruning, training
from wemem_pipeline.runs.parameters import load_parameters, memory_catalog

ROOT = Path(__file__).resolve().parents[1]


class NodeTimes:
    """Kedro hooks that time every node the runner runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        self.seconds[node.name] = time.perf_counter() - self._started.pop(node.name)


def timed_training() -> dict[str, float]:
    """Wrap the training loops so that their time adds up in the returned dict."""
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
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--pipeline", default="__default__", help="registered pipeline name")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    parameters = load_parameters(ROOT / "conf", args.env)
    configure_project("wemem_pipeline")
    hooks = PluginManager(HOOK_NAMESPACE)
    for specs in (NodeSpecs, PipelineSpecs, DatasetSpecs):
        hooks.add_hookspecs(specs)
    times = NodeTimes()
    hooks.register(times)
    spent = timed_training()

    catalog = memory_catalog(parameters)  # checks the parameters, as a project run does
    start = time.perf_counter()
    SequentialRunner().run(pipelines[args.pipeline], catalog, hooks)
    total = time.perf_counter() - start

    print(f"pipeline {args.pipeline}, env={args.env}, dataset={parameters['dataset']['name']}")
    print(f"{'node':<34}{'seconds':>10}{'share':>9}")
    for name, seconds in times.seconds.items():
        print(f"{name:<34}{seconds:>10.2f}{seconds / total:>9.1%}")
    print(f"{'total':<34}{total:>10.2f}")
    share = spent["seconds"] / total
    print(f"time inside training (fit, fit_ensemble): {spent['seconds']:.2f}s = {share:.1%}")


if __name__ == "__main__":
    main()
