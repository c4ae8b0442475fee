"""Commands that do not train start without torch (its import alone takes seconds, 13 s on a
busy machine): Kedro imports settings.py, hooks.py and cli.py for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kedro_project import project_copy

# Kedro's CLI, one command after another in one interpreter: after each, which of the heavy
# libraries it has imported so far.
_COMMANDS = [["--help"], ["run", "--help"], ["clean", "--help"], ["clean"]]
_PROBE = f"""
import json, runpy, sys
imported = {{}}
for command in {_COMMANDS!r}:
    sys.argv = ["kedro", *command]
    try:
        runpy.run_module("kedro", run_name="__main__")
    except SystemExit:
        pass
    imported[" ".join(command)] = [m for m in ("torch", "sklearn", "optuna") if m in sys.modules]
print(json.dumps(imported))
"""


def test_help_and_clean_do_not_import_torch(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == {" ".join(command): [] for command in _COMMANDS}
