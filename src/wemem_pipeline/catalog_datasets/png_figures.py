"""Plots: saved from a matplotlib figure as one PNG file, loaded back as that file's bytes, so
that a report's HTML page can embed the very file the run saved (and the run's integrity
check hashed)."""

from __future__ import annotations

from kedro.io.core import get_filepath_str
from kedro_datasets.matplotlib import MatplotlibDataset

from ..core.errors import ArtifactError
from ..core.reports.html import PNG_SIGNATURE


class PngFigureDataset(MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` (saving, kedro-viz previews) whose load returns the
    PNG file's bytes; a file that is not a PNG is refused."""

    def load(self) -> bytes:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, mode="rb") as file:
            png = file.read()
        if not png.startswith(PNG_SIGNATURE):
            raise ArtifactError(
                f"{path} is not a PNG image (a plot of this project is one)",
                hint="make the plot again with the run that makes it, or load another "
                "version with --load-versions",
            )
        return png
