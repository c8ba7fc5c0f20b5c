"""The Jobman experiment on a small slice of the real MNIST, on NumPy: sane errors, progress in the
state, checkpoint and bit-identical resume, bad parameters. The channel here is a small stand-in
recording what the experiment asks of it; the real worker's channel is tested with the worker."""
from __future__ import annotations

import math
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from models import mlp_jobman
from models.checkpoint import CHECKPOINT_NAME
from models.errors import CheckpointError, ParamError
from models.mlp_jobman import TrainingInterrupted, experiment, sgd_optimization_mnist, train_mnist
from tests.helpers.mlp import N_TRAIN, RecordingChannel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DD(dict):
    """A dict with attribute access, as the worker hands to experiments (jobstore is not imported:
    models depend on nothing of the project)."""

    __getattr__ = dict.__getitem__

    def __setattr__(self, key, value):
        self[key] = value


def job_state(small_mnist, **overrides):
    state = DD(learning_rate=0.1, n_hidden=30, L1_reg=0.0, L2_reg=0.0001, n_iter=6, batch_size=20,
               dataset=small_mnist, array_backend="numpy")
    state.update(overrides)
    return state


def test_short_run_reaches_a_sane_error(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = job_state(small_mnist)
    channel = RecordingChannel(state=state)
    assert experiment(state, channel) is channel.COMPLETE
    assert 0.0 < state.best_validation_loss < 0.2  # chance is 0.9
    assert 0.0 < state.test_score < 0.2
    assert state.minutes_trained > 0
    # the best validation happens at the end of an epoch (validation every 100 minibatches here)
    assert (state.iter + 1) % (N_TRAIN // 20) == 0 and state.iter < 6 * 100
    assert state.epoch == 6 and state.iteration == 600
    assert state.device == "numpy:cpu"
    assert not (tmp_path / CHECKPOINT_NAME).exists()  # finished: nothing left to resume


def test_progress_is_saved_at_every_validation(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = job_state(small_mnist, n_iter=4)
    channel = RecordingChannel(state=state)
    experiment(state, channel)
    epochs = [saved["epoch"] for saved in channel.saved]
    assert epochs == [1, 2, 3, 4]
    for saved in channel.saved:
        assert saved["iteration"] == saved["epoch"] * 100
        assert 0 <= saved["validation_error"] <= 1 and saved["best_validation_loss"] <= saved["validation_error"]
    assert channel.switches >= 4 * 100 // 50 - 1


@pytest.mark.parametrize("L1_reg", [0.0, 0.0001], ids=["deferred-step", "per-step"])
@pytest.mark.parametrize("stops", [[3], [2, 5], [4]], ids=["once", "twice", "at-a-validation"])
def test_resume_is_bit_identical(small_mnist, tmp_path, monkeypatch, stops, L1_reg):
    settings = dict(learning_rate=0.05, n_hidden=20, L1_reg=L1_reg, L2_reg=0.0001, batch_size=20, n_iter=4)
    options = dict(dataset=small_mnist, array_backend="numpy")
    (tmp_path / "straight").mkdir()
    monkeypatch.chdir(tmp_path / "straight")
    straight = train_mnist(**settings, **options, channel=RecordingChannel())
    assert straight.completed

    (tmp_path / "interrupted").mkdir()
    monkeypatch.chdir(tmp_path / "interrupted")
    checkpoint = tmp_path / "interrupted" / CHECKPOINT_NAME
    # switch() is asked every 50 minibatches; stop at the given asks, one run per stop
    for stop in stops:
        state = DD(**settings, **options)
        channel = RecordingChannel(stop_at=[stop], state=state)
        assert experiment(state, channel) is channel.INCOMPLETE
        assert checkpoint.exists()
        assert state.iteration % 50 == 0 and state.iteration > 0
        assert channel.saved[-1]["iteration"] == state.iteration  # saved before returning
    resumed_state = DD(**settings, **options)
    assert experiment(resumed_state, RecordingChannel(state=resumed_state)) is None
    assert not checkpoint.exists()

    assert resumed_state.best_validation_loss == straight.best_validation_loss
    assert resumed_state.test_score == straight.test_score
    assert resumed_state.iter == straight.best_iter
    final = train_mnist(**settings, **options)  # the same run once more, to read its parameters
    for name, array in straight.params.items():
        assert np.array_equal(final.params[name], array)
    # and the resumed run's parameters: run it again with interruption, keeping the result object
    monkeypatch.chdir(tmp_path)
    first = train_mnist(**settings, **options, channel=RecordingChannel(stop_at=[stops[0]]),
                        checkpoint=tmp_path / "again.npz")
    assert not first.completed
    second = train_mnist(**settings, **options, channel=RecordingChannel(), checkpoint=tmp_path / "again.npz")
    assert second.completed
    for name, array in straight.params.items():
        assert array.dtype == np.float32
        assert np.array_equal(second.params[name], array), name


def test_save_message_checkpoints_and_goes_on(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []

    class SaveChannel(RecordingChannel):
        def save(self):
            seen.append((tmp_path / CHECKPOINT_NAME).exists())
            super().save()

    state = job_state(small_mnist, n_iter=2)
    assert experiment(state, SaveChannel(stop_at=[1], message="save", state=state)) is None
    assert True in seen  # a checkpoint was on disk when the channel saved
    assert state.epoch == 2 and not (tmp_path / CHECKPOINT_NAME).exists()


def test_finish_up_stops_like_stop(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = job_state(small_mnist)
    assert experiment(state, RecordingChannel(stop_at=[1], message="finish-up", state=state)) is True
    assert (tmp_path / CHECKPOINT_NAME).exists() and state.iteration == 50


def test_checkpoint_of_another_run_is_refused(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = job_state(small_mnist)
    experiment(state, RecordingChannel(stop_at=[1]))
    other = job_state(small_mnist, n_hidden=31)
    with pytest.raises(CheckpointError) as info:
        experiment(other, RecordingChannel())
    assert "n_hidden" in str(info.value) and "\n" not in str(info.value)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="unreadable"):
        experiment(job_state(small_mnist), RecordingChannel())


@pytest.mark.parametrize("key,value", [("learning_rate", -0.1), ("learning_rate", "fast"), ("n_hidden", 0),
                                       ("n_hidden", 2.5), ("batch_size", 0), ("batch_size", 10 ** 6),
                                       ("L2_reg", -1.0), ("n_iter", 0), ("L1_reg", float("nan")),
                                       ("array_backend", "tpu"), ("sgd_step", "fast")])
def test_bad_parameters_are_one_line_errors(small_mnist, tmp_path, monkeypatch, key, value):
    monkeypatch.chdir(tmp_path)
    state = job_state(small_mnist, **{key: value})
    with pytest.raises((ParamError, mlp_jobman.ModelsError)) as info:
        experiment(state, RecordingChannel())
    message = str(info.value)
    assert "\n" not in message and repr(value) in message or str(value) in message


def test_sgd_step_choice(small_mnist, tmp_path, monkeypatch):
    """sgd_step / $JOBMAN_SGD_STEP: both steps give the same result up to rounding; 'deferred' where it
    cannot run (L1_reg > 0) is a one-line error naming the value and the alternatives."""
    monkeypatch.chdir(tmp_path)
    settings = dict(learning_rate=0.1, n_hidden=20, L1_reg=0.0, L2_reg=0.0001, batch_size=20, n_iter=2,
                    dataset=small_mnist, array_backend="numpy")
    per_step = train_mnist(**settings, sgd_step="per-step")
    monkeypatch.setenv("JOBMAN_SGD_STEP", "deferred")
    deferred = train_mnist(**settings)
    assert abs(deferred.best_validation_loss - per_step.best_validation_loss) <= 0.002
    for name, array in per_step.params.items():
        np.testing.assert_allclose(deferred.params[name], array, rtol=0, atol=1e-4)
        assert not np.array_equal(deferred.params[name], array) or not array.any()  # not the same code
    with pytest.raises(ParamError, match="sgd_step='deferred' cannot run here: L1_reg=0.001 .*'per-step' or 'auto'"):
        train_mnist(**{**settings, "L1_reg": 0.001})
    monkeypatch.setenv("JOBMAN_SGD_STEP", "sometimes")
    with pytest.raises(ParamError, match="JOBMAN_SGD_STEP='sometimes' is not accepted: accepted values are auto"):
        train_mnist(**settings)


def test_sgd_optimization_mnist_is_the_tutorials_call(small_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = sgd_optimization_mnist(0.1, 30, 0.0, 0.0001, 20, 3, dataset=small_mnist)
    best, test, minutes, best_iter = result
    assert 0 < best < 0.25 and 0 < test < 0.25 and minutes > 0 and isinstance(best_iter, int)
    assert "Optimization complete" in capsys.readouterr().out
    with pytest.raises(TrainingInterrupted, match="resume"):
        sgd_optimization_mnist(0.1, 30, 0.0, 0.0001, 20, 3, dataset=small_mnist,
                               channel=RecordingChannel(stop_at=[1]))
    assert (tmp_path / CHECKPOINT_NAME).exists()


def test_state_may_be_a_plain_dict(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = dict(job_state(small_mnist, n_iter=1))
    experiment(state, RecordingChannel())
    assert math.isfinite(state["best_validation_loss"]) and state["epoch"] == 1


def _run_with_stderr(small_mnist, tmp_path, stderr_fd):
    code = ("from models.mlp_jobman import sgd_optimization_mnist\n"
            f"sgd_optimization_mnist(0.1, 20, 0.0, 0.0001, 20, 2, dataset={small_mnist!r}, array_backend='numpy')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr_fd,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)


def test_progress_line_on_a_terminal_only(small_mnist, tmp_path):
    primary, secondary = pty.openpty()  # a real terminal for stderr
    try:
        proc = _run_with_stderr(small_mnist, tmp_path, secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child's side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    assert proc.returncode == 0
    on_terminal = b"".join(chunks).decode()
    assert "\repoch 1/2  iter 100  valid " in on_terminal and "\repoch 2/2  iter 200" in on_terminal
    piped = _run_with_stderr(small_mnist, tmp_path, subprocess.PIPE)
    assert piped.returncode == 0 and piped.stderr == b""  # quiet in logs
    assert b"Optimization complete" in piped.stdout
