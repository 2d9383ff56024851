"""Fixtures for the data-contract tests: the demo suite, loaded once, and a small frame of good demo data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from retrain.validation import ContractSuite, load_suite
from retrain_demo.data import generate_day

DEMO_SUITE_PATH = (
    Path(__file__).resolve().parents[3] / "include" / "expectations" / "ecommerce_impressions.yaml"
)
DEMO_DAY = date(2026, 11, 20)


@pytest.fixture(scope="session")
def demo_suite() -> ContractSuite:
    return load_suite(DEMO_SUITE_PATH)


@pytest.fixture(scope="session")
def _demo_frame() -> pd.DataFrame:
    return generate_day(DEMO_DAY, 2000).to_pandas()


@pytest.fixture
def good_frame(_demo_frame: pd.DataFrame) -> pd.DataFrame:
    """2,000 rows of demo impressions that keep the contract; each test gets its own copy to break."""
    return _demo_frame.copy()


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write YAML text to a suite file and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
