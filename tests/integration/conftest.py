"""Fixtures for the integration tests."""

from __future__ import annotations

import pytest

from tests.support import shared_airflow as shared


@pytest.fixture(scope="module")
def shared_airflow(request):
    """The Airflow stack shared between modules (tests/support/shared_airflow.py): declare your specs and
    DAG files with ``share_airflow(...)`` at import time. Started on first use, stopped after the last user."""
    return shared.get(request.module.__name__)
