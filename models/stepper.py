"""The interface through which :func:`models.mlp.train` drives an SGD step, and the adapter that
makes the per-step :class:`models.mlp.SGD` one.

train() does not care how a step is computed, only where it may cut the run into segments and when
the parameters are in ``params``. Two steps fit: :class:`models.deferred.DeferredSGD` (the first
layer's update deferred over blocks of steps) and :class:`PerStepSGD` around
:meth:`models.mlp.SGD.step`; :func:`models.mlp.make_stepper` picks one, once per run. A Protocol
is matched by its members, so neither step imports this module, and this module imports no other
of the package: the import graph of ``models/`` stays a DAG.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Protocol


class Stepper(Protocol):
    """What :func:`models.mlp.train` needs of an SGD step.

    ``run(start, stop)`` performs the steps ``start .. stop-1`` of an epoch (minibatch ``k`` is rows
    ``k*batch_size .. (k+1)*batch_size``), a range that lies within one block ``[b*block_steps,
    (b+1)*block_steps)``; train() cuts its segments there. ``store()`` writes the current parameters
    into ``params`` (train() calls it before every validation, poll and return). ``errstate()`` is the
    NumPy error state the steps run in. Resuming needs nothing more: a stepper starts from ``params``
    as they are when it is built, and train()'s cuts depend on the iteration only."""

    block_steps: int

    def run(self, start: int, stop: int) -> None: ...

    def store(self) -> None: ...

    def errstate(self) -> contextlib.AbstractContextManager[Any]: ...


class PerStepSGD:
    """A one-minibatch step (``step(x, targets)``, e.g. :meth:`models.mlp.SGD.step`) over a training
    set, as a :class:`Stepper`: any range of steps, one minibatch at a time.

    ``block_steps`` only bounds a segment's length (train() passes its ``poll_every``). The step
    updates ``params`` in place, so ``store()`` has nothing to copy."""

    def __init__(self, step: Callable[[Any, Any], None], train_x: Any, targets: Any, batch_size: int,
                 block_steps: int) -> None:
        self.step, self.x, self.targets = step, train_x, targets
        self.batch_size, self.block_steps = batch_size, block_steps

    def run(self, start: int, stop: int) -> None:
        x, targets, step, batch = self.x, self.targets, self.step, self.batch_size
        for k in range(start, stop):
            lo = k * batch
            step(x[lo:lo + batch], targets[lo:lo + batch])

    def store(self) -> None:
        """Nothing to do: ``params`` are the step's own arrays."""

    def errstate(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()
