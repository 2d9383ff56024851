"""PSI per column against the champion's reference statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from retrain.config import DriftSpec
from retrain.validation.drift import drift_failures, psi, reference_stats


@pytest.fixture
def reference_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "price": rng.lognormal(3.4, 0.8, 20_000),
        "device": rng.choice(["ios", "android", "web"], 20_000, p=[0.5, 0.3, 0.2]),
    })


def _new(rng_seed: int, price_shift: float = 0.0, devices=("ios", "android", "web"), p=(0.5, 0.3, 0.2)):
    rng = np.random.default_rng(rng_seed)
    return pd.DataFrame({
        "price": rng.lognormal(3.4 + price_shift, 0.8, 5_000),
        "device": rng.choice(list(devices), 5_000, p=list(p)),
    })


def test_reference_stats_are_json_and_cover_the_columns(reference_frame):
    stats = reference_stats(reference_frame, ["price", "device", "absent"], bins=10)
    assert set(stats) == {"price", "device"}
    assert json.loads(json.dumps(stats)) == stats
    assert len(stats["price"]["edges"]) == 9 and len(stats["price"]["fractions"]) == 11  # 10 bins + nulls
    assert sum(stats["price"]["fractions"]) == pytest.approx(1.0)
    assert stats["device"]["fractions"]["ios"] == pytest.approx(0.5, abs=0.02)


def test_same_population_scores_near_zero_and_a_shift_scores_high(reference_frame):
    stats = reference_stats(reference_frame, ["price", "device"])
    assert psi(stats["price"], _new(2), "price") < 0.02
    assert psi(stats["device"], _new(2), "device") < 0.01
    assert psi(stats["price"], _new(2, price_shift=1.0), "price") > 1.0
    flood = _new(2, devices=("ios", "android", "web", "smart_tv"), p=(0.2, 0.1, 0.1, 0.6))
    assert psi(stats["device"], flood, "device") > 0.25  # the unseen category counts as __other__


def test_nulls_have_their_own_bin(reference_frame):
    stats = reference_stats(reference_frame, ["price"])
    half_null = _new(3)
    half_null.loc[::2, "price"] = np.nan
    assert psi(stats["price"], half_null, "price") > 0.25


def test_drift_failures_warn_or_block_by_the_spec(reference_frame):
    stats = reference_stats(reference_frame, ["price", "device"])
    spec = DriftSpec(psi_warn=0.1, psi_block=0.25, columns=["price", "device"])
    failures, scores = drift_failures(_new(4, price_shift=0.3), stats, spec, "champion version 3")
    assert set(scores) == {"price", "device"} and scores["device"] < 0.1
    [warn] = failures
    assert (warn.expectation, warn.column, warn.severity) == ("retrain_psi_drift", "price", "warn")
    assert "against the data that trained champion version 3 (warn at 0.1, block at 0.25)" in warn.observed

    failures, _ = drift_failures(_new(4, price_shift=1.0), stats, spec, "champion version 3")
    assert [f.severity for f in failures] == ["block"]
    warn_only = DriftSpec(psi_warn=0.1, psi_block=None, columns=["price"])
    failures, _ = drift_failures(_new(4, price_shift=1.0), stats, warn_only, "champion version 3")
    assert [f.severity for f in failures] == ["warn"]


def test_no_reference_means_no_drift_verdict(reference_frame):
    spec = DriftSpec(columns=["price"])
    assert drift_failures(_new(5, price_shift=1.0), {}, spec, "no champion yet") == ([], {})
