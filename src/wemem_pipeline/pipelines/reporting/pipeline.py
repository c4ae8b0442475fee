from kedro.pipeline import Node, Pipeline

from .nodes import build_report, plot, report_page, summarize


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_report,
                [
                    "dataset",
                    "splits",
                    "dense_history",
                    "one_shot_history",
                    "iterative_history",
                    "attack_metrics",
                    "run_parameters",
                    "run_config",
                ],
                ["report", "report_table", "rounds_table"],
                name="build_report",
            ),
            Node(summarize, "report", "report_summary", name="summarize_report"),
            Node(plot, ["report", "roc_curves"], ["roc_plot", "rounds_plot"], name="plot_report"),
            Node(
                report_page,
                ["report", "roc_plot", "rounds_plot"],
                "report_html",
                name="report_page",
            ),
        ]
    )
