"""The experiment of the tutorial: the 2010 deeplearning.net MLP on MNIST, written once against an
array module (CuPy on a GPU, NumPy elsewhere), run by Jobman as ``models.mlp_jobman.experiment``.

This package imports nothing else of the project: an experiment needs only its state and channel."""
from __future__ import annotations

from models.backend import ArrayBackend, select_backend
from models.data import load_mnist
from models.errors import ArrayBackendError, CheckpointError, DatasetError, ModelsError, ParamError
from models.mlp_jobman import experiment, sgd_optimization_mnist

__all__ = [
    "ArrayBackend",
    "ArrayBackendError",
    "CheckpointError",
    "DatasetError",
    "ModelsError",
    "ParamError",
    "experiment",
    "load_mnist",
    "select_backend",
    "sgd_optimization_mnist",
]
