"""Errors of the models package. Each message is one line that names the bad value and says what
would be accepted or how to fix it: the worker records ``str(error)`` beside the job's status."""
from __future__ import annotations


class ModelsError(Exception):
    """Root of the errors of this package."""


class ArrayBackendError(ModelsError):
    """An array backend that was asked for and cannot be used (unknown name, CuPy missing, no GPU).

    Named for the array module (NumPy or CuPy), not the scheduler: ``backends.errors.BackendError`` is
    the batch scheduler's error, and the two must not share a name."""


class DatasetError(ModelsError):
    """A data file that is missing, unreadable or not the expected MNIST split."""


class CheckpointError(ModelsError):
    """A checkpoint in the job directory that does not belong to this run or cannot be read."""


class ParamError(ModelsError):
    """A hyper-parameter outside what the experiment accepts (e.g. a batch larger than the data)."""
