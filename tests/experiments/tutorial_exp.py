"""A stand-in for the tutorial's ``mlp_jobman.experiment`` for fast tests: it reads the same
hyper-parameters and writes the same result keys, computed by a cheap deterministic formula
instead of training an MLP."""
from __future__ import annotations


def sgd_optimization_mnist(learning_rate, n_hidden, L1_reg, L2_reg, batch_size, n_iter):  # noqa: N803
    best_validation_loss = round(0.02 + 1.0 / n_hidden + abs(learning_rate - 0.05) + L1_reg + L2_reg, 6)
    test_score = round(best_validation_loss * 1.05, 6)
    minutes_trained = round(n_hidden * n_iter / 1000.0, 4)
    return best_validation_loss, test_score, minutes_trained, n_iter * 10


def experiment(state, channel):
    (best_validation_loss, test_score, minutes_trained, iter) = \
        sgd_optimization_mnist(state.learning_rate, state.n_hidden, state.L1_reg,
                               state.L2_reg, state.batch_size, state.n_iter)
    state.best_validation_loss = best_validation_loss
    state.test_score = test_score
    state.minutes_trained = minutes_trained
    state.iter = iter
    return channel.COMPLETE
