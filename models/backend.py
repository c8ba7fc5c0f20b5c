"""Which array module the MLP runs on: CuPy on a visible CUDA GPU, NumPy otherwise.

The model is written once against an array module ``xp``; this module only decides which one.
Precedence (most specific first): the job's state key ``array_backend``, then the worker's
environment variable ``JOBMAN_ARRAY_BACKEND``, then ``auto``. Accepted values: ``auto``, ``numpy``,
``cupy``. ``auto`` takes CuPy when it imports and CUDA reports a device, honouring
``CUDA_VISIBLE_DEVICES`` (set by SLURM, HTCondor and users to hide or assign GPUs); anything else
falls back to NumPy and says why. Asking for ``cupy`` explicitly where it cannot run is an error,
not a silent fallback, so a GPU sweep never quietly runs 20x slower on CPUs.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy

from models.errors import ArrayBackendError

BACKEND_ENV = "JOBMAN_ARRAY_BACKEND"
BACKEND_STATE_KEY = "array_backend"
BACKEND_NAMES = ("auto", "numpy", "cupy")
DTYPE = numpy.float32
"""The one floating-point type of parameters, data and buffers (as the tutorial's floatX)."""

_VISIBLE_DEVICE_RE = re.compile(r"^(\d+|GPU-[0-9A-Za-z-]+|MIG-[0-9A-Za-z/-]+)$")


@dataclass(frozen=True)
class ArrayBackend:
    """The chosen array module and how to move arrays to and from it."""

    name: str  # "numpy" or "cupy"
    xp: ModuleType
    device: str  # "cpu" or the GPU's name
    reason: str  # why this one was chosen, for logs and provenance

    def to_device(self, array: Any) -> Any:
        """A host array on the device (no copy for NumPy when dtype and layout already fit)."""
        return self.xp.ascontiguousarray(self.xp.asarray(array))

    def to_host(self, array: Any) -> numpy.ndarray:
        """A device array as a NumPy array (one transfer for CuPy)."""
        if self.name == "cupy":
            return self.xp.asnumpy(array)
        return numpy.asarray(array)

    def synchronize(self) -> None:
        """Wait for queued device work (for timings); a no-op on NumPy."""
        if self.name == "cupy":
            self.xp.cuda.Stream.null.synchronize()


def scipy_blas() -> ModuleType | None:
    """SciPy's BLAS wrappers, or None without SciPy. Import it before limiting BLAS threads
    (threadpoolctl only limits the libraries already loaded)."""
    try:
        from scipy.linalg import blas  # noqa: PLC0415 - optional accelerator
    except ImportError:
        return None
    return blas


class Gemm:
    """``gemm(a, b, out, beta=0.0, alpha=1.0)``: out <- alpha * a @ b + beta * out, in place, for 2-D
    arrays of one dtype.

    With NumPy and SciPy present this is one call of SciPy's BLAS ``?gemm`` (beta included, so a
    weight update is a single pass over the weights; SciPy's OpenBLAS also tends to know newer CPUs
    than the one bundled with older NumPy wheels). Otherwise (CuPy, or no SciPy) it is
    ``xp.dot(..., out=)`` plus an in-place scale and add through a scratch buffer. ``a`` and ``b``
    may be C- or Fortran-contiguous (transposed views); ``out`` must be C-contiguous."""

    def __init__(self, xp: ModuleType, dtype: Any, prefer_blas: bool = True) -> None:
        self.xp = xp
        self._scratch: dict[tuple[int, ...], Any] = {}
        self._blas: Callable[..., Any] | None = None
        if xp is numpy and prefer_blas:
            blas = scipy_blas()
            if blas is not None:
                self._blas = {numpy.dtype(numpy.float32): blas.sgemm,
                              numpy.dtype(numpy.float64): blas.dgemm}.get(numpy.dtype(dtype))

    @property
    def fused(self) -> bool:
        """True when beta is applied inside the BLAS call (no scratch pass)."""
        return self._blas is not None

    def __call__(self, a: Any, b: Any, out: Any, beta: float = 0.0, alpha: float = 1.0) -> Any:
        blas = self._blas
        if blas is not None:
            # Fortran BLAS on C-ordered arrays: compute out.T = b.T @ a.T, whose operands are
            # Fortran-contiguous views; a transposed (F-contiguous) operand is passed as is, flagged.
            if b.flags.c_contiguous:
                fa, trans_a = b.T, 0
            else:
                fa, trans_a = b, 1
            if a.flags.c_contiguous:
                fb, trans_b = a.T, 0
            else:
                fb, trans_b = a, 1
            out_t = out.T
            result = blas(alpha, fa, fb, beta, out_t, trans_a, trans_b, 1)
            if result is not out_t:  # the wrapper had to copy (unexpected layout): still correct
                out[...] = result.T
            return out
        if beta == 0.0:
            self.xp.dot(a, b, out=out)
            if alpha != 1.0:
                out *= alpha
            return out
        scratch = self._scratch.get(out.shape)
        if scratch is None:
            scratch = self._scratch[out.shape] = self.xp.empty_like(out)
        self.xp.dot(a, b, out=scratch)
        if alpha != 1.0:
            scratch *= alpha
        if beta != 1.0:
            out *= beta
        out += scratch
        return out


def reducers(xp: ModuleType) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(sum, max) with the signature ``f(a, axis=, out=, keepdims=)``. On NumPy these are the ufuncs'
    own ``reduce``, which skip ``numpy.sum``'s Python wrapper (a few microseconds a call, which
    matters at 2,500 tiny steps an epoch); elsewhere the module's ``sum`` and ``max``."""
    if xp is numpy:
        return numpy.add.reduce, numpy.maximum.reduce
    return xp.sum, xp.max


