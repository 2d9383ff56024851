"""The champion as an Airflow Asset: an event on ``mlflow-model://<name>`` whenever the champion moves.

Promotion emits it from the model DAG's ``announce_champion`` task (an outlet); ``retrain rollback`` posts it
through the REST API. ``extra`` carries the version and the MLflow run id, so a consumer knows exactly which
model it was woken for without asking the registry. A segment spec has one Asset for all its segment models
(its scoring DAG scores every segment): ``extra["segments"]`` maps the segments that moved to their versions.
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


SEGMENTS_LISTED = 100  # an event's extra is a row in Airflow's database: the first 100 segments, and the count


def announce_segments(context, model_name: str, chunks: list) -> dict:
    """A segment spec's run: one event on the spec's Asset when any segment champion moved; skip otherwise."""
    from airflow.sdk.exceptions import AirflowSkipException

    from retrain.assets import model_asset

    moved = sorted((o["segment"], str(o["version"])) for outcomes in chunks if outcomes is not None
                   for o in outcomes if o["status"] == "promoted")
    if not moved:
        raise AirflowSkipException(f"{model_name}: no segment champion moved in this run; no asset event")
    extra = {"model": model_name, "reason": "promotion", "promoted": len(moved),
             "segments": {segment[:200]: version for segment, version in moved[:SEGMENTS_LISTED]}}
    context["outlet_events"][model_asset(model_name)].extra = extra
    return extra


def rollback_event(model_name: str, version: str, previous: str | None, run_id: str | None,
                   run_tags: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The Asset's model name and the event's extra for a rollback of ``model_name`` to ``version`` (whose
    training run has ``run_tags``): a segment model's goes to its spec's Asset."""
    from retrain.tracking import tags

    extra = champion_event_extra(model_name, version, run_id, previous, "rollback")
    segment = run_tags.get(tags.SEGMENT)
    if segment is None:
        return model_name, extra
    spec_model = run_tags[tags.MODEL]
    return spec_model, {**extra, "model": spec_model, "segments": {segment: str(version)}}


def announce_rollback(model_name: str, version: str, previous: str | None, run_id: str | None,
                      run_tags: dict[str, str]) -> dict | None:
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
    asset_model, extra = rollback_event(model_name, version, previous, run_id, run_tags)
    return api.post_asset_event(model_asset(asset_model).uri, extra)  # Airflow's normalised form
