"""Optuna's samplers used as a library: one ask from the history that the job table holds.

Optuna's own storage is not used. For each ask an in-memory study is rebuilt from the search's
jobs (DONE with a numeric objective → complete, ERR_* or DONE without it → failed, START/RUNNING
→ running) and asked once; the table stays the truth, so any number of workers on any number of
machines share one history. Running trials are given to the sampler as running: TPE runs with
``constant_liar`` (a running point counts as a bad one), the grid skips running points, so
parallel workers spread out instead of drawing the same point.

Optuna is the optional extra ``[search]``; this module imports it only when asked for a point, and
says in one line which extra to install when it is missing.
"""
from __future__ import annotations

import datetime
import functools
import itertools
import logging
import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .space import Dimension, grid_size

SAMPLERS = ("tpe", "random", "cmaes", "grid")
DIRECTIONS = ("minimize", "maximize")
INSTALL_HINT = "pip install 'jobman-ng[search]' (Optuna and cmaes)"
COMPLETE, FAILED, RUNNING = "complete", "failed", "running"
_SEED_MOD = 2**32
_EPOCH = datetime.datetime(2000, 1, 1)  # trials' times: unused by the samplers, required by Optuna


@dataclass(frozen=True)
class Trial:
    """One job of the search as the sampler sees it: its point, its state, its objective value."""

    params: dict[str, Any]
    state: str  # COMPLETE, FAILED or RUNNING
    value: float | None = None


def require_optuna() -> Any:
    """The ``optuna`` module, or a one-line :class:`UsageError` naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise UsageError(f"adaptive search needs Optuna, which is not installed: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def check_sampler(name: str, dims: Sequence[Dimension], budget: int) -> None:
    """Refuse an unknown sampler, a missing Optuna, or a grid over a continuous range or smaller
    than the budget."""
    if name not in SAMPLERS:
        raise UsageError(f"unknown sampler {name!r}: expected one of {', '.join(SAMPLERS)}")
    if name != "grid":
        require_optuna()
        return
    size = grid_size(dims)
    if size is None:
        cont = next(d for d in dims if d.kind in ("uniform", "loguniform"))
        raise UsageError(f"the grid sampler needs discrete dimensions, but {cont} is continuous: "
                         "use ~int(a,b) or ~choice(...)")
    if budget > size:
        raise UsageError(f"--trials {budget} exceeds the grid's {size} points: expected --trials <= {size}")


def objective_value(value: Any) -> float | None:
    """A finite number from the job's objective key, or None (missing, text, NaN: a failed trial)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def ask_seed(seed: int | None, n_trials: int, attempt: int) -> int | None:
    """A different but reproducible seed for every ask of a seeded search."""
    if seed is None:
        return None
    return (seed * 1_000_003 + n_trials * 7_919 + attempt) % _SEED_MOD


def ask(dims: Sequence[Dimension], sampler: str, direction: str, history: Sequence[Trial], *,
        seed: int | None = None, attempt: int = 0) -> dict[str, Any]:
    """The next point to try given ``history``: ``{key: value}`` for every dimension. ``attempt``
    counts the asks already refused as duplicates, so that a seeded search draws anew."""
    if sampler == "grid":
        return next_grid_point(dims, history, seed)
    optuna = require_optuna()
    dists = {d.key: _distribution(optuna, d) for d in dims}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings, once per ask
        study = optuna.create_study(storage=_storage_class(optuna)(), direction=direction,
                                    sampler=_make_sampler(optuna, sampler, ask_seed(seed, len(history), attempt)))
        study.add_trials([f for f in (_frozen(optuna, t, dists) for t in history) if f is not None])
        trial = study.ask(dists)
    return {k: _plain(trial.params[k]) for k in dists}


