"""The tutorial's Jobman experiment: ``experiment(state, channel)`` and ``sgd_optimization_mnist``.

``experiment`` reads the hyper-parameters from the state (learning_rate, n_hidden, L1_reg, L2_reg,
batch_size, n_iter = number of epochs; optional: seed, dataset, array_backend, blas_threads, sgd_step), trains
the 2010 tutorial's MLP on MNIST, and stores ``best_validation_loss``, ``test_score``,
``minutes_trained`` and ``iter`` (the iteration of the best validation, as the tutorial) in the state.

While it trains it keeps the state current at every validation (``epoch``, ``iteration``,
``validation_error`` and the best-so-far results), reports ``validation_error`` and ``test_score``
per epoch with ``channel.report`` where the channel has one (jobstore's: the dashboard's and
``jobman plot --curves``' learning curves) and calls ``channel.save()``, so that
``jobman sqlstatus --print=epoch`` shows progress. It asks ``channel.switch()`` every
:data:`~models.mlp.POLL_EVERY_STEPS` minibatches: on ``'stop'`` or ``'finish-up'`` it writes a
checkpoint into the job directory (the working directory) and returns ``channel.INCOMPLETE``; on
``'save'`` it writes one and goes on. A later run of the same job resumes from that checkpoint and
ends bit for bit where an uninterrupted run would have (on NumPy).

BLAS threads: each training run limits BLAS to ``blas_threads`` threads (state key, else
``$JOBMAN_BLAS_THREADS``, else 1) through threadpoolctl when it is installed. At the tutorial's batch
of 20 the matrix products are too small to gain from threads, and a node usually runs one worker
per core (``jobdispatch --repeat_jobs``), where more threads only oversubscribe the cores. The
limit cannot be set by environment variables here: the BLAS library has read them when NumPy was
first imported, before any job was claimed.

SGD step: ``sgd_step`` (state key, else ``$JOBMAN_SGD_STEP``, else ``auto``) is ``deferred`` (the first
layer's update deferred over blocks of steps, :mod:`models.deferred`: the same iterates up to float
rounding, about 1.7x faster per epoch on a CPU: bench/bench_mlp.py), ``per-step``
(:class:`models.mlp.SGD`, the direct transcription) or ``auto`` (deferred where it can run: NumPy with
SciPy's BLAS and ``L1_reg == 0``, and batches of at most 200).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from models import data as mnist_data
from models.backend import BACKEND_STATE_KEY, DTYPE, ArrayBackend, scipy_blas, select_backend
from models.checkpoint import CHECKPOINT_NAME, load_checkpoint, params_to_host, save_checkpoint
from models.errors import ModelsError, ParamError
from models.mlp import SEED, LoopState, epoch_of, train
from models.params import Params, init_params

DEFAULTS: dict[str, Any] = {"learning_rate": 0.01, "L1_reg": 0.00, "L2_reg": 0.0001, "n_iter": 50,
                            "batch_size": 20, "n_hidden": 10}
"""The tutorial's defaults (conf/mlp_jobman.conf)."""
SGD_STEP_ENV = "JOBMAN_SGD_STEP"
SGD_STEPS = {"auto": None, "deferred": True, "per-step": False}
BLAS_THREADS_ENV = "JOBMAN_BLAS_THREADS"
DEFAULT_BLAS_THREADS = 1
STOP_MESSAGES = ("stop", "finish-up")


class TrainingInterrupted(ModelsError):
    """``sgd_optimization_mnist`` was told to stop by its channel; its checkpoint is saved."""


@dataclass
class RunResult:
    """What a training run ended with; ``completed`` is False when a channel stopped it."""

    best_validation_loss: float
    test_score: float
    minutes_trained: float
    best_iter: int
    completed: bool
    epoch: int
    iteration: int
    backend: str
    params: dict[str, numpy.ndarray]  # the final parameters, on the host

    def as_tuple(self) -> tuple[float, float, float, int]:
        return (self.best_validation_loss, self.test_score, self.minutes_trained, self.best_iter)


def _number(name: str, value: Any, kind: type, low: float, low_inclusive: bool = True) -> Any:
    """A hyper-parameter converted to ``kind`` and range-checked, or a one-line ParamError."""
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        converted = kind(value)
    except (TypeError, ValueError, OverflowError):
        converted = None
    ok = converted is not None and math.isfinite(converted) and (
        converted >= low if low_inclusive else converted > low)
    if not ok:
        accepted = f"{'an integer' if kind is int else 'a number'} {'>=' if low_inclusive else '>'} {low:g}"
        raise ParamError(f"{name}={value!r} is not accepted: {name} must be {accepted}")
    return converted


