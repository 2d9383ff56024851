"""The producer side of data events: one small landing DAG per dataset that model specs read.

``retrain_land_<dataset>`` (e.g. ``retrain_land_ecommerce_impressions``) takes the partition day as a
param, waits (deferred, on the triggerer) until that partition's completion marker exists, then emits an
asset event on the dataset's Asset naming the partition. Every model DAG scheduled on that Asset then
starts a run for it. An upstream system that writes the data triggers it once the write is under way or
done::

    curl -X POST "$AIRFLOW/api/v2/dags/retrain_land_ecommerce_impressions/dagRuns" \\
         -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
         -d '{"logical_date": null, "conf": {"day": "2026-11-21"}}'

A partition whose marker never arrives is never announced: the wait ends as stale data (Slack alert) and
no model run starts. Upstream systems that can post asset events themselves may skip this DAG and call
``POST /api/v2/assets/events`` directly (see :mod:`retrain.orchestration.announce`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from retrain.config import LoadedSpec, discover_specs
from retrain.orchestration.dag_parts import alert_on_failure, stage_task
from retrain.orchestration.retries import default_task_args
from retrain.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_WAIT_MINUTES = 60


def landing_dag_id(location: str) -> str:
    return "retrain_land_" + re.sub(r"[^a-z0-9_]+", "_", location.strip("/").lower()).strip("_")


def build_landing_dag(location: str, readers: list[LoadedSpec]):
    from airflow.sdk import DAG, Param, get_current_context

    from retrain.assets import dataset_asset
    from retrain.orchestration.sensors import PartitionLandedSensor

    first = readers[0].spec
    prefix, marker = first.data.partition_prefix, first.data.completion_marker
    wait = max([s.spec.data.freshness.wait_minutes for s in readers] + [DEFAULT_WAIT_MINUTES])
    asset = dataset_asset(location)
    models = ", ".join(f"`{s.spec.dag_id}`" for s in readers)
    doc = (
        f"### Land `{location}`\n\nWaits for a day partition's `{marker}` marker under `{location}`, then "
        f"emits an asset event on `{asset.uri}` naming the partition. Models reading it: {models}.\n\n"
        f"Trigger with conf `{{\"day\": \"YYYY-MM-DD\"}}` (default: the day before the run's logical date).\n"
    )
    with DAG(
        dag_id=landing_dag_id(location),
        description=f"Announce complete partitions of {location} (asset event {asset.uri})",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=8,  # several days may be landing at once; one waiting day must not block the others
        tags=["retrain", "landing"],
        doc_md=doc,
        params={
            "day": Param(None, type=["null", "string"], description="partition day, YYYY-MM-DD"),
            "wait_minutes": Param(wait, type="number", minimum=0, description="how long to wait for the marker"),
        },
        default_args={"owner": first.owner, "on_failure_callback": alert_on_failure(first.alerts),
                      **default_task_args()},
    ) as dag:
        landed = PartitionLandedSensor(task_id="wait_for_partition", location=location, prefix=prefix, marker=marker)

        @stage_task(outlets=[asset])
        def announce_partition(day: str) -> dict:
            from retrain.data.arrival import partition_event_extra
            from retrain.data.landing import parse_partition_day

            dataset_dir = get_settings().resolve_data_path(location)
            extra = partition_event_extra(dataset_dir, parse_partition_day(day, prefix), prefix, marker)
            get_current_context()["outlet_events"][asset].extra = extra
            log.info("announcing %s %s: asset event on %s with %s", location, day, asset.uri, extra)
            return extra

        announce_partition(landed.output)
    return dag


def build_landing_dags(specs_dir=None) -> dict:
    """One landing DAG per dataset location that a valid spec reads."""
    readers: dict[str, list[LoadedSpec]] = {}
    for item in discover_specs(specs_dir or get_settings().specs_dir):
        if isinstance(item, LoadedSpec):
            readers.setdefault(item.spec.data.location.strip("/"), []).append(item)
    dags = {}
    for location, specs in sorted(readers.items()):
        try:
            dag = build_landing_dag(location, specs)
        except Exception:  # one dataset must never take the other DAGs down
            log.exception("cannot build the landing DAG for %s", location)
            continue
        dags[dag.dag_id] = dag
    return dags
