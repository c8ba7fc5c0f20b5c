"""Golden-file comparison shared by the backend tests: rendered scripts must equal the files in
tests/golden/. ``UPDATE_GOLDEN=1 pytest ...`` rewrites them after an intended change (then review
the diff)."""
from __future__ import annotations

import os

from .paths import GOLDEN_DIR


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 and review the diff"
