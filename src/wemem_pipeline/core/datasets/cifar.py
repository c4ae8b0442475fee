"""CIFAR-10 and CIFAR-100 through torchvision (a download, or the extracted archive)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Dataset, image_dataset, not_found, torchvision_datasets


def load_cifar(
    name: str, *, raw_dir: Path, allow_download: bool, path: Path | None, **_: object
) -> Dataset:
    datasets = torchvision_datasets()
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    root = path if path is not None else raw_dir / name
    try:
        train = cls(root=str(root), train=True, download=allow_download)
        test = cls(root=str(root), train=False, download=allow_download)
    except (RuntimeError, OSError) as exc:
        # torchvision says "Dataset not found or corrupted" without a path; say where and how.
        action = (
            f"  - the download failed ({exc}); check the internet connection, or place the "
            f"extracted archive {cls.base_folder}/ in {root}/"
            if allow_download
            else "  - set `dataset.allow_download: true` to download them with torchvision "
            f"(needs internet, ~170 MB), or place the extracted archive {cls.base_folder}/ "
            f"in {root}/"
        )
        raise not_found(name, [root / cls.base_folder], action) from exc
    return image_dataset(
        name,
        np.asarray(train.data).transpose(0, 3, 1, 2),  # HWC -> CHW
        np.asarray(train.targets),
        np.asarray(test.data).transpose(0, 3, 1, 2),
        np.asarray(test.targets),
        train.classes,
    )
