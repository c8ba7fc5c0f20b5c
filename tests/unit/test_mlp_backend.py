"""Choosing the array module without a GPU. The CuPy path itself cannot run on this machine (no CUDA
device); where a test needs CuPy to look present, it passes a stand-in loader, and says so."""
from __future__ import annotations

import sys
import types

import numpy
import pytest

from models import backend
from models.backend import cuda_devices_hidden, select_backend
from models.errors import ArrayBackendError


def loader_that_must_not_run():
    raise AssertionError("CuPy was probed although the rules say it should not be")


def fake_cupy_present():
    """Stand-in for a machine with CuPy and one GPU (none here): only the selection rule is tested."""
    return types.ModuleType("cupy"), "Fake GPU"


@pytest.mark.parametrize("value", ["numpy", "NumPy", " numpy "])
def test_env_var_forces_numpy_without_probing_cupy(value):
    chosen = select_backend(None, {"JOBMAN_ARRAY_BACKEND": value}, load_cupy=loader_that_must_not_run)
    assert chosen.name == "numpy" and chosen.xp is numpy
    assert "JOBMAN_ARRAY_BACKEND" in chosen.reason


def test_state_key_beats_env_var():
    chosen = select_backend("numpy", {"JOBMAN_ARRAY_BACKEND": "cupy"}, load_cupy=loader_that_must_not_run)
    assert chosen.name == "numpy" and "state key array_backend" in chosen.reason
    chosen = select_backend("cupy", {"JOBMAN_ARRAY_BACKEND": "numpy"}, load_cupy=fake_cupy_present)
    assert chosen.name == "cupy" and chosen.device == "Fake GPU"


def test_empty_values_mean_auto():
    chosen = select_backend("", {"JOBMAN_ARRAY_BACKEND": ""}, load_cupy=fake_cupy_present)
    assert chosen.name == "cupy" and "auto" in chosen.reason


@pytest.mark.parametrize("state,env,origin", [("tpu", None, "state key array_backend"),
                                              (None, "jax", "environment variable JOBMAN_ARRAY_BACKEND")])
def test_unknown_backend_is_one_line_naming_the_value(state, env, origin):
    environ = {} if env is None else {"JOBMAN_ARRAY_BACKEND": env}
    with pytest.raises(ArrayBackendError) as info:
        select_backend(state, environ, load_cupy=loader_that_must_not_run)
    message = str(info.value)
    assert "\n" not in message
    assert repr(state or env) in message and origin in message and "auto, numpy, cupy" in message


@pytest.mark.parametrize("visible", ["", "-1", "NoDevFiles", " "])
def test_cuda_visible_devices_hiding_every_gpu_gives_numpy(visible):
    chosen = select_backend(None, {"CUDA_VISIBLE_DEVICES": visible}, load_cupy=loader_that_must_not_run)
    assert chosen.name == "numpy" and "CUDA_VISIBLE_DEVICES" in chosen.reason


def test_cupy_requested_but_gpus_hidden_is_an_error():
    with pytest.raises(ArrayBackendError, match="CUDA_VISIBLE_DEVICES=''"):
        select_backend("cupy", {"CUDA_VISIBLE_DEVICES": ""}, load_cupy=loader_that_must_not_run)


@pytest.mark.parametrize("visible,hidden", [(None, False), ("0", False), ("1,0", False),
                                            ("GPU-5f2c1e2a-aaaa-bbbb", False), ("MIG-GPU-x/1/0", False),
                                            ("", True), ("-1", True), ("NoDevFiles", True), ("none", True)])
def test_cuda_devices_hidden(visible, hidden):
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    assert cuda_devices_hidden(environ) is hidden


def test_cupy_missing_gives_numpy_with_the_reason(monkeypatch):
    # None in sys.modules makes ``import cupy`` fail as if it were not installed (it is not, here;
    # this keeps the test meaningful on a GPU machine where it is).
    monkeypatch.setitem(sys.modules, "cupy", None)
    chosen = select_backend(None, {})
    assert chosen.name == "numpy" and "cupy does not import" in chosen.reason


def test_cupy_requested_but_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ArrayBackendError) as info:
        select_backend(None, {"JOBMAN_ARRAY_BACKEND": "cupy"})
    assert "jobman-ng[gpu]" in str(info.value) and "\n" not in str(info.value)


def test_cupy_without_a_device_falls_back(monkeypatch):
    """A CuPy that imports but whose CUDA runtime finds no device (stand-in module: no GPU here)."""
    fake = types.ModuleType("cupy")

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    chosen = select_backend(None, {})
    assert chosen.name == "numpy" and "no usable GPU" in chosen.reason


def test_cupy_with_a_device_is_chosen(monkeypatch):
    """The real loader against a stand-in CuPy that reports one device (no GPU here)."""
    fake = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: {"name": b"Stand-in H100"})
    fake.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: types.SimpleNamespace(id=0))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    chosen = select_backend(None, {"CUDA_VISIBLE_DEVICES": "0"})
    assert chosen.name == "cupy" and chosen.xp is fake and chosen.device == "Stand-in H100"


def test_numpy_backend_moves_nothing():
    chosen = select_backend("numpy", {})
    a = numpy.arange(6, dtype=numpy.float32).reshape(2, 3)
    assert chosen.to_device(a) is a and chosen.to_host(a) is a
    assert backend.DTYPE is numpy.float32
