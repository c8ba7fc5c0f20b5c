"""The MLP's mathematics on NumPy: gradients against finite differences, the fast in-place SGD step
against the plain formulas, the tutorial's initialisation, error counting and early stopping."""
from __future__ import annotations

import numpy as np
import pytest

from models import mlp
from models.backend import Gemm, scipy_blas
from models.deferred import DeferredSGD
from models.params import PARAM_NAMES, Params, init_params, one_hot

N_IN, N_HIDDEN, N_OUT, BATCH = 6, 4, 5, 7


def tiny_network(dtype=np.float64, seed=0):
    """A small network with every parameter non-zero (so that |W| is differentiable at it)."""
    rng = np.random.RandomState(seed)
    params = init_params(N_HIDDEN, np.random.RandomState(seed + 1), dtype=dtype, n_in=N_IN, n_out=N_OUT)
    params.W2[...] = rng.uniform(-1, 1, params.W2.shape)
    params.b1[...] = rng.uniform(-0.5, 0.5, params.b1.shape)
    params.b2[...] = rng.uniform(-0.5, 0.5, params.b2.shape)
    x = rng.uniform(0, 1, (BATCH, N_IN)).astype(dtype)
    y = rng.randint(0, N_OUT, BATCH)
    return params, x, y


@pytest.mark.parametrize("L1_reg,L2_reg", [(0.0, 0.0), (0.0, 0.01), (0.003, 0.0), (0.003, 0.01)])
def test_gradients_match_finite_differences(L1_reg, L2_reg):
    params, x, y = tiny_network()
    _, grads = mlp.cost_and_gradients(params, x, y, L1_reg, L2_reg)
    eps = 1e-6
    worst = 0.0
    for name in PARAM_NAMES:
        array = getattr(params, name)
        analytic = getattr(grads, name)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up, _ = mlp.cost_and_gradients(params, x, y, L1_reg, L2_reg)
            array[index] = saved - eps
            down, _ = mlp.cost_and_gradients(params, x, y, L1_reg, L2_reg)
            array[index] = saved
            numeric = (up - down) / (2 * eps)
            worst = max(worst, abs(numeric - analytic[index]) / max(1.0, abs(numeric)))
    assert worst < 1e-7


@pytest.mark.parametrize("prefer_blas", [True, False], ids=["blas-gemm", "xp-dot"])
@pytest.mark.parametrize("L1_reg,L2_reg", [(0.0, 0.0001), (0.002, 0.01)])
def test_sgd_step_is_one_update_with_the_exact_gradient(prefer_blas, L1_reg, L2_reg):
    params, x, y = tiny_network()
    lr = 0.1
    _, grads = mlp.cost_and_gradients(params, x, y, L1_reg, L2_reg)
    expected = {name: getattr(params, name) - lr * getattr(grads, name) for name in PARAM_NAMES}
    gemm = Gemm(np, np.float64, prefer_blas=prefer_blas)
    sgd = mlp.SGD(params, BATCH, lr, L1_reg, L2_reg, np, gemm)
    sgd.step(x, one_hot(y, np, np.float64, n_out=N_OUT))
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(params, name), expected[name], rtol=0, atol=1e-14)


def test_step_keeps_float32_and_matches_float64_within_rounding():
    params64, x, y = tiny_network(np.float64)
    params32 = Params(**{k: v.astype(np.float32) for k, v in params64.as_dict().items()})
    for params, dtype in ((params64, np.float64), (params32, np.float32)):
        sgd = mlp.SGD(params, BATCH, 0.05, 0.001, 0.0001, np)
        targets = one_hot(y, np, dtype, n_out=N_OUT)
        for _ in range(20):
            sgd.step(x.astype(dtype), targets)
    for name in PARAM_NAMES:
        assert getattr(params32, name).dtype == np.float32
        np.testing.assert_allclose(getattr(params32, name), getattr(params64, name), rtol=1e-4, atol=1e-5)


needs_blas = pytest.mark.skipif(scipy_blas() is None, reason="the deferred step needs SciPy's BLAS "
                                "(installed with the dev extra; without it train() uses the per-step SGD)")


