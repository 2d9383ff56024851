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


MODEL_ASSET_SCHEME = "mlflow-model"
PREDICTIONS_ASSET_SCHEME = "retrain-predictions"


def model_asset_uri(model_name: str) -> str:
    """The champion of a registered model: updated on every promotion and rollback."""
    return f"{MODEL_ASSET_SCHEME}://{model_name}"


def model_asset(model_name: str):
    from airflow.sdk import Asset

    return Asset(name=f"{model_name} champion", uri=model_asset_uri(model_name))


def predictions_asset_uri(location: str) -> str:
    return f"{PREDICTIONS_ASSET_SCHEME}://{location.strip('/')}"


def predictions_asset(location: str):
    from airflow.sdk import Asset

    return Asset(name=f"predictions {location.strip('/')}", uri=predictions_asset_uri(location))
