"""Helpers for the dashboard's tests: fill a table with finished jobs and metric points, run the
dashboard's server in a thread, drive the system's Chromium headless through Selenium."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from jobstore.status import DONE
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
