"""The champion as an Airflow Asset: an event on ``mlflow-model://<name>`` whenever the champion moves.

Promotion emits it from the model DAG's ``announce_champion`` task (an outlet); ``retrain rollback`` posts it
through the REST API. ``extra`` carries the version and the MLflow run id, so a consumer knows exactly which
model it was woken for without asking the registry.
"""

from __future__ import annotations

from typing import Any


def champion_event_extra(model_name: str, version: str, run_id: str | None, previous: str | None,
                         reason: str) -> dict[str, Any]:
    return {"model": model_name, "version": str(version), "run_id": run_id or "",
            "previous_champion": previous or "", "reason": reason,
            "model_uri": f"models:/{model_name}/{version}"}


def announce(context, model_name: str, outcome: dict, trained: dict) -> dict:
    """Set the outlet event's ``extra``; skip (no event) when this run did not move the champion."""
    from airflow.sdk.exceptions import AirflowSkipException

    from retrain.assets import model_asset

    if not outcome.get("promoted") or outcome.get("previous_champion") == outcome.get("version"):
        raise AirflowSkipException(f"{model_name}: the champion did not move in this run; no asset event")
    extra = champion_event_extra(model_name, outcome["version"], trained.get("run_id"),
                                 outcome.get("previous_champion"), "promotion")
    context["outlet_events"][model_asset(model_name)].extra = extra
    return extra


def announce_rollback(model_name: str, version: str, previous: str | None, run_id: str | None) -> dict | None:
    """After ``retrain rollback``: post the asset event through the Airflow REST API when credentials are set
    (``AIRFLOW_TOKEN``, or ``AIRFLOW_PASSWORD`` with ``AIRFLOW_USERNAME``). Returns the event, or None."""
    from retrain.assets import model_asset
    from retrain.orchestration.airflow_api import AirflowApi
    from retrain.settings import get_settings

    settings = get_settings()
    base, token, password = settings.airflow_base_url, settings.airflow_token, settings.airflow_password
    if not token and not password:
        return None
    api = AirflowApi(base, token) if token else AirflowApi.login(base, settings.airflow_username, password)
    return api.post_asset_event(model_asset(model_name).uri,  # Airflow's normalised form
                                champion_event_extra(model_name, version, run_id, previous, "rollback"))
