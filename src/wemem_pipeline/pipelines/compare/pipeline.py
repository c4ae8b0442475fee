from kedro.pipeline import Node, Pipeline

from .nodes import audit_every_run, compare_defenses, comparison_page, report_comparison

# What the comparison's report reads: the runs, their attacks, the data's name, the runs'
# settings and where settings asked as ``auto`` came from, and the runs' audit (empty
# without ``compare.audit``).
_REPORT_INPUTS = (
    "compare_table",
    "compare_attack_metrics",
    "dataset",
    "params:compare",
    "run_parameters",
    "compare_audit_metrics",
    "compare_audit_exposure",
    "compare_audit_stages",
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compare_defenses,
                [
                    "dataset",
                    "splits",
                    "dense_models",
                    "dense_history",
                    "dense_outputs",
                    "victim_mem_scores",
                    "shadow_mem_scores",
                    "params:compare",
                    "params:attacks",
                    "run_config",
                ],
                ["compare_table", "compare_attack_metrics", "compare_defense_summaries"],
                name="compare_defenses",
            ),
            Node(
                audit_every_run,
                [
                    "dataset",
                    "splits",
                    "params:compare",
                    "params:audit",
                    "params:attacks",
                    "run_config",
                ],
                ["compare_audit_metrics", "compare_audit_exposure", "compare_audit_stages"],
                name="audit_every_run",
            ),
            Node(
                report_comparison,
                list(_REPORT_INPUTS),
                ["compare_summary", "compare_plot"],
                name="report_comparison",
            ),
            Node(
                comparison_page,
                [*_REPORT_INPUTS, "compare_plot"],
                "compare_html",
                name="comparison_page",
            ),
        ]
    )
