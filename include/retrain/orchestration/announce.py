"""Announce a landed partition to Airflow through its REST API: the call an upstream job makes last.

    python -m retrain.orchestration.announce ecommerce/impressions 2026-11-21 \\
        --api-url http://localhost:8080 --username admin --password "$AIRFLOW_PASSWORD"

It refuses a partition without its completion marker (exit code 2, nothing sent), so a half-written
partition never starts a model run. With a complete one it posts ``POST /api/v2/assets/events`` on the
dataset's Asset, ``extra`` naming the partition, and every model DAG scheduled on it starts a run.
The password may also come from ``AIRFLOW_PASSWORD``, or a ready token from ``AIRFLOW_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from retrain.assets import dataset_asset_uri
from retrain.data.arrival import IncompletePartitionError, partition_event_extra
from retrain.data.landing import DEFAULT_MARKER, DEFAULT_PREFIX, parse_partition_day
from retrain.errors import PathNotAllowedError
from retrain.orchestration.airflow_api import AirflowApi
from retrain.settings import get_settings


def announce_partition(
    api: AirflowApi, location: str, day: date, prefix: str = DEFAULT_PREFIX, marker: str = DEFAULT_MARKER
) -> dict:
    """Post the asset event for a complete partition. Raises IncompletePartitionError (and sends nothing)
    when its marker is missing."""
    extra = partition_event_extra(get_settings().resolve_data_path(location), day, prefix, marker)
    return api.post_asset_event(dataset_asset_uri(location), extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("location", help="dataset folder as in the specs' data.location, e.g. ecommerce/impressions")
    parser.add_argument("day", help="partition day, YYYY-MM-DD (or dt=YYYY-MM-DD)")
    settings = get_settings()
    parser.add_argument("--api-url", default=settings.airflow_base_url)
    parser.add_argument("--username", default=settings.airflow_username)
    parser.add_argument("--password", default=settings.airflow_password)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--marker", default=DEFAULT_MARKER)
    args = parser.parse_args(argv)

    token = settings.airflow_token
    if not token and not args.password:
        parser.error("give --password (or AIRFLOW_PASSWORD), or a token in AIRFLOW_TOKEN")
    api = AirflowApi(args.api_url, token) if token else AirflowApi.login(args.api_url, args.username, args.password)
    try:
        event = announce_partition(api, args.location, parse_partition_day(args.day, args.prefix),
                                   args.prefix, args.marker)
    except (IncompletePartitionError, PathNotAllowedError) as exc:  # outside RETRAIN_DATA_ROOT: never announced
        print(f"not announced: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"asset_event_id": event.get("id"), "uri": event.get("uri"), "extra": event.get("extra")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
