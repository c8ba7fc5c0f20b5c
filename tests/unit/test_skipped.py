"""How a re-run of sqlschedules names many skipped jobs: ids as ranges, cut after a dozen."""
from __future__ import annotations

from jobstore.cli.skipped import ids_text


def test_ids_are_ranges_and_many_are_summarised():
    assert ids_text([3, 1, 2, 7, 9, 10]) == "1-3, 7, 9-10"
    assert ids_text([5]) == "5"
    many = [i for i in range(1, 200) if i % 3]  # 1-2, 4-5, ...: 67 ranges, 133 ids
    text = ids_text(many)
    assert text.startswith("1-2, 4-5, 7-8") and text.endswith(", ... (109 more)")
    assert text.count(",") == 12
