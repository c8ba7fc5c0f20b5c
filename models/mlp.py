"""The multilayer perceptron of the 2010 deeplearning.net tutorial, its SGD step and its early stopping,
written once against an array module ``xp`` (NumPy or CuPy; see :mod:`models.backend`).

Model: 784 -> tanh(n_hidden) -> softmax(10). The hidden weights are drawn uniform in
+-sqrt(6 / (784 + n_hidden)) from ``numpy.random.RandomState(seed)`` (1234 in the tutorial); both biases
and the output layer start at zero (:mod:`models.params`). Cost of a minibatch: mean negative log-likelihood
+ L1_reg * (|W1| + |W2|) + L2_reg * (W1**2 + W2**2), sums over the entries of both weight matrices.
Training: plain minibatch SGD in the data's order, every gradient taken at the old parameters (as
Theano's simultaneous updates), early stopping with the tutorial's constants.

Speed at the tutorial's batch of 20: each step is ~6 MFLOP, so the cost is the number of array calls
per step rather than arithmetic. :class:`SGD` therefore preallocates every buffer, writes each result
with ``out=`` or in place, folds ``-learning_rate / batch_size`` into the output error once, takes
the softmax + NLL gradient directly (p - onehot, with the one-hot targets built once per run), and
applies the L2 term as one in-place decay. The same calls run on CuPy (all of them accept ``out=``);
the elementwise groups are marked where a fused kernel could later replace them. On a CPU,
:func:`make_stepper` gives :func:`train` :class:`models.deferred.DeferredSGD` instead where it applies
(the same iterates, with the first layer's update deferred over blocks of steps); :class:`SGD` is then
the reference. Both are driven through one interface, :class:`models.stepper.Stepper`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy

from models.backend import Gemm, reducers
from models.deferred import DeferredSGD
from models.errors import ParamError
from models.params import Params, one_hot
from models.stepper import PerStepSGD, Stepper

SEED = 1234
PATIENCE_ITERS = 10000
"""Look at this many minibatches regardless (the tutorial's ``patience``)."""
PATIENCE_INCREASE = 2
"""On a significant improvement at iteration i, wait until iteration i * 2 at least."""
IMPROVEMENT_THRESHOLD = 0.995
"""A relative improvement of at least 0.5% of the validation error is significant."""
EVAL_CHUNK_ROWS = 10000
"""Rows per matrix product when counting errors on the validation and test sets."""
POLL_EVERY_STEPS = 50
"""How often (in minibatches) the training loop asks its caller whether to stop (~10 ms on a CPU)."""

DEFERRED_MAX_BATCH = 200
"""The default step is the deferred one up to this batch size: its gain shrinks as the per-step
products widen (0.58x the time per example at 20, 0.83x at 100, 0.98x at 200, n_hidden 100) while
its cached panels grow with the batch (n_examples * batch_size * 2 numbers)."""


def cost_and_gradients(params: Params, x: Any, y: Any, L1_reg: float, L2_reg: float,
                       xp: Any = numpy) -> tuple[float, Params]:
    """The minibatch cost and its exact gradient, written plainly (reference for tests and checks)."""
    W1, b1, W2, b2 = params.W1, params.b1, params.W2, params.b2
    batch = x.shape[0]
    h = xp.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))
    rows = xp.arange(batch)
    nll = -log_p[rows, y].mean()
    cost = (nll + L1_reg * (xp.abs(W1).sum() + xp.abs(W2).sum())
            + L2_reg * ((W1 ** 2).sum() + (W2 ** 2).sum()))
    dz = xp.exp(log_p)
    dz[rows, y] -= 1
    dz /= batch
    dh = (dz @ W2.T) * (1 - h ** 2)
    grads = Params(W1=x.T @ dh + L1_reg * xp.sign(W1) + 2 * L2_reg * W1, b1=dh.sum(axis=0),
                   W2=h.T @ dz + L1_reg * xp.sign(W2) + 2 * L2_reg * W2, b2=dz.sum(axis=0))
    return float(cost), grads


