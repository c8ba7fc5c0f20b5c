"""Helpers for the dashboard's tests: fill a table with finished jobs and metric points, run the
dashboard's server in a thread, drive the system's Chromium headless through Selenium."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from jobstore.status import DONE, ERR_RUN
from jobstore.store import open_db
from jobstore.store.metrics import Point

EXP = "metric_exps.curve"
SCRIPT_VALUE = "<script>window.pwned = 1</script>"
SCRIPT_KEY = "<img src=x onerror=window.pwned=2>"


def fill(url: str, n_done: int, n_start: int = 0) -> list[int]:
    """``n_done`` DONE jobs (lr spanning decades, a loss curve each) and ``n_start`` waiting ones;
    job 1 holds a <script> value under a key that is itself markup. Returns the ids."""
    states = [{"jobman.experiment": EXP, "lr": 10.0 ** (-1 - 4 * i / max(1, n_done + n_start)),
               "n_hidden": 10 * (1 + i % 4), "note": SCRIPT_VALUE if i == 0 else f"job{i}"}
              for i in range(n_done + n_start)]
    states[0][SCRIPT_KEY] = SCRIPT_VALUE
    with open_db(url) as db:
        ids = [r.job_id for r in db.insert_jobs(states)]
        for _ in range(n_done):
            finish_next(db)
    return ids  # type: ignore[return-value]


def finish_next(db: Any) -> int:
    """Claim the next job and finish it DONE with a result and a loss curve; its id."""
    j = db.claim(worker="w", host="node1", lease_s=60, max_attempts=3)
    loss = 1.0 / (1 + 100 * j.state["lr"])
    points = [Point(e, "valid_loss", loss + 1.0 / (e + 1)) for e in range(5)]
    assert db.finish(j.id, j.attempt, status=DONE, end_reason="completed",
                     state=dict(j.state, best_validation_loss=loss), metrics=points)
    return int(j.id)


def small_search(url: str, objective_by_x: dict[int, float | None], *, n_run: int | None = None,
                 name: str = SCRIPT_VALUE, direction: str = "minimize") -> list[int]:
    """A search named ``name`` (markup: it must show as text) on a grid over the keys of
    ``objective_by_x``, ``n_run`` of its trials (all by default) run by :func:`run_trials`.
    Returns the trials' job ids in order."""
    from jobstore.search.space import parse_space, space_to_json
    from jobstore.store.searches import Search

    xs = ",".join(str(x) for x in objective_by_x)
    search = Search(name=name, experiment=EXP, space=space_to_json(parse_space([f"x~choice({xs})"])), fixed={},
                    sampler="grid", objective="loss", direction=direction, budget=len(objective_by_x))
    with open_db(url) as db:
        db.searches().register(search)
    return run_trials(url, objective_by_x, len(objective_by_x) if n_run is None else n_run)


def run_trials(url: str, objective_by_x: dict[int, float | None], n: int) -> list[int]:
    """Ask, claim and finish ``n`` trials of the search as a worker would: DONE with the objective
    of their ``x``, or ERR_RUN where it is None. Returns their job ids."""
    ids = []
    with open_db(url) as db:
        for _ in range(n):
            j = db.claim_from_search(worker="w", host="node1", lease_s=60)
            value = objective_by_x[j.state["x"]]
            assert db.finish(j.id, j.attempt, status=DONE if value is not None else ERR_RUN,
                             end_reason="completed" if value is not None else "error",
                             state=dict(j.state, **({"loss": value} if value is not None else {})))
            ids.append(int(j.id))
    return ids


def best_so_far(url: str, ids: list[int], direction: str = "minimize") -> list[list[float]]:
    """[trial numbers, best objective after each] of the DONE trials ``ids`` (in order), as the
    page draws them; failed trials are skipped."""
    xs: list[float] = []
    best: list[float] = []
    with open_db(url) as db:
        for n, job in enumerate(ids, 1):
            j = db.get(job)
            if j.status != DONE:
                continue
            value = j.state["loss"]
            better = min if direction == "minimize" else max
            best.append(value if not best else better(best[-1], value))
            xs.append(n)
    return [xs, best]


@contextlib.contextmanager
def running_server(url: str, read_only: bool = False) -> Iterator[Any]:
    """The dashboard of ``url`` on 127.0.0.1, any free port, served by a thread."""
    from jobstore.report.dashboard.api import Api
    from jobstore.report.dashboard.server import make_server

    store = open_db(url, create=False)
    server = make_server(Api(store, read_only=read_only), "127.0.0.1", 0)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def chromium() -> Any:
    """Headless Debian Chromium through Debian's chromedriver (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,2200"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
