"""wemem-pipeline: membership leakage of iteratively pruned networks, measured and defended."""

import os
import warnings

# OpenMP threads that wait for work spin on their core by default; beside any other busy
# process they then steal each other's time and a run slows down many times over. Passive
# waiting costs nothing measurable here (core/threads.py). It must be set before torch loads
# OpenMP, hence here; a value the user sets wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def hide_library_warnings() -> None:
    """Hide the library warnings a user of this project cannot act on: Kedro 1.7 calls
    OmegaConf's deprecated register_new_resolver itself, and `--pipeline` still works (README:
    `--pipelines` is the new spelling). Only these messages; every other warning shows."""
    warnings.filterwarnings(
        "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
    )
    warnings.filterwarnings(
        "ignore", message=r"Option '--pipeline' is deprecated", category=DeprecationWarning
    )


hide_library_warnings()

__version__ = "0.1.0"