def requested_backend(state_value: Any = None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(name, where it came from) by precedence state key > environment > ``auto``; validated."""
    environ = os.environ if environ is None else environ
    if state_value is not None and str(state_value).strip() != "":
        value, origin = str(state_value), f"state key {BACKEND_STATE_KEY}"
    elif environ.get(BACKEND_ENV, "").strip() != "":
        value, origin = environ[BACKEND_ENV], f"environment variable {BACKEND_ENV}"
    else:
        return "auto", "default"
    name = value.strip().lower()
    if name not in BACKEND_NAMES:
        raise ArrayBackendError(f"unknown array backend {value!r} (from {origin}): accepted values are "
                           + ", ".join(BACKEND_NAMES))
    return name, origin


def cuda_devices_hidden(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CUDA_VISIBLE_DEVICES`` is set and its first entry names no device, which is how
    CUDA reads it ('' , '-1', HTCondor's 'NoDevFiles': no GPU at all)."""
    environ = os.environ if environ is None else environ
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return False
    first = value.split(",")[0].strip()
    return not _VISIBLE_DEVICE_RE.match(first)


class _Unavailable(Exception):
    """Why CuPy cannot be used here (internal: turned into a fallback reason or an ArrayBackendError)."""


def _load_cupy() -> tuple[ModuleType, str]:
    """Import CuPy and check that CUDA sees at least one device; return (cupy, device name)."""
    try:
        import cupy  # noqa: PLC0415 - optional, heavy, and only wanted where a GPU may be
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        raise _Unavailable(f"cupy does not import ({type(exc).__name__}: {exc})") from None
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise _Unavailable(f"CUDA reports no usable GPU ({exc})") from None
    if count < 1:
        raise _Unavailable("CUDA reports 0 GPUs")
    try:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        name = "CUDA GPU"
    return cupy, name


def select_backend(state_value: Any = None, environ: Mapping[str, str] | None = None,
                   load_cupy: Callable[[], tuple[ModuleType, str]] | None = None) -> ArrayBackend:
    """Choose the array module (see the module docstring for the rules).

    ``state_value`` is the job's ``array_backend`` (None when absent); ``environ`` defaults to
    ``os.environ``; ``load_cupy`` exists so that the rules can be tested on a machine without a GPU."""
    environ = os.environ if environ is None else environ
    load_cupy = _load_cupy if load_cupy is None else load_cupy
    name, origin = requested_backend(state_value, environ)
    if name == "numpy":
        return ArrayBackend("numpy", numpy, "cpu", f"numpy requested by {origin}")
    hidden = cuda_devices_hidden(environ)
    if hidden:
        why = f"CUDA_VISIBLE_DEVICES={environ.get('CUDA_VISIBLE_DEVICES')!r} hides every GPU"
        if name == "cupy":
            raise ArrayBackendError(f"array backend 'cupy' requested by {origin} but {why}; "
                               "use 'numpy' or 'auto'")
        return ArrayBackend("numpy", numpy, "cpu", why)
    try:
        cupy, device = load_cupy()
    except _Unavailable as exc:
        if name == "cupy":
            raise ArrayBackendError(f"array backend 'cupy' requested by {origin} but {exc}; install it with "
                               "pip install 'jobman-ng[gpu]', or use 'numpy' or 'auto'") from None
        return ArrayBackend("numpy", numpy, "cpu", str(exc))
    return ArrayBackend("cupy", cupy, device, f"cupy ({'requested by ' + origin if name == 'cupy' else 'auto'})")
