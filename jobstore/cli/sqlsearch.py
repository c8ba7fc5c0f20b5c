"""``jobman sqlsearch DB EXPERIMENT [PARAMS...] KEY~DIST(...)... --objective KEY --trials N``:
register an adaptive search that the workers serve.

The search is stored in the table (its space, fixed parameters, sampler, seed, objective,
direction and budget); it runs no job by itself. Every ``jobman sql DB EXPROOT`` worker that finds
no scheduled job asks the search for its next point, inserts that job and runs it, until the
budget of trials is spent; the sampler learns from the jobs that finished. Everything is checked
before the database is touched: bad input writes nothing.
"""
from __future__ import annotations

import argparse

from ..errors import UsageError
from ..params.parser import ParamParser
from ..search import samplers
from ..search.space import ACCEPTED, parse_space, split_tokens
from ..store.searches import SEARCH_KEY, Search
from ..worker.codeinfo import schedule_keys
from .base import CommandParser, check_experiment, check_url, open_store
from .sqlschedule import PARAMS_HELP

HELP = "register an adaptive search served by the workers: sqlsearch DB EXPERIMENT PARAMS... KEY~DIST(...)..."


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = CommandParser(prog=prog, description=__doc__.split("\n\n")[1].replace("\n", " "),
                      epilog="Example: jobman sqlsearch DB models.mlp_jobman.experiment conf/mlp_jobman.conf "
                             "n_iter=3 'learning_rate~loguniform(1e-4,1e-1)' 'n_hidden~int(10,200)' "
                             "--objective best_validation_loss --trials 50; then jobman sql -n 0 DB EXPROOT "
                             "on as many workers as you like.")
    p.add_argument("db", metavar="DB", help="the job table's URL")
    p.add_argument("experiment", metavar="EXPERIMENT", help="dotted name of experiment(state, channel)")
    p.add_argument("params", metavar="PARAMS", nargs="*",
                   help=f"the searched keys: {ACCEPTED.removeprefix('expected ')}; the fixed ones: {PARAMS_HELP}")
    p.add_argument("--objective", required=True, metavar="KEY",
                   help="the state key the experiment sets to the value to optimise")
    p.add_argument("--maximize", action="store_true", help="maximise the objective (default: minimise)")
    p.add_argument("--trials", required=True, type=int, metavar="N", help="the budget: how many jobs in all")
    p.add_argument("--sampler", default="tpe",
                   help=f"one of {', '.join(samplers.SAMPLERS)} (default tpe); all but grid need the [search] extra")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampler (default: a fresh one)")
    p.add_argument("--name", default=None, help="the search's name (default: search<N>)")
    return p


def build_search(args: argparse.Namespace) -> Search:
    """The search the arguments describe, checked in full: a bad one raises UsageError."""
    experiment = check_experiment(args.experiment)
    param_tokens, dim_tokens = split_tokens(args.params)
    if not dim_tokens:
        raise UsageError(f"no searched key: give at least one KEY~DIST(...), {ACCEPTED}")
    dims = parse_space(dim_tokens)
    if args.trials < 1:
        raise UsageError(f"invalid --trials {args.trials}: expected a number of jobs >= 1")
    if not args.objective.strip():
        raise UsageError("empty --objective: expected the state key the experiment sets")
    if args.name is not None and not args.name.strip():
        raise UsageError("empty --name: expected a name for the search")
    samplers.check_sampler(args.sampler, dims, args.trials)
    fixed = ParamParser().parse(param_tokens)
    for key in [k for k in fixed if k.startswith("jobman.") or any(d.key == k for d in dims)]:
        fixed.pop(key)  # a searched key overrides its default from a conf file
    fixed.update(schedule_keys(experiment))  # every job of the search carries the code it was registered with
    return Search(name=args.name.strip() if args.name else None, experiment=experiment,
                  space=[d.to_json() for d in dims], fixed=fixed, sampler=args.sampler,
                  objective=args.objective.strip(), direction="maximize" if args.maximize else "minimize",
                  budget=args.trials, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    check_url(args.db)
    search = build_search(args)
    with open_store(args.db, create=True) as db:
        search = db.searches().register(search)
    space = " ".join(str(d) for d in search.dimensions())
    print(f"REGISTERED search {search.name!r} (id {search.id}): {search.budget} trials of {search.experiment} "
          f"with {search.sampler}, {search.direction} {search.objective} over {space}; its jobs carry "
          f"{SEARCH_KEY}={search.name!r}. Run it with: jobman sql -n 0 {args.db} EXPROOT")
    return 0
