"""`make demo`: generate demo data, run the ESMM model's DAG once for real, print what happened.

It uses the embedded default (SQLite Airflow metadata, SQLite MLflow store under .local/) and runs the DAG
the way ``retrain run`` does (``airflow dags test``: every task of the DAG in one process). Running it again
retrains on the same, deterministic data and gates the new candidate against the champion from the first run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

DEMO_SPEC = "ecommerce_esmm"


def main(argv: list[str] | None = None) -> int:
    from retrain.run_once import run_model
    from retrain.settings import get_settings

    from retrain_demo.data import generate_demo_data

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEMO_SPEC)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    args = parser.parse_args(argv)

    today = datetime.now(UTC).date()
    folders = generate_demo_data(get_settings().data_root, today - timedelta(days=1), args.days, args.rows_per_day)
    print(f"Demo data: {len(folders)} daily partitions under {folders[0].parent}")
    return run_model(args.model)


if __name__ == "__main__":
    sys.exit(main())