class SGD:
    """One in-place SGD step of the tutorial's cost on a minibatch, with preallocated buffers.

    ``step(x, t)`` takes a (batch, 784) minibatch and its (batch, 10) one-hot targets, and updates
    ``params`` in place: W <- W - lr * (dNLL/dW + L1_reg * sign(W) + 2 * L2_reg * W), likewise for the
    biases without penalties, every gradient taken at the old parameters. The weight updates are
    W <- decay * W + (scaled gradient product) in one :class:`~models.backend.Gemm` call each."""

    def __init__(self, params: Params, batch_size: int, learning_rate: float, L1_reg: float, L2_reg: float,
                 xp: Any = numpy, gemm: Gemm | None = None) -> None:
        self.params, self.xp = params, xp
        dtype = params.W1.dtype
        scalar = numpy.dtype(dtype).type
        n_in, n_hidden = params.W1.shape
        n_out = params.W2.shape[1]
        self.gemm = Gemm(xp, dtype) if gemm is None else gemm
        self.sum, self.max = reducers(xp)
        self.batch_size = batch_size
        self.neg_lr_per_example = scalar(-learning_rate / batch_size)
        self.decay = float(scalar(1.0 - 2.0 * learning_rate * L2_reg))  # the L2 term as a scaling
        self.l1_step = scalar(learning_rate * L1_reg)
        self.h = xp.empty((batch_size, n_hidden), dtype=dtype)
        self.dh = xp.empty((batch_size, n_hidden), dtype=dtype)
        self.tmp_h = xp.empty((batch_size, n_hidden), dtype=dtype)
        self.z = xp.empty((batch_size, n_out), dtype=dtype)
        self.row = xp.empty((batch_size, 1), dtype=dtype)
        self.gb1 = xp.empty((n_hidden,), dtype=dtype)
        self.gb2 = xp.empty((n_out,), dtype=dtype)
        if L1_reg != 0.0:
            self.sW1 = xp.empty((n_in, n_hidden), dtype=dtype)
            self.sW2 = xp.empty((n_hidden, n_out), dtype=dtype)

    def step(self, x: Any, t: Any) -> None:
        xp, p, gemm = self.xp, self.params, self.gemm
        W1, b1, W2, b2 = p.W1, p.b1, p.W2, p.b2
        h, dh, tmp, z, row = self.h, self.dh, self.tmp_h, self.z, self.row
        # forward: h = tanh(x W1 + b1); z = softmax(h W2 + b2)
        gemm(x, W1, h)
        h += b1
        xp.tanh(h, out=h)
        gemm(h, W2, z)
        z += b2
        # [fusable] softmax, then the output error scaled by -lr/B: -lr * dNLL/dlogits
        self.max(z, axis=1, keepdims=True, out=row)
        z -= row
        xp.exp(z, out=z)
        self.sum(z, axis=1, keepdims=True, out=row)
        z /= row
        z -= t
        z *= self.neg_lr_per_example
        # back through the hidden layer at the old W2: dh = (z W2^T) * (1 - h^2)
        gemm(z, W2.T, dh)
        # [fusable] tanh derivative
        xp.multiply(h, h, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        dh *= tmp
        self.sum(z, axis=0, out=self.gb2)
        self.sum(dh, axis=0, out=self.gb1)
        if self.l1_step != 0:  # sign of the old weights, before they change
            xp.sign(W2, out=self.sW2)
            xp.sign(W1, out=self.sW1)
        # W <- decay * W + (-lr) * data gradient, one BLAS call each
        gemm(h.T, z, W2, beta=self.decay)
        gemm(x.T, dh, W1, beta=self.decay)
        if self.l1_step != 0:
            self.sW2 *= self.l1_step
            W2 -= self.sW2
            self.sW1 *= self.l1_step
            W1 -= self.sW1
        b2 += self.gb2
        b1 += self.gb1


def deferred_unavailable(xp: Any, gemm: Gemm, L1_reg: float) -> str | None:
    """Why the deferred step cannot run (None when it can)."""
    if xp is not numpy:
        return "it runs on NumPy only"
    if not gemm.fused:
        return "it needs SciPy's BLAS (pip install scipy, or the [mnist] extra)"
    if L1_reg != 0.0:
        return f"L1_reg={L1_reg} needs the sign of W1 at every step"
    return None


def make_stepper(params: Params, train_x: Any, train_y: Any, *, learning_rate: float, L1_reg: float,
                 L2_reg: float, batch_size: int, xp: Any, gemm: Gemm, deferred: bool | None,
                 per_step_block: int) -> Stepper:
    """The step :func:`train` runs, by the rules of ``sgd_step`` (``deferred``: None for auto, True for
    deferred, False for per-step). Auto takes :class:`~models.deferred.DeferredSGD` where it applies
    (:func:`deferred_unavailable` says why not) and pays (``batch_size <= DEFERRED_MAX_BATCH``);
    asking for it where it cannot run is a ParamError. ``per_step_block`` is the per-step SGD's
    ``block_steps`` (train() passes ``poll_every``); the deferred step has its own."""
    why_not = deferred_unavailable(xp, gemm, L1_reg)
    if deferred is None:
        deferred = why_not is None and batch_size <= DEFERRED_MAX_BATCH
    elif deferred and why_not is not None:
        raise ParamError(f"sgd_step='deferred' cannot run here: {why_not}; use 'per-step' or 'auto'")
    if deferred:
        return DeferredSGD(params, train_x, train_y, batch_size, learning_rate, L2_reg, gemm)
    sgd = SGD(params, batch_size, learning_rate, L1_reg, L2_reg, xp, gemm)
    return PerStepSGD(sgd.step, train_x, one_hot(train_y, xp, params.W1.dtype), batch_size, per_step_block)


def count_errors(params: Params, x: Any, y: Any, xp: Any = numpy, chunk_rows: int = EVAL_CHUNK_ROWS,
                 gemm: Gemm | None = None) -> int:
    """How many of the rows of ``x`` the network misclassifies (large products, one host sync)."""
    gemm = Gemm(xp, params.W1.dtype) if gemm is None else gemm
    n_rows = int(x.shape[0])
    rows = min(chunk_rows, n_rows)
    h = xp.empty((rows, params.W1.shape[1]), dtype=params.W1.dtype)
    z = xp.empty((rows, params.W2.shape[1]), dtype=params.W2.dtype)
    wrong = 0
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        hh, zz = h[:stop - start], z[:stop - start]
        gemm(x[start:stop], params.W1, hh)
        hh += params.b1
        xp.tanh(hh, out=hh)
        gemm(hh, params.W2, zz)
        zz += params.b2
        wrong = wrong + xp.count_nonzero(xp.argmax(zz, axis=1) != y[start:stop])
    return int(wrong)


def error_rate(params: Params, x: Any, y: Any, xp: Any = numpy, gemm: Gemm | None = None) -> float:
    """The fraction of misclassified rows (0.0202 = 2.02%), as the tutorial's zero-one loss."""
    return count_errors(params, x, y, xp, gemm=gemm) / int(y.shape[0])


@dataclass
class LoopState:
    """Everything of the training loop besides the parameters: what a checkpoint must hold to resume
    exactly. ``next_iter`` counts minibatches over all epochs (the tutorial's ``iter``, plus one)."""

    next_iter: int = 0
    patience: int = PATIENCE_ITERS
    best_validation_loss: float = math.inf
    best_iter: int = 0
    test_score: float = 0.0
    validation_error: float = math.nan
    done: bool = False
    elapsed_s: float = 0.0
    timings: list[float] = field(default_factory=list, repr=False)  # seconds per epoch, this process


def epoch_of(next_iter: int, n_train_batches: int) -> int:
    """Epochs started so far (1-based as the tutorial's ``epoch``) given the next iteration to run."""
    return max(1, -(-next_iter // n_train_batches)) if next_iter else 0


@dataclass(frozen=True)
class _Schedule:
    """Where :func:`train` cuts its segments of steps: at the end of the stepper's block (within the
    epoch), at each validation point, after the step at which patience runs out, and at the end of
    training. All depend on the iteration only, so a resumed run cuts (and computes) exactly where an
    uninterrupted one does."""

    n_train_batches: int
    total_iters: int
    validation_frequency: int
    block_steps: int
    poll_every: int

    @classmethod
    def of(cls, n_train_batches: int, n_epochs: int, block_steps: int, poll_every: int) -> _Schedule:
        return cls(n_train_batches, n_epochs * n_train_batches, min(n_train_batches, PATIENCE_ITERS // 2),
                   block_steps, poll_every)

    def segments(self, loop: LoopState) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` iterations of each segment from ``loop.next_iter`` on, while training goes
        on; ``loop.patience`` and ``loop.done`` are read anew before each segment."""
        it = loop.next_iter
        while it < self.total_iters and not loop.done:
            pos = it % self.n_train_batches
            stop = it - pos + min((pos // self.block_steps + 1) * self.block_steps, self.n_train_batches)
            stop = min(stop, (it // self.validation_frequency + 1) * self.validation_frequency, self.total_iters)
            if loop.patience >= it:
                stop = min(stop, loop.patience + 1)
            yield it, stop
            it = stop

    def in_epoch(self, start: int, stop: int) -> tuple[int, int]:
        """The segment as minibatch indices within its epoch (what :meth:`Stepper.run` takes)."""
        pos = start % self.n_train_batches
        return pos, pos + stop - start

    def validates(self, it: int) -> bool:
        return it % self.validation_frequency == 0

    def polls(self, start: int, stop: int) -> bool:
        return stop // self.poll_every != start // self.poll_every


@dataclass(frozen=True)
class _Validation:
    """The tutorial's early stopping: error rates of ``params`` as they are now, on the validation set
    and (at each new best) on the test set."""

    params: Params
    valid: tuple[Any, Any]
    test: tuple[Any, Any]
    xp: Any
    gemm: Gemm

    def __call__(self, loop: LoopState, last: int) -> None:
        """Validate after iteration ``last``; a significant improvement extends the patience."""
        loop.validation_error = error_rate(self.params, *self.valid, self.xp, self.gemm)
        if loop.validation_error < loop.best_validation_loss:
            if loop.validation_error < loop.best_validation_loss * IMPROVEMENT_THRESHOLD:
                loop.patience = max(loop.patience, last * PATIENCE_INCREASE)
            loop.best_validation_loss = loop.validation_error
            loop.best_iter = last
            loop.test_score = error_rate(self.params, *self.test, self.xp, self.gemm)


def _tell_caller(loop: LoopState, it: int, validated: bool, schedule: _Schedule,
                 on_validation: Callable[[LoopState, int], None] | None,
                 poll: Callable[[LoopState], bool] | None) -> bool:
    """After a validation or at a poll point: ``on_validation`` (after a validation), then ``poll``
    unless training has ended; True when ``poll`` asks to stop."""
    if validated and on_validation is not None:
        on_validation(loop, epoch_of(it, schedule.n_train_batches))
    return poll is not None and not loop.done and it < schedule.total_iters and poll(loop)


class _Clock:
    """The run's wall time into the loop state: ``elapsed_s`` adds this process's time to what earlier
    processes recorded, ``timings`` gets the seconds of each epoch that ends in this process."""

    def __init__(self, loop: LoopState, n_train_batches: int) -> None:
        self.loop, self.n_train_batches = loop, n_train_batches
        self.started = self.epoch_started = time.perf_counter()
        self.elapsed_before = loop.elapsed_s

    def lap(self, it: int) -> None:
        """Close the epoch if iteration ``it`` is the first of the next one."""
        if it % self.n_train_batches == 0:
            now = time.perf_counter()
            self.loop.timings.append(now - self.epoch_started)
            self.epoch_started = now

    def update(self) -> None:
        self.loop.elapsed_s = self.elapsed_before + (time.perf_counter() - self.started)


def train(params: Params, train_x: Any, train_y: Any, valid_x: Any, valid_y: Any, test_x: Any, test_y: Any, *,
          learning_rate: float, L1_reg: float, L2_reg: float, batch_size: int, n_epochs: int,
          xp: Any = numpy, loop: LoopState | None = None,
          on_validation: Callable[[LoopState, int], None] | None = None,
          poll: Callable[[LoopState], bool] | None = None, poll_every: int = POLL_EVERY_STEPS,
          deferred: bool | None = None) -> LoopState:
    """Run (or resume, given ``loop``) the tutorial's SGD with early stopping; returns the loop state.

    The loop ends, with ``done`` set, after ``n_epochs`` epochs or once ``patience <= iter``, as the
    tutorial's ``while (epoch < n_epochs) and (not done_looping)``. The validation error is measured
    every ``min(n_train_batches, patience / 2)`` minibatches, and the test error at each new best.
    ``on_validation(loop, epoch)`` is called after each validation; ``poll(loop)`` about every
    ``poll_every`` minibatches and after each validation, and returning True stops the loop at once
    (``done`` stays False; the caller has saved what it needs to resume).

    ``deferred`` picks the step once (:func:`make_stepper`): :class:`models.deferred.DeferredSGD` (the
    first layer's update deferred over blocks of a few steps; same iterates up to rounding, faster on a
    CPU) or the per-step :class:`SGD`; None takes the deferred one where it applies and pays. The steps
    run in segments cut at the stepper's block boundaries, the validation points and the patience
    limit, which depend only on the iteration: a resumed run repeats exactly the computation of an
    uninterrupted one."""
    n_train_batches = int(train_x.shape[0]) // batch_size if batch_size >= 1 else 0
    if n_train_batches < 1:
        raise ParamError(f"batch_size={batch_size!r} does not fit the {int(train_x.shape[0])} training examples: "
                         "accepted values are 1 to the size of the training set")
    loop = LoopState() if loop is None else loop
    gemm = Gemm(xp, params.W1.dtype)
    stepper = make_stepper(params, train_x, train_y, learning_rate=learning_rate, L1_reg=L1_reg, L2_reg=L2_reg,
                           batch_size=batch_size, xp=xp, gemm=gemm, deferred=deferred, per_step_block=poll_every)
    schedule = _Schedule.of(n_train_batches, n_epochs, stepper.block_steps, poll_every)
    validate = _Validation(params, (valid_x, valid_y), (test_x, test_y), xp, gemm)
    clock = _Clock(loop, n_train_batches)
    with stepper.errstate():
        for start, it in schedule.segments(loop):
            stepper.run(*schedule.in_epoch(start, it))
            validated = schedule.validates(it)
            synced = validated or (poll is not None and schedule.polls(start, it))
            if synced:
                stepper.store()  # the current parameters into params: for the error counts, the poll's checkpoint
            if validated:
                validate(loop, it - 1)
            if loop.patience <= it - 1:
                loop.done = True
            loop.next_iter = it
            clock.lap(it)
            if synced:
                clock.update()
                if _tell_caller(loop, it, validated, schedule, on_validation, poll):
                    return loop
    stepper.store()
    loop.done = True
    clock.update()
    return loop
