"""Stand-ins for the parts of an Airflow task context the sensors read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from retrain.assets import dataset_asset_uri

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_esmm.yaml"


def event(partition: str | None, uri: str | None = None) -> SimpleNamespace:
    extra = {"from_rest_api": True} if partition is None else {"partition": partition}
    return SimpleNamespace(asset=SimpleNamespace(uri=uri or dataset_asset_uri("ecommerce/impressions")), extra=extra)


def context(run_type="scheduled", events=(), data_interval_end=None, logical_date=None, run_after=None, params=None):
    dag_run = SimpleNamespace(run_type=run_type, consumed_asset_events=list(events), run_after=run_after)
    return {"dag_run": dag_run, "data_interval_end": data_interval_end, "logical_date": logical_date or data_interval_end,
            "params": params or {}}
