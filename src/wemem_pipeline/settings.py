"""Project settings (see Kedro's configuration documentation for the defaults)."""

from kedro.config import OmegaConfigLoader

from wemem_pipeline.hooks import RunHooks

HOOKS = (RunHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Soft merge lets an environment override one nested key without replacing its section.
    "merge_strategy": {"parameters": "soft"},
}
