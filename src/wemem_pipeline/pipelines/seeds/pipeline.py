"""A pipeline repeated once per seed, each branch in its own namespace, then aggregated.

For every report the single-seed pipeline makes (the default run's ``report``, a scenario's
``<scenario>.report``, ``compare_table``), one node reads that report from every branch and
writes the aggregate next to the single-seed artifact (the ``seeds_*`` entries of
catalog.yml).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ...runs.seed_branches import branch
from ..scenario import SCENARIOS
from .nodes import aggregate_comparisons, aggregate_reports, comparison_seeds_page, seeds_page

_AGGREGATE_OUTPUTS = ("seeds_report", "seeds_table", "seeds_summary", "seeds_plot")


def create_pipeline(pipeline: Pipeline, seeds: list[int]) -> Pipeline:
    """``pipeline`` once per seed (namespace ``seed_<s>``), then the aggregate nodes."""
    branches = sum((Pipeline(pipeline, namespace=branch(s)) for s in seeds), Pipeline([]))
    return branches + Pipeline(_aggregates(pipeline.all_outputs(), seeds))


def _aggregates(outputs: set[str], seeds: list[int]) -> list[Node]:
    def per_seed(artifact: str) -> dict[str, str]:
        return {branch(s): f"{branch(s)}.{artifact}" for s in seeds}

    nodes = []
    for prefix in ("", *(f"{scenario}." for scenario in SCENARIOS)):
        if f"{prefix}report" in outputs:
            nodes.append(
                Node(
                    aggregate_reports,
                    per_seed(f"{prefix}report"),
                    [f"{prefix}{output}" for output in _AGGREGATE_OUTPUTS],
                    name=f"aggregate_{prefix.rstrip('.') or 'run'}_seeds",
                )
            )
            nodes.append(
                Node(
                    seeds_page,
                    [f"{prefix}seeds_report", f"{prefix}seeds_plot"],
                    f"{prefix}seeds_html",
                    name=f"{prefix.rstrip('.') or 'run'}_seeds_page",
                )
            )
    if "compare_table" in outputs:
        nodes.append(
            Node(
                aggregate_comparisons,
                {"dataset": f"{branch(seeds[0])}.dataset", **per_seed("compare_table")},
                ["compare_seeds_table", "compare_seeds_summary", "compare_seeds_plot"],
                name="aggregate_compare_seeds",
            )
        )
        nodes.append(
            Node(
                comparison_seeds_page,
                {
                    "dataset": f"{branch(seeds[0])}.dataset",
                    "compare_seeds_plot": "compare_seeds_plot",
                    **per_seed("compare_table"),
                },
                "compare_seeds_html",
                name="compare_seeds_page",
            )
        )
    return nodes
