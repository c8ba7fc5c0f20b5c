"""The MLP's mathematics on NumPy: gradients against finite differences, the fast in-place SGD step
against the plain formulas, the tutorial's initialisation, error counting and early stopping."""
from __future__ import annotations

import numpy as np
import pytest

from models import mlp
from models.backend import Gemm

N_IN, N_HIDDEN, N_OUT, BATCH = 6, 4, 5, 7


def tiny_network(dtype=np.float64, seed=0):
    """A small network with every parameter non-zero (so that |W| is differentiable at it)."""
    rng = np.random.RandomState(seed)
    params = mlp.init_params(N_HIDDEN, np.random.RandomState(seed + 1), dtype=dtype, n_in=N_IN, n_out=N_OUT)
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
    for name in mlp.PARAM_NAMES:
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
    expected = {name: getattr(params, name) - lr * getattr(grads, name) for name in mlp.PARAM_NAMES}
    gemm = Gemm(np, np.float64, prefer_blas=prefer_blas)
    sgd = mlp.SGD(params, BATCH, lr, L1_reg, L2_reg, np, gemm)
    sgd.step(x, mlp.one_hot(y, np, np.float64, n_out=N_OUT))
    for name in mlp.PARAM_NAMES:
        np.testing.assert_allclose(getattr(params, name), expected[name], rtol=0, atol=1e-14)


def test_step_keeps_float32_and_matches_float64_within_rounding():
    params64, x, y = tiny_network(np.float64)
    params32 = mlp.Params(**{k: v.astype(np.float32) for k, v in params64.as_dict().items()})
    for params, dtype in ((params64, np.float64), (params32, np.float32)):
        sgd = mlp.SGD(params, BATCH, 0.05, 0.001, 0.0001, np)
        targets = mlp.one_hot(y, np, dtype, n_out=N_OUT)
        for _ in range(20):
            sgd.step(x.astype(dtype), targets)
    for name in mlp.PARAM_NAMES:
        assert getattr(params32, name).dtype == np.float32
        np.testing.assert_allclose(getattr(params32, name), getattr(params64, name), rtol=1e-4, atol=1e-5)


def test_initialisation_is_the_tutorials():
    params = mlp.init_params(100, np.random.RandomState(1234))
    bound = np.sqrt(6.0 / (784 + 100))
    assert params.W1.shape == (784, 100) and params.W1.dtype == np.float32
    assert params.W2.shape == (100, 10) and params.b1.shape == (100,) and params.b2.shape == (10,)
    assert float(np.abs(params.W1).max()) <= bound and float(np.abs(params.W1).max()) > 0.99 * bound
    assert not params.W2.any() and not params.b1.any() and not params.b2.any()
    expected = np.random.RandomState(1234).uniform(-bound, bound, (784, 100)).astype(np.float32)
    np.testing.assert_array_equal(params.W1, expected)
    assert not np.array_equal(mlp.init_params(100, np.random.RandomState(7)).W1, params.W1)


def test_count_errors_matches_a_plain_argmax():
    rng = np.random.RandomState(3)
    params = mlp.init_params(16, rng)
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
    params = mlp.init_params(5, np.random.RandomState(1234))
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
    params = mlp.init_params(5, np.random.RandomState(1234))
    loop = mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0001,
                     batch_size=20, n_epochs=7)
    assert loop.done and loop.next_iter == 7 * 3
    assert len(loop.timings) == 7


def test_batch_larger_than_the_data_is_refused():
    rng = np.random.RandomState(1)
    tx, ty = _separable_data(10, rng)
    params = mlp.init_params(3, rng)
    with pytest.raises(mlp.ParamError, match="batch_size=20"):
        mlp.train(params, tx, ty, tx, ty, tx, ty, learning_rate=0.1, L1_reg=0.0, L2_reg=0.0,
                  batch_size=20, n_epochs=1)
