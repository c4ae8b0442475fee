"""The leaderboard pipeline: ``compare_runs`` (each dataset's newest compare run per seed,
found by the hook in the run records) -> the ranked table and its report under
``data/08_reporting/leaderboard/``."""

from kedro.pipeline import Node, Pipeline

from .nodes import leaderboard_page, rank_defenses, report_leaderboard


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                rank_defenses,
                ["compare_runs", "params:leaderboard"],
                ["leaderboard_table", "leaderboard_fronts"],
                name="rank_defenses",
            ),
            Node(
                report_leaderboard,
                ["leaderboard_table", "params:leaderboard"],
                ["leaderboard_summary", "leaderboard_plot"],
                name="report_leaderboard",
            ),
            Node(
                leaderboard_page,
                ["leaderboard_table", "params:leaderboard", "leaderboard_plot"],
                "leaderboard_html",
                name="leaderboard_page",
            ),
        ]
    )
