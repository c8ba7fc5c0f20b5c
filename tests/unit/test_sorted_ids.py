"""The sorted ids behind the dashboard's sorted pages (store/sorted_ids.py), without a database:
after any sequence of changes, every window is the slice of the order the database gives
(values ascending or descending, NaN after numbers, missing values last, ties by id)."""
from __future__ import annotations

import math
import random

import pytest

from jobstore.store import sorted_ids
from jobstore.store.sorted_ids import SortedIds


def reference(rows: dict[int, object], desc: bool) -> list[int]:
    valued = sorted((sorted_ids.sort_key(v), j) for j, v in rows.items() if v is not None)
    nulls = sorted(j for j, v in rows.items() if v is None)
    return [j for _, j in (valued[::-1] if desc else valued)] + (nulls[::-1] if desc else nulls)


@pytest.mark.parametrize("block_items", [3, 500])
def test_windows_follow_random_changes(monkeypatch, block_items):
    monkeypatch.setattr(sorted_ids, "BLOCK_ITEMS", block_items)
    rng = random.Random(7)
    values = [None, math.nan, math.inf, -1.0, 0.5, 2, 3.25, 7]
    rows = {j: rng.choice(values) for j in range(1, 200)}
    ids = SortedIds(0.0)
    ids.apply(0.0, [(j, v, True) for j, v in rows.items()])
    for step in range(300):
        batch = []
        for _ in range(rng.choice([1, 2, 5, 60])):  # 60: past RESORT_FRACTION, sorted again
            job = rng.randrange(1, 260)
            value, matches = rng.choice(values), rng.random() < 0.8
            batch.append((job, value, matches))
            if matches:
                rows[job] = value
            else:
                rows.pop(job, None)
        ids.apply(float(step), batch)
        assert len(ids) == len(rows) and ids.max_id == max(ids.max_id, *rows)
        for desc in (False, True):
            want = reference(rows, desc)
            for offset, limit in ((0, 7), (rng.randrange(0, len(rows) + 5), rng.randrange(1, 40))):
                assert ids.window(offset, limit, desc) == want[offset:offset + limit]


def test_the_clock_only_moves_forward_and_next_read_starts_a_margin_before():
    ids = SortedIds(1000.0)
    ids.apply(990.0, [])
    assert ids.clock == 1000.0 and ids.since == 1000.0 - sorted_ids.CLOCK_MARGIN_S