def _blas_limits(threads: Any) -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS threads for the duration of the run (threadpoolctl), or do nothing without it."""
    if threads is None or str(threads).strip() == "":
        threads = os.environ.get(BLAS_THREADS_ENV) or DEFAULT_BLAS_THREADS
    count = _number("blas_threads", threads, int, 1)
    scipy_blas()  # loaded first, so that the limit reaches its BLAS library too
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - optional
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def _sgd_step(value: Any) -> bool | None:
    """``sgd_step`` (argument/state key, else ``$JOBMAN_SGD_STEP``, else auto) as train()'s ``deferred``."""
    origin = "sgd_step"
    if value is None or str(value).strip() == "":
        value, origin = os.environ.get(SGD_STEP_ENV) or "auto", SGD_STEP_ENV
    name = str(value).strip().lower()
    if name not in SGD_STEPS:
        raise ParamError(f"{origin}={value!r} is not accepted: accepted values are " + ", ".join(SGD_STEPS))
    return SGD_STEPS[name]


def _progress_line(loop: LoopState, epoch: int, n_epochs: int) -> None:
    speed = f"  {numpy.median(loop.timings[-5:]):.2f} s/epoch" if loop.timings else ""
    sys.stderr.write(f"\repoch {epoch}/{n_epochs}  iter {loop.next_iter}  valid {loop.validation_error:.2%}  "
                     f"best {loop.best_validation_loss:.2%}  test {loop.test_score:.2%}{speed}   ")
    sys.stderr.flush()


def train_mnist(learning_rate: float = 0.01, n_hidden: int = 10, L1_reg: float = 0.0, L2_reg: float = 0.0001,
                batch_size: int = 20, n_iter: int = 50, *, seed: int = SEED, dataset: str | None = None,
                array_backend: str | None = None, blas_threads: int | None = None, sgd_step: str | None = None,
                channel: Any = None,
                state: Any = None, checkpoint: str | os.PathLike[str] | None = None,
                progress: bool | None = None) -> RunResult:
    """Train the tutorial's MLP on MNIST and report how it ended (see the module docstring).

    ``checkpoint`` is the checkpoint file (default: ``mlp_checkpoint.npz`` in the working directory
    when a channel is given, none otherwise); an existing one is resumed. ``progress`` draws a live
    line on stderr (default: when stderr is a terminal)."""
    learning_rate = _number("learning_rate", learning_rate, float, 0.0, low_inclusive=False)
    n_hidden = _number("n_hidden", n_hidden, int, 1)
    L1_reg = _number("L1_reg", L1_reg, float, 0.0)
    L2_reg = _number("L2_reg", L2_reg, float, 0.0)
    batch_size = _number("batch_size", batch_size, int, 1)
    n_iter = _number("n_iter", n_iter, int, 1)
    seed = _number("seed", seed, int, 0)
    deferred = _sgd_step(sgd_step)
    backend: ArrayBackend = select_backend(array_backend)
    mnist = mnist_data.on_device(mnist_data.load_mnist(dataset), backend)
    if batch_size > len(mnist.train):
        raise ParamError(f"batch_size={batch_size} is larger than the {len(mnist.train)} training examples: "
                         "accepted values are 1 to the size of the training set")
    xp = backend.xp
    n_train_batches = len(mnist.train) // batch_size
    if checkpoint is None and channel is not None:
        checkpoint = Path.cwd() / CHECKPOINT_NAME
    config = {"learning_rate": learning_rate, "n_hidden": n_hidden, "L1_reg": L1_reg, "L2_reg": L2_reg,
              "batch_size": batch_size, "n_iter": n_iter, "seed": seed, "dtype": numpy.dtype(DTYPE).name,
              "sizes": [len(mnist.train), len(mnist.valid), len(mnist.test)]}

    loop: LoopState | None = None
    if checkpoint is not None and Path(checkpoint).exists():
        host, loop, rng = load_checkpoint(checkpoint, config)
        params = Params(**{name: backend.to_device(array) for name, array in host.items()})
    else:
        rng = numpy.random.RandomState(seed)
        params = init_params(n_hidden, rng, xp)
    show = sys.stderr.isatty() if progress is None else progress
    if state is not None:
        _put(state, "device", f"{backend.name}:{backend.device}")

    def write_checkpoint(current: LoopState) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, params_to_host(params, backend.to_host), current, rng, config)

    def on_validation(current: LoopState, epoch: int) -> None:
        if state is not None:
            for key, value in (("epoch", epoch), ("iteration", current.next_iter),
                               ("validation_error", current.validation_error),
                               ("best_validation_loss", current.best_validation_loss),
                               ("test_score", current.test_score), ("iter", current.best_iter),
                               ("minutes_trained", current.elapsed_s / 60.0)):
                _put(state, key, value)
        report = getattr(channel, "report", None)  # jobstore's channel keeps a metric history
        if report is not None:
            report(epoch, validation_error=float(current.validation_error), test_score=float(current.test_score))
        if channel is not None:
            channel.save()
        if show:
            _progress_line(current, epoch, n_iter)

    def poll(current: LoopState) -> bool:
        message = channel.switch()
        if message in STOP_MESSAGES or message == "save":
            write_checkpoint(current)
            if state is not None:
                _put(state, "iteration", current.next_iter)
                _put(state, "epoch", epoch_of(current.next_iter, n_train_batches))
            channel.save()
        return message in STOP_MESSAGES

    with _blas_limits(blas_threads):
        loop = train(params, mnist.train.x, mnist.train.y, mnist.valid.x, mnist.valid.y, mnist.test.x,
                     mnist.test.y, learning_rate=learning_rate, L1_reg=L1_reg, L2_reg=L2_reg,
                     batch_size=batch_size, n_epochs=n_iter, xp=xp, loop=loop, on_validation=on_validation,
                     poll=poll if channel is not None else None, deferred=deferred)
    if show:
        sys.stderr.write("\n")
    if loop.done and checkpoint is not None:  # finished: a stale checkpoint must not resume a rerun
        with contextlib.suppress(FileNotFoundError):
            os.unlink(checkpoint)
    return RunResult(best_validation_loss=float(loop.best_validation_loss), test_score=float(loop.test_score),
                     minutes_trained=loop.elapsed_s / 60.0, best_iter=int(loop.best_iter), completed=loop.done,
                     epoch=epoch_of(loop.next_iter, n_train_batches), iteration=loop.next_iter,
                     backend=f"{backend.name}:{backend.device}", params=params_to_host(params, backend.to_host))


