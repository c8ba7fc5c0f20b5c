"""The tutorial's SGD with the first layer's weight update deferred over a block of a few steps: the
same iterates as :class:`models.mlp.SGD` (equal in exact arithmetic, within float rounding in practice),
about 1.7x faster per epoch on a CPU at the tutorial's batch of 20 (bench/bench_mlp.py).

Why: every step multiplies a 20 x 784 minibatch by the 784 x n_hidden weights W1 and then adds a
rank-20 update back into W1. BLAS runs such thin products at roughly half the speed of wide ones, and
the two of them are most of the step. Over a block of steps j = 0 .. K-1 starting from W1_0, with
d = 1 - 2 lr L2_reg (the L2 term as a decay) and g_i = -lr dNLL/dh_i (the scaled hidden-layer error):

    W1_j     = d^j W1_0 + sum_{i<j} d^(j-1-i) x_i^T g_i
    x_j W1_j = d^j (x_j W1_0 + sum_{i<j} (x_j x_i^T) g~_i),   g~_i = d^-(i+1) g_i
    W1_K     = d^K (W1_0 + sum_{i<K} x_i^T g~_i)

so ``x_j W1_0`` for the whole block is one wide product, the Gram blocks ``x_j x_i^T`` depend only on
the data (computed once per run and block), each step adds one small ``(20 x 20j) @ (20j x n_hidden)``
product, and the block ends with one wide update of W1. Both wide products use only the input columns
that are non-zero somewhere in the block (about 510 of MNIST's 784 pixels for 100 images): the rows
of W1 for the others only decay. A run keeps each block's rows restricted to those columns, with its
panels (about 100 MB for MNIST's 50,000 images), and frees them when it ends.

The first-layer bias, whose value at step j is ``b1_0 + sum_{i<j} d^(i+1) 1^T g~_i``, is folded into
the same small product as a rank-one term of the panel. The output bias is a row of the output weights
against a constant hidden unit (pre-activation 40, so tanh gives exactly 1 and its derivative exactly
0). Hidden units are padded to a multiple of 8 with units that stay zero, which BLAS handles faster
than odd sizes. The output layer (n_hidden x 10) is small and updated every step as in
:class:`~models.mlp.SGD`, the softmax computed on the transposed (10 x batch) logits, whose reductions
are cheaper in NumPy, and without subtracting the max logit first (softmax does not change under that
shift, which only guards exp's range): the block checks its denominators and is computed again with the
shift in the rare case one was out of range.

Chosen by :func:`models.mlp.make_stepper` on NumPy with SciPy's BLAS, ``L1_reg == 0`` (the L1 term
needs the sign of the current W1 at every step) and batches up to ``DEFERRED_MAX_BATCH``; elsewhere
the per-step :class:`~models.mlp.SGD` runs.
"""
from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import numpy

from models.backend import Gemm
from models.params import Params

BLOCK_STEPS = 5
"""Steps per block: 5 x 20 = 100 rows makes the wide products efficient while the per-step
correction (on average 2 earlier steps) stays small; 10 measured no better."""
PAD_UNITS = 8
"""Hidden units (plus the constant one) are padded to a multiple of this."""
SUM_MIN, SUM_MAX = 1e-30, 1e30
"""Softmax denominators sum(exp(z)) outside this range mean that some exp(z) under- or overflowed
without the max shift; the block is then computed again with it."""
CONSTANT_PREACTIVATION = 40.0
"""tanh(40) is exactly 1.0 in float32 and float64, so the constant unit's derivative is exactly 0."""


class _Block(NamedTuple):
    cols: Any  # the input columns not zero in every row of the block
    x: Any  # the block's rows, those columns only (contiguous)
    panels: list[Any]


