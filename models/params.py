"""The network's parameters and what builds them: :class:`Params`, the tutorial's initialisation and
the one-hot targets.

Both SGD steps (:class:`models.mlp.SGD` and :class:`models.deferred.DeferredSGD`) and the checkpoint
work on these; they live here, below all of them, so that the steps need not import each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy

from models.backend import DTYPE

N_IN = 28 * 28
N_OUT = 10
PARAM_NAMES = ("W1", "b1", "W2", "b2")


@dataclass
class Params:
    """The network's parameters, arrays of one module and dtype."""

    W1: Any  # (n_in, n_hidden)
    b1: Any  # (n_hidden,)
    W2: Any  # (n_hidden, n_out)
    b2: Any  # (n_out,)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PARAM_NAMES}


def init_params(n_hidden: int, rng: numpy.random.RandomState, xp: Any = numpy, dtype: Any = DTYPE,
                n_in: int = N_IN, n_out: int = N_OUT) -> Params:
    """The tutorial's initial parameters; drawn on the host (as the tutorial) then put on ``xp``'s device."""
    bound = numpy.sqrt(6.0 / (n_in + n_hidden))
    w1 = numpy.asarray(rng.uniform(low=-bound, high=bound, size=(n_in, n_hidden)), dtype=dtype)
    return Params(W1=xp.asarray(w1), b1=xp.zeros((n_hidden,), dtype=dtype),
                  W2=xp.zeros((n_hidden, n_out), dtype=dtype), b2=xp.zeros((n_out,), dtype=dtype))


def one_hot(y: Any, xp: Any = numpy, dtype: Any = DTYPE, n_out: int = N_OUT) -> Any:
    """(n,) integer labels -> (n, n_out) one-hot rows, built once so that each step subtracts a slice."""
    out = xp.zeros((y.shape[0], n_out), dtype=dtype)
    out[xp.arange(y.shape[0]), y] = 1
    return out
