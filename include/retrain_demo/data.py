"""Deterministic demo data: e-commerce impression events, one parquet partition per day.

Each row is one product impression shown to a shopper. The funnel is impression -> click ->
add to cart -> conversion, so ``add_to_cart`` implies ``click`` and ``conversion`` implies ``add_to_cart``.
The same day and seed always give the same rows, so reruns see the same data fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from retrain.data.landing import write_partition

DEVICES = ["mobile", "desktop", "tablet"]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP"]
ITEM_CATEGORIES = ["electronics", "fashion", "home", "beauty", "sports", "toys", "grocery", "books"]
TRAFFIC_SOURCES = ["search", "social", "email", "direct", "ads"]

DEMO_DATASET = "ecommerce/impressions"


def _day_seed(day: date, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_day(day: date, rows: int, seed: int = 7, shift: float = 0.0) -> pa.Table:
    """One day of impressions. ``shift`` moves the price and tenure distributions (for drift demos)."""
    rng = np.random.default_rng(_day_seed(day, seed))
    device = rng.choice(len(DEVICES), size=rows, p=[0.62, 0.30, 0.08])
    country = rng.choice(len(COUNTRIES), size=rows, p=[0.30, 0.12, 0.12, 0.10, 0.12, 0.16, 0.08])
    category = rng.integers(0, len(ITEM_CATEGORIES), size=rows)
    source = rng.choice(len(TRAFFIC_SOURCES), size=rows, p=[0.40, 0.20, 0.10, 0.18, 0.12])
    price = np.round(rng.lognormal(mean=3.4 + shift, sigma=0.8, size=rows), 2)
    discount = np.round(np.clip(rng.beta(1.2, 6.0, size=rows), 0.0, 0.7), 3)
    tenure = np.floor(rng.exponential(scale=400.0 * (1.0 + shift), size=rows))
    page_views = rng.poisson(4.0, size=rows) + 1
    rating = np.round(np.clip(rng.normal(4.0, 0.6, size=rows), 1.0, 5.0), 1)
    hour = rng.integers(0, 24, size=rows)
    seconds = np.sort(rng.integers(0, 86_400, size=rows))

    # True click/cart/conversion propensities: a few interactions a tabular model has to learn.
    cat_affinity = np.array([0.6, 0.2, -0.2, 0.4, 0.0, -0.4, 0.8, -0.6])[category]
    mobile = (device == 0).astype(float)
    logit_click = (
        -2.2
        + 3.5 * discount
        + 0.7 * (rating - 4.0)
        + 0.08 * np.log1p(page_views)
        + cat_affinity
        - 0.15 * mobile
        + 0.3 * (source == 0)
        + 0.2 * np.sin(hour / 24.0 * 2 * np.pi)
    )
    click = rng.random(rows) < _sigmoid(logit_click)
    logit_cart = -0.6 - 0.8 * (np.log(price) - 3.4) + 0.0012 * np.minimum(tenure, 1500) + 1.2 * discount
    add_to_cart = click & (rng.random(rows) < _sigmoid(logit_cart))
    logit_conv = -0.3 - 0.8 * (np.log(price) - 3.4) + 0.9 * (country == 0) - 0.6 * mobile
    conversion = add_to_cart & (rng.random(rows) < _sigmoid(logit_conv))
    dwell = np.round(rng.lognormal(mean=1.5 + 0.6 * click + 0.1 * (rating - 4.0), sigma=0.5, size=rows), 2)

    def with_nulls(values: np.ndarray, fraction: float) -> np.ndarray:
        mask = rng.random(rows) < fraction
        out = values.astype(object)
        out[mask] = None
        return out

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    event_time = pa.array([start + timedelta(seconds=int(s)) for s in seconds], type=pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "event_id": pa.array([f"{day:%Y%m%d}-{i:08d}" for i in range(rows)], type=pa.string()),
            "event_time": event_time,
            "device": pa.array(np.array(DEVICES)[device], type=pa.string()),
            "country": pa.array(np.array(COUNTRIES)[country], type=pa.string()),
            "item_category": pa.array(np.array(ITEM_CATEGORIES)[category], type=pa.string()),
            "traffic_source": pa.array(with_nulls(np.array(TRAFFIC_SOURCES)[source], 0.02), type=pa.string()),
            "price": pa.array(price, type=pa.float64()),
            "discount_pct": pa.array(discount, type=pa.float64()),
            "user_tenure_days": pa.array(with_nulls(tenure, 0.03), type=pa.float64()),
            "session_page_views": pa.array(page_views, type=pa.int64()),
            "item_rating": pa.array(with_nulls(rating, 0.05), type=pa.float64()),
            "hour_of_day": pa.array(hour, type=pa.int64()),
            "click": pa.array(click.astype(np.int64)),
            "add_to_cart": pa.array(add_to_cart.astype(np.int64)),
            "conversion": pa.array(conversion.astype(np.int64)),
            "dwell_seconds": pa.array(dwell, type=pa.float64()),
        }
    )


def generate_demo_data(
    root: str | Path,
    end_day: date,
    days: int = 7,
    rows_per_day: int = 20_000,
    seed: int = 7,
    dataset: str = DEMO_DATASET,
) -> list[Path]:
    """Write ``days`` complete partitions ending at ``end_day`` (inclusive). Returns partition folders."""
    folders = []
    for offset in range(days - 1, -1, -1):
        day = end_day - timedelta(days=offset)
        table = generate_day(day, rows_per_day, seed=seed)
        folders.append(write_partition(table, Path(root) / dataset, day))
    return folders


def main(argv: list[str] | None = None) -> None:
    from retrain.settings import get_settings

    parser = argparse.ArgumentParser(description="Write deterministic demo impression partitions.")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: RETRAIN_DATA_ROOT)")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day (default: yesterday, UTC)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    args = parser.parse_args(argv)
    root = args.root or get_settings().data_root
    end = args.end or (datetime.now(UTC).date() - timedelta(days=1))
    folders = generate_demo_data(root, end, days=args.days, rows_per_day=args.rows_per_day)
    print(f"wrote {len(folders)} partitions of {args.rows_per_day} rows under {Path(root) / DEMO_DATASET}")


if __name__ == "__main__":
    main()
