from kedro.pipeline import Pipeline

from ..scenario_template import create_scenario_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_scenario_pipeline("scenario3")
