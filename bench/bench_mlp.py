"""Seconds per epoch of the tutorial's MLP on the CPU (batch 20, n_hidden 100, lr 0.05), ours against an
idiomatic PyTorch model of the same architecture and batch size, measured side by side in one run.

An epoch is 2,500 SGD steps over the 50,000 training images plus one pass over the 10,000
validation images, for both. Epochs of the two alternate, so that load from other processes on a
shared machine falls on both alike; the table shows medians. GFLOP/s counts the matrix-multiply work
of an epoch (forward, the two weight gradients, the hidden-layer error, the validation pass) and is
set against the machine's single-thread float32 matmul peak, measured here with a large product
through NumPy's BLAS and through SciPy's (which the model uses when SciPy is installed). Ours runs
three ways: the deferred step (train()'s default with SciPy: W1's update deferred over blocks of 5
steps, models/deferred.py), and the per-step SGD through SciPy's gemm and through numpy.dot. GFLOP/s
counts the per-step algorithm's work for every row (the deferred step does about a quarter more
arithmetic, in wider products, and is credited with the same useful work).

Both sides use one BLAS/intra-op thread, as a worker does (models.mlp_jobman). torch is a
benchmark-only dependency: ``.venv/bin/pip install torch==2.13.0``.

    .venv/bin/python bench/bench_mlp.py [--epochs 5] [--n-hidden 100]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import benchlib  # noqa: F401 - puts this checkout first on sys.path
import numpy

from models import data, mlp
from models.backend import Gemm, scipy_blas
from models.deferred import DeferredSGD
from models.params import init_params, one_hot

BATCH = 20
LEARNING_RATE = 0.05
L2_REG = 0.0001
PEAK_SIZE = 2048


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{os.path.basename(i['filepath']).split('-')[0]} {i.get('version')} {i.get('architecture')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")


def matmul_peak_gflops(gemm_call, repeats: int = 5) -> float:
    rng = numpy.random.RandomState(0)
    a = rng.rand(PEAK_SIZE, PEAK_SIZE).astype(numpy.float32)
    b = rng.rand(PEAK_SIZE, PEAK_SIZE).astype(numpy.float32)
    out = numpy.empty_like(a)
    gemm_call(a, b, out)
    best = min(_timed(lambda: gemm_call(a, b, out)) for _ in range(repeats))
    return 2 * PEAK_SIZE ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flops_per_epoch(n_hidden: int, n_train: int, n_valid: int) -> float:
    per_train_example = 2 * (784 * n_hidden + n_hidden * 10)  # forward
    per_train_example += 2 * (784 * n_hidden + 2 * n_hidden * 10)  # gW1, gW2 and the hidden error
    return n_train * per_train_example + n_valid * 2 * (784 * n_hidden + n_hidden * 10)


class Ours:
    def __init__(self, mnist, n_hidden: int, prefer_blas: bool) -> None:
        self.mnist = mnist
        self.params = init_params(n_hidden, numpy.random.RandomState(1234))
        self.gemm = Gemm(numpy, numpy.float32, prefer_blas=prefer_blas)
        self.sgd = mlp.SGD(self.params, BATCH, LEARNING_RATE, 0.0, L2_REG, numpy, self.gemm)
        self.targets = one_hot(mnist.train.y)

    def epoch(self) -> float:
        x, t, step = self.mnist.train.x, self.targets, self.sgd.step
        for lo in range(0, x.shape[0] - BATCH + 1, BATCH):
            step(x[lo:lo + BATCH], t[lo:lo + BATCH])
        return mlp.count_errors(self.params, self.mnist.valid.x, self.mnist.valid.y, numpy, gemm=self.gemm) / len(
            self.mnist.valid)


class OursDeferred:
    """The step train() takes by default on NumPy + SciPy: W1's update deferred over blocks of 5 steps."""

    def __init__(self, mnist, n_hidden: int) -> None:
        self.mnist = mnist
        self.params = init_params(n_hidden, numpy.random.RandomState(1234))
        self.gemm = Gemm(numpy, numpy.float32)
        self.sgd = DeferredSGD(self.params, mnist.train.x, mnist.train.y, BATCH, LEARNING_RATE, L2_REG, self.gemm)

    def epoch(self) -> float:
        n_batches, block = self.sgd.n_batches, self.sgd.block_steps
        with self.sgd.errstate():
            for start in range(0, n_batches, block):
                self.sgd.run(start, min(start + block, n_batches))
        self.sgd.store()
        return mlp.count_errors(self.params, self.mnist.valid.x, self.mnist.valid.y, numpy, gemm=self.gemm) / len(
            self.mnist.valid)


