"""The tutorial's 1-epoch rows (lr 0.01, batch 20, L1 0, L2 0.0001) on the full MNIST, through the
tutorial's own call: each within 0.02 of the published validation and test errors.

Why one epoch gives errors as high as 12-15%: the output layer starts at zero, so the hidden layer
receives no gradient until W2 has grown, and at lr 0.01 one epoch is little training. Validation
happens once, at the end of the epoch (every min(2500 minibatches, patience / 2 = 5000)). Measured
over 5 seeds: with W2 = 0 (or the January 2010 code's constant W2, which is equivalent: softmax
ignores a shift common to all classes, and the hidden layer's gradient sums to zero) the 1-epoch
validation errors span 0.145-0.161 (n_hidden 10), 0.117-0.126 (20), 0.112-0.114 (30), around the
published 0.149, 0.127, 0.117; a uniformly drawn W2 would give 0.11-0.12, 0.098-0.100, 0.092-0.097.
"""
from __future__ import annotations

import pytest

from models.mlp_jobman import sgd_optimization_mnist

# (n_hidden, published best_validation_loss, published test_score): seed-tutorial.txt's last rows
ONE_EPOCH_ROWS = [(30, 0.1173, 0.1187), (20, 0.1266, 0.1352), (10, 0.1491, 0.1563)]
TOLERANCE = 0.02


@pytest.mark.slow
@pytest.mark.parametrize("n_hidden,valid,test", ONE_EPOCH_ROWS)
def test_one_epoch_row(n_hidden, valid, test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBMAN_MNIST", raising=False)
    best_validation_loss, test_score, minutes, best_iter = sgd_optimization_mnist(
        0.01, n_hidden, 0.00, 0.0001, 20, 1, array_backend="numpy")
    assert best_iter == 2499  # the only validation: the last minibatch of the epoch
    assert abs(best_validation_loss - valid) <= TOLERANCE, (best_validation_loss, valid)
    assert abs(test_score - test) <= TOLERANCE, (test_score, test)
    assert minutes > 0
