"""Project settings (see Kedro's configuration documentation for the defaults)."""

from wemem_pipeline.hooks import RunHooks
from wemem_pipeline.seed_branches import ConfigLoader

HOOKS = (RunHooks(),)

# Kedro's OmegaConfigLoader; its catalog also has each entry's seed-branch variant.
CONFIG_LOADER_CLASS = ConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Soft merge lets an environment override one nested key without replacing its section.
    "merge_strategy": {"parameters": "soft"},
}
