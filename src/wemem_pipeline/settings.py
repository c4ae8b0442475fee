"""Project settings (see Kedro's configuration documentation for the defaults)."""

from wemem_pipeline.hooks import RunHooks
from wemem_pipeline.runs.seed_branches import ConfigLoader
from wemem_pipeline.runs.tracking import switched_off

HOOKS = (RunHooks(),)

# kedro-mlflow (the optional ``mlflow`` extra) tracks every run once installed, as configured
# in conf/base/mlflow.yml; WEMEM_TRACKING=off turns its hooks off (the tests do).
if switched_off():
    # Kedro compares the distribution's name as its metadata spells it: either spelling.
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")

# Kedro's OmegaConfigLoader; its catalog also has each entry's seed-branch variant.
CONFIG_LOADER_CLASS = ConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Soft merge lets an environment override one nested key without replacing its section.
    "merge_strategy": {"parameters": "soft"},
}
