"""The dashboard's pages sorted or filtered by a state key, served from sorted ids kept current
from the rows written since the last refresh (store/sorted_ids.py), on both dialects: after each
kind of write (a finish, a hand cancel, a new value, new jobs, a write that committed late) every
page is the one the database gives by sorting the whole table, and a refresh reads only the
recently written rows."""
from __future__ import annotations

import math

import pytest

from jobstore import status as st
from jobstore.store import open_db
from jobstore.store.board import Board
from tests.helpers.dashboard import fill, finish_next

VIEWS = [  # (sort, desc, statuses, select)
    ("best_validation_loss", False, None, None), ("best_validation_loss", True, None, None),
    ("lr", True, [st.DONE], None), ("note", False, None, None), ("host", True, None, None),
    ("id", False, None, {"n_hidden": 30}), ("priority", True, None, {"n_hidden": 20}),
]


def pages(board: Board, limit: int = 7) -> list[list[tuple[int, int]]]:
    """Every view's first pages, as (ids, total), from the sorted ids."""
    out = []
    for sort, desc, statuses, select in VIEWS:
        for offset in (0, limit, 2 * limit):
            page = board.page(offset=offset, limit=limit, sort=sort, desc=desc, statuses=statuses, select=select)
            out.append(([r["id"] for r in page.rows], page.total))
    return out


def oracle(board: Board, limit: int = 7) -> list[list[tuple[int, int]]]:
    """The same pages sorted and counted by the database."""
    out = []
    for sort, desc, statuses, select in VIEWS:
        for offset in (0, limit, 2 * limit):
            page = board._sql_page(offset, limit, sort, desc, statuses, select)
            out.append(([r["id"] for r in page.rows], page.total))
    return out


def test_sorted_pages_follow_every_write(db_url):
    ids = fill(db_url, n_done=20, n_start=10)
    with open_db(db_url) as store:
        board = Board(store)
        assert pages(board) == oracle(board)
        finish_next(store)                                   # a finish: a new value, a new status
        store.set_status(ids[-1:], st.CANCELED)              # a hand change
        store.set_priority(ids[3:5], 9.0)
        j = store.claim(worker="w", host="node2", lease_s=60, max_attempts=3)
        assert store.save(j.id, j.attempt, dict(j.state, best_validation_loss=-1.0, note="aaa"), 60)  # a save
        store.insert_jobs([{"jobman.experiment": "x", "lr": 0.5, "n_hidden": 30, "note": "new"},
                           {"jobman.experiment": "x", "lr": 1e-9, "n_hidden": 20}])  # new jobs
        assert pages(board) == oracle(board)
        first = board.page(offset=0, limit=3, sort="best_validation_loss", desc=False)
        assert first.rows[0]["id"] == j.id and first.rows[0]["state"]["note"] == "aaa"


def test_a_refresh_reads_only_the_rows_written_since_the_last_one(db_url):
    """A row changed without its ``updated`` time moving is not seen: the refresh did not read the
    whole table. A row written with a time just before the last refresh (a transaction that began
    before it and committed after) is seen, thanks to the clock margin."""
    ids = fill(db_url, n_done=12)
    with open_db(db_url) as store:
        board = Board(store)
        _age_every_row(store, 3600)
        before = [r["id"] for r in board.page(offset=0, limit=12, sort="best_validation_loss").rows]
        _write(store, before[-1], -5.0, ago_s=3600)         # unseen: updated not moved
        assert [r["id"] for r in board.page(offset=0, limit=12, sort="best_validation_loss").rows] == before
        _write(store, before[-2], -6.0, ago_s=10)           # committed late, within the margin
        after = [r["id"] for r in board.page(offset=0, limit=12, sort="best_validation_loss").rows]
        assert after[0] == before[-2] and sorted(after) == sorted(ids)


def _age_every_row(store, seconds: float) -> None:
    pg = store.sql.name == "postgres"
    text = ("UPDATE jobs SET updated = updated - %(s)s * interval '1 second'" if pg
            else "UPDATE jobs SET updated = updated - :s")
    store.db.run("age", lambda c: c.execute(text, {"s": seconds}))


def _write(store, job: int, loss: float, ago_s: float) -> None:
    """Set the job's loss by hand with ``updated`` ``ago_s`` seconds ago."""
    if store.sql.name == "postgres":
        text = ("UPDATE jobs SET state = jsonb_set(state, '{best_validation_loss}', to_jsonb(%(v)s::float8)), "
                "updated = now() - %(s)s * interval '1 second' WHERE id = %(id)s")
    else:
        text = ("UPDATE jobs SET state = json_set(state, '$.best_validation_loss', :v), "
                "updated = (julianday('now') - 2440587.5) * 86400.0 - :s WHERE id = :id")
    store.db.run("write", lambda c: c.execute(text, {"v": loss, "s": ago_s, "id": job}))


def test_a_key_of_several_json_types_orders_numbers_text_then_lists_and_objects(db_url):
    values = [[2, 1], "b", 3, {"a": 1}, None, "a", 1.5, [1]]
    with open_db(db_url) as store:
        ids = [r.job_id for r in store.insert_jobs([{"jobman.experiment": "x", "i": i, **({} if v is None else {"v": v})}
                                                   for i, v in enumerate(values)])]
        board = Board(store)
        want = [ids[i] for i in (6, 2, 5, 1, 7, 0, 3, 4)]  # 1.5 3 "a" "b" [1] [2,1] {"a":1}, then None
        assert [r["id"] for r in board.page(offset=0, limit=10, sort="v").rows] == want
        assert [r["id"] for r in board.page(offset=0, limit=10, sort="v", desc=True).rows] == want[-2::-1] + want[-1:]


@pytest.mark.parametrize("values", [[3.0, math.nan, None, -1.0, math.inf, 2.0]])
def test_nan_infinity_and_missing_values_order_as_the_database_orders_them(db_url, values):
    with open_db(db_url) as store:
        store.insert_jobs([{"jobman.experiment": "x", "i": i, **({} if v is None else {"v": v})}
                           for i, v in enumerate(values)])
        store.insert_jobs([{"jobman.experiment": "x", "i": 99, "v": 0.5}])
        board = Board(store)
        for desc in (False, True):
            got = board.page(offset=0, limit=10, sort="v", desc=desc)
            want = board._sql_page(0, 10, "v", desc, None, None)
            assert [r["id"] for r in got.rows] == [r["id"] for r in want.rows]