class DeferredSGD:
    """SGD steps over ``train_x`` (C-contiguous, one row per example) in blocks of ``block_steps``;
    a :class:`models.stepper.Stepper` (by its members: a Protocol needs no import, and none is made).

    ``run(start, stop)`` performs the steps ``start .. stop-1`` of an epoch, counted in minibatches
    (minibatch ``k`` is rows ``k*batch_size .. (k+1)*batch_size``), which must lie in one block
    ``[b*block_steps, (b+1)*block_steps)``; full aligned blocks use panels cached for the run, any
    other range computes its own. Parameters live in internal padded arrays; ``store()`` copies them
    into ``params`` (done by :func:`models.mlp.train` before every validation, poll and return)."""

    def __init__(self, params: Params, train_x: Any, train_y: Any, batch_size: int, learning_rate: float,
                 L2_reg: float, gemm: Gemm, block_steps: int = BLOCK_STEPS) -> None:
        if not gemm.fused:
            raise ValueError("DeferredSGD needs SciPy's BLAS (Gemm.fused)")
        self.params, self.x, self.gemm = params, train_x, gemm
        self.dtype = dtype = numpy.dtype(params.W1.dtype)
        n_in, n_hidden = params.W1.shape
        n_out = params.W2.shape[1]
        self.n_hidden, self.n_out = n_hidden, n_out
        self.batch = B = batch_size
        self.block_steps = K = block_steps
        self.n_batches = int(train_x.shape[0]) // batch_size
        H = -(-(n_hidden + 1) // PAD_UNITS) * PAD_UNITS
        self.d = d = 1.0 - 2.0 * learning_rate * L2_reg
        self.dpow = [float(dtype.type(d ** j)) for j in range(K + 1)]
        self.dinv = [float(dtype.type(d ** -(j + 1))) for j in range(K)]
        self.inv_d = dtype.type(1.0 / d)
        self.neg_lr_per_example = dtype.type(-learning_rate / batch_size)
        # parameters, padded: hidden unit n_hidden is the constant one, the rest up to H stay zero
        self.W1a = numpy.zeros((n_in, H), dtype)
        self.b1a = numpy.zeros((H,), dtype)
        self.W2a = numpy.zeros((H, n_out), dtype)
        self.load()
        # targets as (batches, n_out, B), transposed and scaled by -lr/B: z - t in one subtraction
        n = self.n_batches * B
        onehot = numpy.zeros((n, n_out), dtype)
        onehot[numpy.arange(n), numpy.asarray(train_y[:n])] = self.neg_lr_per_example
        self.targets = numpy.ascontiguousarray(onehot.reshape(self.n_batches, B, n_out).transpose(0, 2, 1))
        # per-step powers: rows of step j scaled by d^j; the bias term's weights d^(i+1)
        self.row_pow = numpy.repeat(numpy.array([d ** j for j in range(K)]), B).astype(dtype)[:, None]
        self.bias_weights = numpy.repeat(numpy.array([d ** (i + 1) for i in range(K)]), B).astype(dtype)
        self.A = numpy.empty((K * B, H), dtype)  # pre-activations, then hidden activations, of the block
        self.G = numpy.empty((K * B, H), dtype)  # g~ of the block
        self.a_rows = [self.A[j * B:(j + 1) * B] for j in range(K)]
        self.g_rows = [self.G[j * B:(j + 1) * B] for j in range(K)]
        self.g_before = [self.G[:j * B] for j in range(K)]
        self.tmp = numpy.empty((B, H), dtype)
        self.ones = numpy.ones((B, H), dtype)
        self.zT = numpy.empty((n_out, B), dtype)
        self.col = numpy.empty((B,), dtype)
        self.sums = numpy.empty((K, B), dtype)  # softmax denominators of the block's steps
        self.sums_rows = list(self.sums)
        self.W2a_saved = numpy.empty_like(self.W2a)
        # scalars as arrays: NumPy 1.x spends microseconds converting a scalar operand at each call
        self.neg_lr_col = numpy.full((B,), self.neg_lr_per_example, dtype)
        self.inv_d_row = numpy.full((n_out,), self.inv_d, dtype)
        self.bias_step = numpy.empty((H,), dtype)
        self.gram = numpy.empty((K * B, K * B), dtype)
        self.W1c = numpy.empty_like(self.W1a)  # the rows of W1 for a block's non-zero inputs
        self._blocks: dict[int, _Block] = {}

    def load(self) -> None:
        """Take the parameters from ``params`` (at construction; again if the caller changed them)."""
        p, nh = self.params, self.n_hidden
        self.W1a[:, :nh] = p.W1
        self.b1a[:nh] = p.b1
        self.b1a[nh] = CONSTANT_PREACTIVATION
        self.W2a[:nh] = p.W2
        self.W2a[nh] = p.b2

    def store(self) -> None:
        """Write the current parameters into ``params`` (in place, so the caller's arrays stay valid)."""
        p, nh = self.params, self.n_hidden
        p.W1[...] = self.W1a[:, :nh]
        p.b1[...] = self.b1a[:nh]
        p.W2[...] = self.W2a[:nh]
        p.b2[...] = self.W2a[nh]

    def errstate(self) -> contextlib.AbstractContextManager[Any]:
        """The softmax without the max shift may overflow exp (:meth:`run` then redoes the block with
        the shift): the steps run with NumPy's warnings for that silenced."""
        return numpy.errstate(over="ignore", divide="ignore", invalid="ignore")

    def _block(self, x: Any, n: int) -> _Block:
        """What a range of ``n`` steps with rows ``x`` needs besides the parameters: its non-zero
        input columns, its rows restricted to them, and for each step j = 1 .. n-1 the (B, jB) panel
        of the Gram rows of step j against the earlier steps plus the bias term's rank-one part
        d^-j * 1 * w^T."""
        B, d = self.batch, self.d
        cols = numpy.flatnonzero(numpy.logical_or.reduce(x != 0, axis=0))
        if cols.size == 0:  # all-zero images: keep one column so that the products keep their shapes
            cols = numpy.zeros(1, dtype=numpy.intp)
        xc = numpy.ascontiguousarray(x[:, cols])
        gram = self.gram[:n * B, :n * B]
        self.gemm(xc, xc.T, gram)
        panels: list[Any] = [None]
        for j in range(1, n):
            panel = gram[j * B:(j + 1) * B, :j * B] + self.dtype.type(d ** -j) * self.bias_weights[:j * B]
            panels.append(numpy.ascontiguousarray(panel, dtype=self.dtype))
        return _Block(cols, xc, panels)

    def run(self, start: int, stop: int) -> None:
        """Steps ``start .. stop-1`` (minibatch indices within the epoch, inside one block)."""
        K, B, n = self.block_steps, self.batch, stop - start
        block, offset = divmod(start, K)
        if not (0 < n <= K - offset and stop <= self.n_batches):
            raise ValueError(f"steps {start}..{stop} do not lie in one block of {K}")
        if offset == 0 and n == min(K, self.n_batches - block * K):
            cached = self._blocks.get(block)
            if cached is None:
                cached = self._blocks[block] = self._block(self.x[start * B:stop * B], n)
        else:
            cached = self._block(self.x[start * B:stop * B], n)
        numpy.copyto(self.W2a_saved, self.W2a)
        if not self._steps(cached, start, n, shift=False):
            numpy.copyto(self.W2a, self.W2a_saved)  # a logit left exp's range: redo with the max shift
            self._steps(cached, start, n, shift=True)

    def _steps(self, block: _Block, first_batch: int, n: int, shift: bool) -> bool:
        """The block's steps. Without ``shift`` the softmax skips subtracting each column's max (two
        array calls a step) and returns False, before W1 and b1 change, if a denominator left
        [SUM_MIN, SUM_MAX] (exp overflowed or every class underflowed): the caller then restores W2
        and runs the block again with the shift. Run inside ``numpy.errstate(over=, divide=, invalid='ignore')``."""
        gemm, B = self.gemm, self.batch
        W1a, b1a, W2a = self.W1a, self.b1a, self.W2a
        W2aT, b2 = W2a.T, W2a[self.n_hidden]
        G, tmp, ones, zT, col, sums = self.G[:n * B], self.tmp, self.ones, self.zT, self.col, self.sums_rows
        A = self.A[:n * B]
        a_rows, g_rows, g_before = self.a_rows, self.g_rows, self.g_before
        targets, neg_lr_col, inv_d_row = self.targets, self.neg_lr_col, self.inv_d_row
        dpow, dinv, decay = self.dpow, self.dinv, self.dpow[1]
        tanh, exp, multiply, subtract, divide = numpy.tanh, numpy.exp, numpy.multiply, numpy.subtract, numpy.divide
        max_reduce, add_reduce = numpy.maximum.reduce, numpy.add.reduce
        xc, cols, panels = block.x, block.cols, block.panels
        W1c = self.W1c[:cols.size]
        numpy.take(W1a, cols, axis=0, out=W1c)
        # the block's pre-activations at W1_0: d^j x_j W1_0 + b1_0
        gemm(xc, W1c, A)
        if decay != 1.0:
            A *= self.row_pow[:n * B]
        A += b1a
        for j in range(n):
            a = a_rows[j]
            if j:  # + d^j (x_j x_i^T g~_i and the bias steps) over the earlier steps of the block
                gemm(panels[j], g_before[j], a, alpha=dpow[j], beta=1.0)
            tanh(a, a)
            # logits, transposed (n_out, B); softmax down the columns; then (p - t) * -lr/B
            gemm(W2aT, a.T, zT)
            if shift:
                max_reduce(zT, 0, None, col)
                subtract(zT, col, zT)
            exp(zT, zT)
            add_reduce(zT, 0, None, sums[j])
            divide(neg_lr_col, sums[j], col)
            multiply(zT, col, zT)
            subtract(zT, targets[first_batch + j], zT)
            # g~_j = d^-(j+1) (z W2^T) * (1 - h^2), at the old W2
            g = g_rows[j]
            gemm(zT.T, W2aT, g, alpha=dinv[j])
            multiply(a, a, tmp)
            subtract(ones, tmp, tmp)
            multiply(g, tmp, g)
            # W2 <- d W2 + h^T z; the bias row (constant unit) is pre-divided so that it does not decay
            if decay != 1.0:
                multiply(b2, inv_d_row, b2)
            gemm(a.T, zT.T, W2a, beta=decay)
        if not shift:
            seen = self.sums[:n]
            if not SUM_MIN < max_reduce(seen, None) < SUM_MAX or not numpy.minimum.reduce(seen, None) > SUM_MIN:
                return False
        # W1 <- d^n (W1_0 + X^T g~): the rows of the zero inputs only decay
        if decay != 1.0:
            W1a *= dpow[n]
        gemm(xc.T, G, W1c, alpha=dpow[n], beta=dpow[n])
        W1a[cols] = W1c
        # b1 <- b1 + sum_i d^(i+1) 1^T g~_i
        numpy.dot(self.bias_weights[:n * B], G, out=self.bias_step)
        b1a += self.bias_step
        return True
