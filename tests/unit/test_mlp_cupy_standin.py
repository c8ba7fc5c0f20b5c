"""The MLP's CuPy code path, run on this GPU-less machine through a stand-in: a module named ``cupy``
made of NumPy's functions (so ``xp is numpy`` is False), with CuPy's ``asnumpy`` and the few
``cupy.cuda`` calls the backend selection makes.

This is a mock, used because no CUDA GPU exists here (CI has none): it cannot show that CuPy itself
computes correctly, only that everything the code does when it holds an array module other than
NumPy -- the backend choice, the transfer to the device and back, the per-step SGD with ``xp.dot``
and ``xp.sum``/``xp.max``, the error counts, checkpoints through ``to_host`` -- gives the NumPy
path's results. The real CuPy run is the GPU issue's.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from models import data
from models.errors import ParamError
from models.mlp_jobman import train_mnist
from tests.helpers.mlp import RecordingChannel


def standin_cupy() -> types.ModuleType:
    module = types.ModuleType("cupy")
    module.__dict__.update({name: getattr(np, name) for name in dir(np) if not name.startswith("_")})
    module.asnumpy = np.asarray
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda device: {"name": b"Stand-in GPU"})
    module.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: types.SimpleNamespace(id=0),
                                        Stream=types.SimpleNamespace(null=types.SimpleNamespace(
                                            synchronize=lambda: None)))
    return module


@pytest.fixture()
def on_standin(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", standin_cupy())
    monkeypatch.setattr(data, "_DEVICE_CACHE", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JOBMAN_SGD_STEP", raising=False)


SETTINGS = dict(learning_rate=0.1, n_hidden=20, L1_reg=0.0, L2_reg=0.0001, batch_size=20, n_iter=3)


def test_the_cupy_path_gives_the_numpy_paths_results(on_standin, small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    on_cpu = train_mnist(**SETTINGS, dataset=small_mnist, array_backend="numpy", sgd_step="per-step")
    on_gpu = train_mnist(**SETTINGS, dataset=small_mnist, array_backend="cupy")
    assert on_cpu.backend == "numpy:cpu" and on_gpu.backend == "cupy:Stand-in GPU"
    assert abs(on_gpu.best_validation_loss - on_cpu.best_validation_loss) <= 0.002
    assert abs(on_gpu.test_score - on_cpu.test_score) <= 0.002
    for name, array in on_cpu.params.items():
        assert type(on_gpu.params[name]) is np.ndarray and on_gpu.params[name].dtype == np.float32
        np.testing.assert_allclose(on_gpu.params[name], array, rtol=0, atol=1e-4)


def test_the_cupy_path_resumes_bit_identically(on_standin, small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = dict(**SETTINGS, dataset=small_mnist, array_backend="cupy")
    straight = train_mnist(**options)
    first = train_mnist(**options, channel=RecordingChannel(stop_at=[2]), checkpoint=tmp_path / "c.npz")
    assert not first.completed and (tmp_path / "c.npz").exists()
    resumed = train_mnist(**options, channel=RecordingChannel(), checkpoint=tmp_path / "c.npz")
    assert resumed.completed and resumed.best_validation_loss == straight.best_validation_loss
    for name, array in straight.params.items():
        assert np.array_equal(resumed.params[name], array), name


def test_deferred_step_on_the_gpu_is_refused(on_standin, small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamError, match="sgd_step='deferred' cannot run here: it runs on NumPy only"):
        train_mnist(**SETTINGS, dataset=small_mnist, array_backend="cupy", sgd_step="deferred")
