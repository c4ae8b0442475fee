"""wemem-pipeline: membership leakage of iteratively pruned networks, measured and defended."""

import os

# OpenMP threads that wait for work spin on their core by default; beside any other busy
# process they then steal each other's time and a run slows down many times over. Passive
# waiting costs nothing measurable here (core/threads.py). It must be set before torch loads
# OpenMP, hence here; a value the user sets wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