class Torch:
    """What a PyTorch user would write: nn.Sequential, cross_entropy, SGD with weight decay on the
    weights only (2 * L2_reg, the gradient of L2_reg * sum(W**2)), zero_grad/backward/step."""

    def __init__(self, mnist, n_hidden: int) -> None:
        import torch

        self.torch = torch
        torch.set_num_threads(1)
        torch.manual_seed(1234)
        self.model = torch.nn.Sequential(torch.nn.Linear(784, n_hidden), torch.nn.Tanh(),
                                         torch.nn.Linear(n_hidden, 10))
        weights = [self.model[0].weight, self.model[2].weight]
        biases = [self.model[0].bias, self.model[2].bias]
        self.opt = torch.optim.SGD([{"params": weights, "weight_decay": 2 * L2_REG},
                                    {"params": biases, "weight_decay": 0.0}], lr=LEARNING_RATE)
        self.x = torch.from_numpy(mnist.train.x)
        self.y = torch.from_numpy(mnist.train.y)
        self.vx = torch.from_numpy(mnist.valid.x)
        self.vy = torch.from_numpy(mnist.valid.y)

    def epoch(self) -> float:
        torch, model, opt = self.torch, self.model, self.opt
        for lo in range(0, self.x.shape[0] - BATCH + 1, BATCH):
            loss = torch.nn.functional.cross_entropy(model(self.x[lo:lo + BATCH]), self.y[lo:lo + BATCH])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float((model(self.vx).argmax(dim=1) != self.vy).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per model (median reported; default 5)")
    parser.add_argument("--n-hidden", type=int, default=100)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    args = parser.parse_args()
    scipy_blas()  # load every BLAS library before limiting threads (threadpoolctl limits the loaded ones)
    if not args.no_torch:
        import torch  # noqa: F401
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1, user_api="blas")
    except ImportError:
        print("threadpoolctl missing: BLAS threads not limited", file=sys.stderr)

    mnist = data.load_mnist()
    models = {"ours, deferred (default)": OursDeferred(mnist, args.n_hidden),
              "ours, per-step, SciPy gemm": Ours(mnist, args.n_hidden, True),
              "ours, per-step, numpy.dot": Ours(mnist, args.n_hidden, False)}
    if not models["ours, per-step, SciPy gemm"].gemm.fused:
        del models["ours, per-step, SciPy gemm"], models["ours, deferred (default)"]
    if not args.no_torch:
        models["PyTorch " + __import__("torch").__version__] = Torch(mnist, args.n_hidden)

    peak_numpy = matmul_peak_gflops(lambda a, b, out: numpy.dot(a, b, out=out))
    fused = Gemm(numpy, numpy.float32)
    peak_scipy = matmul_peak_gflops(fused) if fused.fused else float("nan")
    peak = max(peak_numpy, peak_scipy if peak_scipy == peak_scipy else 0.0)

    times: dict[str, list[float]] = {name: [] for name in models}
    errors: dict[str, float] = {}
    for _ in range(args.epochs):
        for name, model in models.items():
            start = time.perf_counter()
            errors[name] = model.epoch()
            times[name].append(time.perf_counter() - start)

    flops = flops_per_epoch(args.n_hidden, len(mnist.train), len(mnist.valid))
    baseline = next((statistics.median(t) for n, t in times.items() if n.startswith("PyTorch")), None)
    print(f"MLP 784-{args.n_hidden}-10, batch {BATCH}, lr {LEARNING_RATE}, {args.epochs} epochs each, 1 thread; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"BLAS: {blas_info()}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r}")
    print(f"float32 matmul peak ({PEAK_SIZE}^3, 1 thread): numpy.dot {peak_numpy:.1f} GFLOP/s, "
          f"SciPy sgemm {peak_scipy:.1f} GFLOP/s")
    print(f"{'model':30s} {'s/epoch':>8s} {'min':>7s} {'vs torch':>9s} {'GFLOP/s':>8s} {'% peak':>7s} {'valid err':>9s}")
    for name, t in times.items():
        med = statistics.median(t)
        ratio = f"{med / baseline:.2f}x" if baseline else "-"
        gflops = flops / med / 1e9
        print(f"{name:30s} {med:8.3f} {min(t):7.3f} {ratio:>9s} {gflops:8.1f} {100 * gflops / peak:6.1f}% "
              f"{errors[name]:9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
