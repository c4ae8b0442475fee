"""Wall time of each stage of the default pipeline, and the share spent inside training.

Runs the default pipeline's nodes in order, in one process, with the project's parameters
(base, or another environment), and prints one line per node plus the training share.

    python benchmarks/stage_times.py              # conf/base: digits, the README's main job
    python benchmarks/stage_times.py --env test   # the tiny test settings
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import configure_project, pipelines

from wemem_pipeline.core import training

ROOT = Path(__file__).resolve().parents[1]


def load_parameters(env: str) -> dict:
    loader = OmegaConfigLoader(
        str(ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        merge_strategy={"parameters": "soft"},
    )
    return loader["parameters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    args = parser.parse_args()

    parameters = load_parameters(args.env)
    configure_project("wemem_pipeline")
    pipeline = pipelines["__default__"]

    training_seconds = 0.0
    original_fit = training.fit

    def timed_fit(*fit_args, **fit_kwargs):
        nonlocal training_seconds
        start = time.perf_counter()
        try:
            return original_fit(*fit_args, **fit_kwargs)
        finally:
            training_seconds += time.perf_counter() - start

    # Every module that trains imports ``fit`` by name, so patch it where it is used.
    import wemem_pipeline.core.pruning as pruning_module
    import wemem_pipeline.core.runs as runs_module

    for module in (training, pruning_module, runs_module):
        module.fit = timed_fit

    data: dict[str, object] = {"parameters": parameters}
    data |= {f"params:{key}": value for key, value in parameters.items()}
    timings = []
    total_start = time.perf_counter()
    for node in pipeline.nodes:
        start = time.perf_counter()
        outputs = node.run({name: data[name] for name in node.inputs})
        timings.append((node.name, time.perf_counter() - start))
        data |= outputs
    total = time.perf_counter() - total_start

    print(f"default pipeline, env={args.env}, dataset={parameters['dataset']['name']}")
    print(f"{'node':<22}{'seconds':>10}{'share':>9}")
    for name, seconds in timings:
        print(f"{name:<22}{seconds:>10.2f}{seconds / total:>9.1%}")
    print(f"{'total':<22}{total:>10.2f}")
    share = training_seconds / total
    print(f"time inside training.fit: {training_seconds:.2f}s = {share:.1%} of total")


if __name__ == "__main__":
    main()
