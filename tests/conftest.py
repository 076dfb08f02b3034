"""Fixtures shared by the test files: the reference data in ../shared (beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CASES = SHARED / "cases"
SAMPLE = ROOT / "samples" / "sts_psoas.txt"


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    """../shared/cases, or a skip saying it is missing."""
    if not CASES.is_dir():
        pytest.skip(f"reference cases not found at {CASES} (the shared folder beside the repository)")
    return CASES
