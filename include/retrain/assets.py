"""Every Airflow Asset URI in one place. Producers (landing jobs) and consumers (model DAGs) import it.

An asset stands for a dataset folder named in specs (``data.location``), independent of where the data
root is mounted, so the same URI works on a laptop and in production.
"""

from __future__ import annotations

ASSET_SCHEME = "retrain-data"


def dataset_asset_uri(location: str) -> str:
    return f"{ASSET_SCHEME}://{location.strip('/')}"


def dataset_asset(location: str):
    from airflow.sdk import Asset

    return Asset(name=location.strip("/"), uri=dataset_asset_uri(location))
