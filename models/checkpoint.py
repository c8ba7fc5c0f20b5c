"""Checkpoints of a training run in the job directory, written atomically, read back exactly.

One ``.npz`` file holds the parameters, the training loop's counters (:class:`~models.mlp.LoopState`),
the RandomState's full state and the run's configuration. It is written to a temporary file in
the same directory, flushed to disk, then renamed over the old one (``os.replace``), so a worker
killed mid-write leaves the previous checkpoint intact. Resuming restores every array bit for
bit; a checkpoint whose configuration differs from the job's is refused rather than silently
mixed into another run.
"""
from __future__ import annotations

import contextlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy

from models.errors import CheckpointError
from models.mlp import LoopState
from models.params import PARAM_NAMES, Params

CHECKPOINT_NAME = "mlp_checkpoint.npz"
FORMAT_VERSION = 1
_LOOP_INT_FIELDS = ("next_iter", "patience", "best_iter")
_LOOP_FLOAT_FIELDS = ("best_validation_loss", "test_score", "validation_error", "elapsed_s")


def save_checkpoint(path: str | os.PathLike[str], params_host: dict[str, numpy.ndarray], loop: LoopState,
                    rng: numpy.random.RandomState, config: dict[str, Any]) -> None:
    """Write the checkpoint atomically (temporary file, fsync, rename). ``params_host`` are NumPy arrays."""
    path = Path(path)
    kind, keys, pos, has_gauss, cached = rng.get_state()
    arrays: dict[str, Any] = {f"param_{name}": numpy.asarray(params_host[name]) for name in PARAM_NAMES}
    arrays.update({f"loop_{name}": numpy.int64(getattr(loop, name)) for name in _LOOP_INT_FIELDS})
    arrays.update({f"loop_{name}": numpy.float64(getattr(loop, name)) for name in _LOOP_FLOAT_FIELDS})
    arrays["loop_done"] = numpy.bool_(loop.done)
    arrays.update(rng_kind=numpy.str_(kind), rng_keys=numpy.asarray(keys, dtype=numpy.uint32),
                  rng_pos=numpy.int64(pos), rng_has_gauss=numpy.int64(has_gauss),
                  rng_cached_gaussian=numpy.float64(cached))
    arrays["format_version"] = numpy.int64(FORMAT_VERSION)
    for key, value in config.items():
        arrays[f"config_{key}"] = numpy.asarray(value)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            numpy.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_checkpoint(path: str | os.PathLike[str], config: dict[str, Any]
                    ) -> tuple[dict[str, numpy.ndarray], LoopState, numpy.random.RandomState]:
    """Read a checkpoint written by :func:`save_checkpoint` for the same ``config``."""
    path = Path(path)
    try:
        with numpy.load(path, allow_pickle=False) as f:
            data = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}: {exc}); "
                              "delete it to restart the job from scratch") from None
    if int(data.get("format_version", -1)) != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {data.get('format_version')!r}, "
                              f"expected {FORMAT_VERSION}; delete it to restart the job from scratch")
    for key, value in config.items():
        stored = data.get(f"config_{key}")
        if stored is None or not numpy.array_equal(stored, numpy.asarray(value)):
            raise CheckpointError(f"checkpoint {str(path)!r} belongs to another run ({key}={stored!r}, this job "
                                  f"has {value!r}); delete it to restart the job from scratch")
    try:
        params = {name: data[f"param_{name}"] for name in PARAM_NAMES}
        loop = LoopState(done=bool(data["loop_done"]))
        for name in _LOOP_INT_FIELDS:
            setattr(loop, name, int(data[f"loop_{name}"]))
        for name in _LOOP_FLOAT_FIELDS:
            setattr(loop, name, float(data[f"loop_{name}"]))
        rng = numpy.random.RandomState()
        rng.set_state((str(data["rng_kind"]), data["rng_keys"], int(data["rng_pos"]),
                       int(data["rng_has_gauss"]), float(data["rng_cached_gaussian"])))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is incomplete ({type(exc).__name__}: {exc}); "
                              "delete it to restart the job from scratch") from None
    return params, loop, rng


def params_to_host(params: Params, to_host: Any) -> dict[str, numpy.ndarray]:
    """The parameters as NumPy arrays (one device-to-host copy each on CuPy)."""
    return {name: numpy.array(to_host(getattr(params, name)), copy=True) for name in PARAM_NAMES}
