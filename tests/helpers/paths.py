"""Where things are: the repository's root and the folders of the test tree."""
from __future__ import annotations

from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
TESTS_DIR = Path(ROOT) / "tests"
EXPERIMENTS_DIR = TESTS_DIR / "experiments"
GOLDEN_DIR = TESTS_DIR / "golden"
