"""What the project's own catalog datasets share: a versioned artifact in one file, on any
filesystem fsspec reaches (``<filepath>/<version>/<file name>``)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path


class VersionedFileDataset(AbstractVersionedDataset):
    """A versioned artifact in one file; subclasses read and write its content."""

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self.metadata = metadata  # the catalog entry's, for kedro-viz (its layer); not used here
        self._fs = fsspec.filesystem(protocol)
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _load_file(self) -> str:
        """The file this version loads from."""
        return get_filepath_str(self._get_load_path(), self._protocol)

    def _save_file(self) -> str:
        """The file this version saves to, its folder made (Kedro refuses one that exists)."""
        path = get_filepath_str(self._get_save_path(), self._protocol)
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        return path

    def _exists(self) -> bool:
        return self._fs.exists(self._load_file())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
