"""The data stages as a new user's files meet them: partition folders the window cannot read."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

from retrain.pipeline.data_stages import check_freshness, validate_data

from tests.support.daily_runs import small_daily_model

FIRST = date(2026, 6, 1)


def test_a_marked_partition_whose_name_is_not_a_day_is_a_data_warning(tmp_path, monkeypatch):
    """``dt=2026-6-2`` (no zero padding), complete with its marker, was skipped without a word: the model trained
    on one day less than the producer landed. Its rows are still not read (a name is the producer's contract),
    but every run says so: a warning naming the folder and the name it needs."""
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=3, rows=300)
    dataset = tmp_path / "data" / loaded.spec.data.location
    shutil.copytree(dataset / "dt=2026-06-02", dataset / "dt=2026-6-3")
    (dataset / "dt=2026-06-09-backup").mkdir()  # no marker: a folder of work in progress, not a partition
    as_of = datetime.combine(FIRST + timedelta(days=3), datetime.min.time(), tzinfo=UTC)

    snapshot = check_freshness(loaded, as_of)
    assert snapshot["total_rows"] == 600
    validation = validate_data(loaded, snapshot)

    [warning] = [w for w in validation["warnings"] if w["expectation"] == "retrain_partition_name"]
    assert warning["observed"] == (
        "1 folder(s) with a '_SUCCESS' marker do not name a day, so their rows are not read: 'dt=2026-6-3' "
        "(a partition is named dt=YYYY-MM-DD, e.g. dt=2026-06-03)")


def test_an_identifier_listed_as_a_categorical_feature_is_a_data_warning(tmp_path, monkeypatch):
    """A new user lists ``customer_id`` among the categoricals: one embedding per customer (the 10,000 most
    frequent), learnt from one row each and useless for tomorrow's new ids. Training goes on; every run says so."""
    import dataclasses

    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=3, rows=1500)
    features = loaded.spec.features
    with_id = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"features": features.model_copy(
        update={"categorical": [*features.categorical, "event_id"]})}))
    as_of = datetime.combine(FIRST + timedelta(days=2), datetime.min.time(), tzinfo=UTC)

    validation = validate_data(with_id, check_freshness(with_id, as_of))
    [warning] = [w for w in validation["warnings"] if w["expectation"] == "retrain_categorical_not_an_id"]
    assert warning["column"] == "event_id" and warning["observed"].startswith(
        "categorical feature 'event_id' has 3,000 distinct values in 3,000 rows: an identifier, not a category")
    assert "holdout_key" in warning["observed"]
    assert not [w for w in validate_data(loaded, check_freshness(loaded, as_of))["warnings"]
                if w["expectation"] == "retrain_categorical_not_an_id"]  # device, country, ... are categories



def test_a_list_or_struct_column_listed_as_a_categorical_is_refused_by_the_contract_naming_it(tmp_path, monkeypatch):
    """Tags exported as a list per row (``['new', 'sale']``): Arrow cannot turn a list into one category, and the
    train task used to fail three times with ``ArrowNotImplementedError: Unsupported cast``, naming no column."""
    import pyarrow as pa
    import pytest
    from retrain.data.landing import write_partition
    from retrain.errors import DataContractError
    from retrain_demo.data import generate_day

    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=2, rows=300)
    dataset = tmp_path / "data" / loaded.spec.data.location
    for offset in range(2):
        day = generate_day(FIRST + timedelta(days=offset), 300)
        device = pa.array([[d] for d in day.column("device").to_pylist()], pa.list_(pa.string()))
        write_partition(day.set_column(day.schema.get_field_index("device"), "device", device), dataset,
                        FIRST + timedelta(days=offset))
    as_of = datetime.combine(FIRST + timedelta(days=2), datetime.min.time(), tzinfo=UTC)

    with pytest.raises(DataContractError) as caught:
        validate_data(loaded, check_freshness(loaded, as_of))
    assert "retrain_categorical_values on column 'device': column 'device' holds list<" in str(caught.value)
    assert "values, not categories: flatten it upstream" in str(caught.value)
