"""Wall time of each stage of a pipeline, and the share spent inside training.

Runs the pipeline's nodes in order, in one process, with the project's parameters (base, or
another environment), and prints one line per node plus the training share.

    python benchmarks/stage_times.py              # every pipeline (__default__) on digits
    python benchmarks/stage_times.py --env test   # the tiny test settings
    python benchmarks/stage_times.py --pipeline scenario3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kedro.framework.project import configure_project, pipelines

from wemem_pipeline.core import ensemble, memorability, pruning, runs, training
from wemem_pipeline.parameters import load_parameters

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--pipeline", default="__default__", help="registered pipeline name")
    args = parser.parse_args()

    parameters = load_parameters(ROOT / "conf", args.env)
    configure_project("wemem_pipeline")
    pipeline = pipelines[args.pipeline]

    training_seconds = 0.0

    def timed(function):
        def wrapper(*args, **kwargs):
            nonlocal training_seconds
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                training_seconds += time.perf_counter() - start

        return wrapper

    # The training loops are imported by name where they are used: patch them there.
    for module in (training, ensemble, memorability, pruning, runs):
        for name in ("fit", "fit_ensemble"):
            if hasattr(module, name):
                setattr(module, name, timed(getattr(module, name)))

    data: dict[str, object] = {"parameters": parameters}

    def load(name: str) -> object:
        if name in data:
            return data[name]
        value = parameters  # "params:scenario3.defense" -> parameters["scenario3"]["defense"]
        for key in name.removeprefix("params:").split("."):
            value = value[key]
        return value

    timings = []
    total_start = time.perf_counter()
    for node in pipeline.nodes:
        start = time.perf_counter()
        outputs = node.run({name: load(name) for name in node.inputs})
        timings.append((node.name, time.perf_counter() - start))
        data |= outputs
    total = time.perf_counter() - total_start

    print(f"pipeline {args.pipeline}, env={args.env}, dataset={parameters['dataset']['name']}")
    print(f"{'node':<34}{'seconds':>10}{'share':>9}")
    for name, seconds in timings:
        print(f"{name:<34}{seconds:>10.2f}{seconds / total:>9.1%}")
    print(f"{'total':<34}{total:>10.2f}")
    share = training_seconds / total
    print(
        f"time inside training (fit, fit_ensemble): {training_seconds:.2f}s = {share:.1%} of total"
    )


if __name__ == "__main__":
    main()