def next_grid_point(dims: Sequence[Dimension], history: Sequence[Trial], seed: int | None) -> dict[str, Any]:
    """The grid: every point of the product of the dimensions, in an order shuffled once by the
    search's seed; the first point that no job holds yet (running ones included), or the first
    point again when every one is taken (the caller's duplicate check then refuses it).
    Optuna's GridSampler keeps its visit marks in its own storage (and shuffles by a seed that
    would change with every ask here), which a study rebuilt for every ask cannot give it."""
    points = list(itertools.product(*(_grid_values(d) for d in dims)))
    random.Random(seed or 0).shuffle(points)
    keys = [d.key for d in dims]
    taken = {tuple(repr(t.params.get(k)) for k in keys) for t in history}
    for point in points:
        if tuple(repr(v) for v in point) not in taken:
            return dict(zip(keys, point))
    return dict(zip(keys, points[0]))


# -- Optuna's objects ---------------------------------------------------------------------------

def _distribution(optuna: Any, d: Dimension) -> Any:
    dist = optuna.distributions
    if d.kind == "choice":
        return dist.CategoricalDistribution(list(d.choices))
    if d.is_int:
        return dist.IntDistribution(int(d.low), int(d.high), log=d.log)
    return dist.FloatDistribution(float(d.low), float(d.high), log=d.log)


def _grid_values(d: Dimension) -> list[Any]:
    return list(d.choices) if d.kind == "choice" else list(range(int(d.low), int(d.high) + 1))


def _make_sampler(optuna: Any, name: str, seed: int | None) -> Any:
    s = optuna.samplers
    if name == "tpe":
        return s.TPESampler(seed=seed, constant_liar=True, multivariate=True)
    if name == "cmaes":
        return s.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return s.RandomSampler(seed=seed)


@functools.cache
def _storage_class(optuna: Any) -> type:
    """Optuna's in-memory storage without the deep copy of every added trial: the trials are built
    here for this one study and never touched again, and their copies were 60% of an ask with 1,000
    trials. The body is Optuna's own ``create_new_trial`` minus the copy; anything else is Optuna's."""
    base = optuna.storages.InMemoryStorage

    class OwnedTrialsStorage(base):  # type: ignore[misc, valid-type]
        def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
            if template_trial is None or not getattr(template_trial, "_jobman_owned", False):
                return int(super().create_new_trial(study_id, template_trial))
            with self._lock:
                trials = self._studies[study_id].trials
                self._max_trial_id += 1
                trial_id = self._max_trial_id
                template_trial.number = len(trials)
                template_trial._trial_id = trial_id
                self._trial_id_to_study_id_and_number[trial_id] = (study_id, template_trial.number)
                trials.append(template_trial)
                self._update_cache(trial_id, study_id)
                return trial_id

    return OwnedTrialsStorage


def _frozen(optuna: Any, trial: Trial, dists: dict[str, Any]) -> Any | None:
    """The trial as Optuna's FrozenTrial, or None when its point lies outside the space (a job
    edited by hand): the sampler cannot use it. Checked here, so that create_trial's slower
    validation is not needed."""
    states = optuna.trial.TrialState
    state = {COMPLETE: states.COMPLETE, FAILED: states.FAIL, RUNNING: states.RUNNING}[trial.state]
    try:
        params = {k: trial.params[k] for k in dists}
        if not all(dists[k]._contains(dists[k].to_internal_repr(v)) for k, v in params.items()):
            return None
    except (KeyError, ValueError, TypeError):
        return None
    value = trial.value if state == states.COMPLETE else None
    if state == states.COMPLETE and value is None:
        state = states.FAIL
    frozen = optuna.trial.FrozenTrial(
        number=-1, trial_id=-1, state=state, value=value, datetime_start=_EPOCH,
        datetime_complete=None if state == states.RUNNING else _EPOCH, params=params,
        distributions=dists, user_attrs={}, system_attrs={}, intermediate_values={})
    frozen._jobman_owned = True
    return frozen


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so that the state stays plain JSON."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    return value