def sparse_batches(n_batches, batch, n_in, seed):
    """Inputs with zeros as MNIST has them: some columns zero everywhere, some zero in whole blocks
    of 5 minibatches (the deferred step then skips them), one whole block of zero images."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 1, (n_batches * batch, n_in)) * (rng.uniform(0, 1, (n_batches * batch, n_in)) < 0.5)
    x[:, ::4] = 0
    for start in range(0, n_batches * batch, 5 * batch):
        x[start:start + 5 * batch, rng.choice(n_in, n_in // 3, replace=False)] = 0
    x[5 * batch:10 * batch] = 0
    return x, rng.randint(0, N_OUT, n_batches * batch)


@needs_blas
@pytest.mark.parametrize("L2_reg", [0.0, 0.05])
@pytest.mark.parametrize("ranges", [[(0, 5), (5, 10), (10, 13)], [(0, 2), (2, 5), (5, 9), (9, 10), (10, 13)]],
                         ids=["aligned-blocks", "ranges-inside-blocks"])
def test_deferred_sgd_follows_the_per_step_sgd(L2_reg, ranges):
    """Equal iterates in exact arithmetic: in float64 they agree to rounding, over three epochs of 13
    minibatches (blocks of 5, a partial last block, ranges that start inside a block)."""
    n_batches, lr = 13, 0.3
    x, y = sparse_batches(n_batches, BATCH, N_IN * 5, seed=4)
    reference = init_params(N_HIDDEN, np.random.RandomState(1), dtype=np.float64, n_in=N_IN * 5, n_out=N_OUT)
    reference.W2[...] = np.random.RandomState(2).uniform(-1, 1, reference.W2.shape)
    params = Params(**{k: v.copy() for k, v in reference.as_dict().items()})
    sgd = mlp.SGD(reference, BATCH, lr, 0.0, L2_reg, np, Gemm(np, np.float64))
    targets = one_hot(y, np, np.float64, n_out=N_OUT)
    deferred = DeferredSGD(params, x, y, BATCH, lr, L2_reg, Gemm(np, np.float64), block_steps=5)
    for _ in range(3):
        for k in range(n_batches):
            sgd.step(x[k * BATCH:(k + 1) * BATCH], targets[k * BATCH:(k + 1) * BATCH])
        for start, stop in ranges:
            deferred.run(start, stop)
    before = params.W1.copy()
    deferred.store()
    assert not np.array_equal(before, params.W1)  # store() wrote the trained values
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(params, name), getattr(reference, name), rtol=0, atol=1e-12)
    assert np.abs(reference.W1 - init_params(N_HIDDEN, np.random.RandomState(1), dtype=np.float64,
                                             n_in=N_IN * 5).W1).max() > 1e-3  # it did train


@needs_blas
@pytest.mark.parametrize("case", ["overflow", "underflow"])
def test_deferred_sgd_redoes_a_block_whose_softmax_left_exps_range(case):
    """Logits of +-1000 (exp overflows, or every class underflows, in float64): the block is computed
    again with the max shift, and the result still follows the per-step SGD."""
    x, y = sparse_batches(10, BATCH, N_IN, seed=3)
    reference = init_params(N_HIDDEN, np.random.RandomState(1), dtype=np.float64, n_in=N_IN, n_out=N_OUT)
    if case == "overflow":
        reference.W2[...] = np.random.RandomState(2).uniform(-1000, 1000, reference.W2.shape)
    else:
        reference.b2[...] = -1000.0
    params = Params(**{k: v.copy() for k, v in reference.as_dict().items()})
    sgd = mlp.SGD(reference, BATCH, 0.1, 0.0, 0.01, np, Gemm(np, np.float64))
    targets = one_hot(y, np, np.float64, n_out=N_OUT)
    deferred = DeferredSGD(params, x, y, BATCH, 0.1, 0.01, Gemm(np, np.float64), block_steps=5)
    redone = []
    original = deferred._steps
    deferred._steps = lambda *args, shift: redone.append(shift) or original(*args, shift=shift)
    for k in range(10):
        sgd.step(x[k * BATCH:(k + 1) * BATCH], targets[k * BATCH:(k + 1) * BATCH])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        deferred.run(0, 5)
        deferred.run(5, 10)
    deferred.store()
    assert redone[:2] == [False, True]  # the first block needed the shift
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(params, name), getattr(reference, name), rtol=1e-12, atol=1e-12)


@needs_blas
def test_deferred_sgd_refuses_a_range_across_blocks():
    x, y = sparse_batches(10, BATCH, N_IN, seed=0)
    params = init_params(N_HIDDEN, np.random.RandomState(1), dtype=np.float64, n_in=N_IN, n_out=N_OUT)
    deferred = DeferredSGD(params, x, y, BATCH, 0.1, 0.0, Gemm(np, np.float64), block_steps=5)
    with pytest.raises(ValueError, match="one block"):
        deferred.run(3, 7)


@needs_blas
@pytest.mark.parametrize("batch_size", [1, 3])
def test_train_with_the_deferred_step_matches_the_per_step_one(batch_size):
    """Through train(): validations, patience and the test scores agree; only rounding differs."""
    rng = np.random.RandomState(0)
    tx, ty = _separable_data(61, rng)
    tx[:, 1:] *= rng.uniform(0, 1, tx[:, 1:].shape) < 0.2
    vx, vy = _separable_data(40, rng)
    runs = []
    for deferred in (False, True):
        params = init_params(5, np.random.RandomState(1234), dtype=np.float64)
        history = []
        loop = mlp.train(params, tx.astype(np.float64), ty, vx.astype(np.float64), vy, vx.astype(np.float64), vy,
                         learning_rate=0.05, L1_reg=0.0, L2_reg=0.001, batch_size=batch_size, n_epochs=30,
                         deferred=deferred,
                         on_validation=lambda s, e, h=history: h.append((s.next_iter, s.validation_error)))
        runs.append((params, loop, history))
    (p_step, l_step, h_step), (p_def, l_def, h_def) = runs
    assert h_def == h_step and len(h_step) == 30
    assert (l_def.next_iter, l_def.best_iter, l_def.patience) == (l_step.next_iter, l_step.best_iter, l_step.patience)
    assert l_def.best_validation_loss == l_step.best_validation_loss and l_def.test_score == l_step.test_score
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(p_def, name), getattr(p_step, name), rtol=0, atol=1e-10)


def test_initialisation_is_the_tutorials():
    params = init_params(100, np.random.RandomState(1234))
    bound = np.sqrt(6.0 / (784 + 100))
    assert params.W1.shape == (784, 100) and params.W1.dtype == np.float32
    assert params.W2.shape == (100, 10) and params.b1.shape == (100,) and params.b2.shape == (10,)
    assert float(np.abs(params.W1).max()) <= bound and float(np.abs(params.W1).max()) > 0.99 * bound
    assert not params.W2.any() and not params.b1.any() and not params.b2.any()
    expected = np.random.RandomState(1234).uniform(-bound, bound, (784, 100)).astype(np.float32)
    np.testing.assert_array_equal(params.W1, expected)
    assert not np.array_equal(init_params(100, np.random.RandomState(7)).W1, params.W1)


def test_count_errors_matches_a_plain_argmax():
    rng = np.random.RandomState(3)
    params = init_params(16, rng)
    params.W2[...] = rng.uniform(-1, 1, params.W2.shape)
    x = rng.uniform(0, 1, (2500, 784)).astype(np.float32)
    y = rng.randint(0, 10, 2500)
    predicted = np.argmax(np.tanh(x @ params.W1 + params.b1) @ params.W2 + params.b2, axis=1)
    expected = int((predicted != y).sum())
    assert mlp.count_errors(params, x, y, np, chunk_rows=1000) == expected
    assert mlp.count_errors(params, x, y, np) == expected
    assert 0 < expected < 2500


def test_gemm_fused_and_plain_agree():
    rng = np.random.RandomState(5)
    a = rng.rand(20, 30).astype(np.float32)
    b = rng.rand(30, 8).astype(np.float32)
    c0 = rng.rand(20, 8).astype(np.float32)
    results = []
    for prefer in (True, False):
        gemm = Gemm(np, np.float32, prefer_blas=prefer)
        c = c0.copy()
        gemm(a, b, c, beta=0.5)
        d = np.empty((30, 8), np.float32)
        gemm(a.T, c, d)  # a transposed (Fortran-ordered) operand
        results.append((c, d))
    np.testing.assert_allclose(results[0][0], a @ b + 0.5 * c0, rtol=1e-5)
    np.testing.assert_allclose(results[0][1], a.T @ results[0][0], rtol=1e-5)
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)


def _separable_data(n, rng):
    """Two classes told apart by the first pixel: a network reaches 0 errors quickly."""
    x = rng.uniform(0, 0.1, (n, 784)).astype(np.float32)
    y = rng.randint(0, 2, n)
    x[:, 0] = y
    return x, y.astype(np.int64)


def test_early_stopping_follows_the_tutorials_patience_rule():
    rng = np.random.RandomState(0)
    tx, ty = _separable_data(100, rng)
    vx, vy = _separable_data(50, rng)
    params = init_params(5, np.random.RandomState(1234))
    history = []
    loop = mlp.train(params, tx, ty, vx, vy, vx, vy, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0,
                     batch_size=1, n_epochs=300, on_validation=lambda s, e: history.append((s.next_iter - 1,
                                                                                             s.validation_error)))
    # replay the tutorial's rule on the recorded validations
    patience, best, best_iter, stop = mlp.PATIENCE_ITERS, np.inf, 0, None
    for it, err in history:
        assert (it + 1) % 100 == 0  # validation every min(n_train_batches=100, 10000 // 2) minibatches
        if err < best:
            if err < best * mlp.IMPROVEMENT_THRESHOLD:
                patience = max(patience, it * mlp.PATIENCE_INCREASE)
            best, best_iter = err, it
    stop = patience  # the loop breaks after the step whose index reaches the patience
    assert loop.done
    assert loop.next_iter == stop + 1 < 300 * 100
    assert loop.best_iter == best_iter and loop.best_validation_loss == best == 0.0
    assert loop.patience == patience


def test_training_runs_all_epochs_when_patience_allows():
    rng = np.random.RandomState(1)
    tx, ty = _separable_data(60, rng)
    params = init_params(5, np.random.RandomState(1234))
    loop = mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0001,
                     batch_size=20, n_epochs=7)
    assert loop.done and loop.next_iter == 7 * 3
    assert len(loop.timings) == 7


def test_batch_larger_than_the_data_is_refused():
    rng = np.random.RandomState(1)
    tx, ty = _separable_data(10, rng)
    params = init_params(3, rng)
    with pytest.raises(mlp.ParamError, match="batch_size=20"):
        mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0,
                  batch_size=20, n_epochs=1)


@pytest.mark.parametrize("batch_size", [0, -5])
def test_a_batch_below_one_is_refused_in_one_line(batch_size):
    rng = np.random.RandomState(1)
    tx, ty = _separable_data(10, rng)
    params = init_params(3, rng)
    with pytest.raises(mlp.ParamError, match=f"batch_size={batch_size} does not fit"):
        mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0,
                  batch_size=batch_size, n_epochs=1)


@needs_blas
def test_the_default_step_is_per_step_for_wide_batches(monkeypatch):
    """Above DEFERRED_MAX_BATCH the default is the per-step SGD (the deferred one is never built)."""
    rng = np.random.RandomState(2)
    tx, ty = _separable_data(2 * (mlp.DEFERRED_MAX_BATCH + 1), rng)
    built = []
    monkeypatch.setattr(mlp, "DeferredSGD", lambda *a, **k: built.append(a) or DeferredSGD(*a, **k))
    for batch_size, expected in ((mlp.DEFERRED_MAX_BATCH, 1), (mlp.DEFERRED_MAX_BATCH + 1, 1)):
        params = init_params(3, np.random.RandomState(1))
        mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0,
                  batch_size=batch_size, n_epochs=1)
        assert len(built) == expected