def sgd_optimization_mnist(learning_rate: float = 0.01, n_hidden: int = 10, L1_reg: float = 0.00,
                           L2_reg: float = 0.0001, batch_size: int = 20, n_iter: int = 50,
                           **options: Any) -> tuple[float, float, float, int]:
    """The tutorial's function: train and return ``(best_validation_loss, test_score,
    minutes_trained, iter)``, errors as rates, ``iter`` the iteration of the best validation.

    ``options`` are those of :func:`train_mnist` (seed, dataset, array_backend, blas_threads,
    sgd_step, channel, state, checkpoint, progress). If a channel stops the run, the checkpoint is saved and
    :class:`TrainingInterrupted` is raised."""
    result = train_mnist(learning_rate, n_hidden, L1_reg, L2_reg, batch_size, n_iter, **options)
    if not result.completed:
        raise TrainingInterrupted(f"training stopped by the channel at iteration {result.iteration} "
                                  f"(epoch {result.epoch}); run again to resume from the checkpoint")
    print(f"Optimization complete. Best validation score of {result.best_validation_loss:.2%} obtained at "
          f"iteration {result.best_iter}, with test performance {result.test_score:.2%} "
          f"({result.minutes_trained:.3f} minutes, {result.backend})")
    return result.as_tuple()


def _get(state: Any, key: str, default: Any = None) -> Any:
    if isinstance(state, Mapping):
        return state.get(key, default)
    return getattr(state, key, default)


def _put(state: Any, key: str, value: Any) -> None:
    if hasattr(state, "__setitem__"):
        state[key] = value
    else:
        setattr(state, key, value)


def experiment(state: Any, channel: Any) -> Any:
    """The tutorial's experiment: hyper-parameters from ``state``, results into ``state``.

    Returns ``channel.COMPLETE`` when training ended, ``channel.INCOMPLETE`` when the channel asked
    it to stop (its checkpoint is in the working directory, which is the job's directory)."""
    params = {key: _get(state, key, default) for key, default in DEFAULTS.items()}
    result = train_mnist(params["learning_rate"], params["n_hidden"], params["L1_reg"], params["L2_reg"],
                         params["batch_size"], params["n_iter"], seed=_get(state, "seed", SEED),
                         dataset=_get(state, mnist_data.DATASET_STATE_KEY),
                         array_backend=_get(state, BACKEND_STATE_KEY), blas_threads=_get(state, "blas_threads"),
                         sgd_step=_get(state, "sgd_step"), channel=channel, state=state)
    _put(state, "epoch", result.epoch)
    _put(state, "iteration", result.iteration)
    _put(state, "minutes_trained", result.minutes_trained)
    if not result.completed:
        return getattr(channel, "INCOMPLETE", True)
    _put(state, "best_validation_loss", result.best_validation_loss)
    _put(state, "test_score", result.test_score)
    _put(state, "iter", result.best_iter)
    return getattr(channel, "COMPLETE", None)
