"""A NaN result shows as NaN in a table's view on both dialects (SQLite has no NaN value: the view
gives the text 'NaN' rather than NULL, which would read as a missing result)."""
from __future__ import annotations

import math

from jobstore.status import DONE, EndReason
from jobstore.store import open_db
from tests.helpers.rawsql import raw_query


def test_nan_is_nan_in_the_view(db_url):
    with open_db(db_url) as db:
        db.insert_jobs([{"jobman.experiment": "m.f", "x": 1}, {"jobman.experiment": "m.f", "x": 2}])
        for loss in (math.nan, 0.5):
            job = db.claim(worker="t", host="localhost", lease_s=60, max_attempts=3)
            assert db.finish(job.id, job.attempt, status=DONE, end_reason=EndReason.COMPLETED,
                             state={**job.state, "loss": loss})
        db.create_view("v")
    rows = dict(raw_query(db_url, "SELECT x, loss FROM v"))
    assert rows[2] == 0.5
    assert rows[1] == "NaN" if db_url.startswith("sqlite") else math.isnan(rows[1])
