"""``dask scheduler`` in a Python that cannot import Kedro or this project, as on a cluster
whose scheduler machine has only Dask installed. Its arguments are the scheduler's:

    python tests/scheduler_without_project.py --port 8786 --no-dashboard
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


class ProjectBlocker(MetaPathFinder):
    """Refuses to import ``wemem_pipeline``, ``kedro`` and every ``kedro*`` package."""

    def find_spec(self, name: str, path=None, target=None) -> None:
        top = name.partition(".")[0]
        if top == "wemem_pipeline" or top.startswith("kedro"):
            raise ModuleNotFoundError(f"the scheduler may not import {name}", name=name)


if __name__ == "__main__":
    sys.meta_path.insert(0, ProjectBlocker())
    from distributed.cli.dask_scheduler import main

    sys.argv[0] = "dask scheduler"
    main()
