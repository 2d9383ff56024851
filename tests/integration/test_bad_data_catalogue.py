"""The bad-data catalogue: a good partition broken in realistic ways, each caught with a message that names
the check, the column and what was seen, and each kept as a report; nothing reaches training or promotion.

The cases run in-process through ``retrain.pipeline.data_stages.validate_data`` (fast). Two of them also run
through a real ``airflow dags test`` in tests/integration/test_demo_dag_end_to_end.py (labels outside {0,1},
and a shifted distribution caught by PSI against the champion's training data found through the registry),
which check that the champion alias does not move.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from retrain.config import load_spec
from retrain.data.freshness import DataSnapshot
from retrain.data.landing import write_partition
from retrain.errors import DataContractError, DataReadError, DeterministicFailure
from retrain.pipeline.data_stages import report_dir, validate_data
from retrain.validation.drift import reference_stats
from retrain_demo.data import generate_day

from tests.support.mlflow_db import migrated_mlflow

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "include" / "specs" / "ecommerce_esmm.yaml"
PREV, NEW = date(2026, 11, 20), date(2026, 11, 21)
ROWS = 3_000


def _set(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _every_third(table: pa.Table, name: str, value, type_) -> pa.Table:
    column = table.column(name).to_pylist()
    return _set(table, name, pa.array([value if i % 3 == 0 else v for i, v in enumerate(column)], type=type_))


# name -> (how the newest partition is broken, the error type, phrases the message must contain)
CATALOGUE = {
    "dropped_column": (lambda t: t.drop_columns(["price"]), DataContractError,
                       ["retrain_schema_consistent", "dt=2026-11-21/part-00000.parquet: missing column(s) ['price']"]),
    "renamed_column": (lambda t: t.rename_columns(["device_type" if c == "device" else c for c in t.column_names]),
                       DataContractError, ["missing column(s) ['device']", "unexpected column(s) ['device_type']"]),
    "numbers_as_strings": (lambda t: _set(t, "price", pc.cast(t.column("price"), pa.string())), DataContractError,
                           ["retrain_schema_consistent", "type changed 'price' from double to string"]),
    "all_nulls_in_a_feature": (lambda t: _set(t, "discount_pct", pa.nulls(t.num_rows, pa.float64())),
                               DataContractError,
                               ["expect_column_values_to_not_be_null on column 'discount_pct'", "are null"]),
    "out_of_range_values": (lambda t: _every_third(t, "hour_of_day", 25, pa.int64()), DataContractError,
                            ["expect_column_values_to_be_between on column 'hour_of_day'", "outside [0, 23]", "25"]),
    "unseen_category_flood": (lambda t: _every_third(t, "device", "smart_tv", pa.string()), DataContractError,
                              ["expect_column_values_to_be_in_set on column 'device'", "smart_tv"]),
    "duplicated_keys": (lambda t: _set(t, "event_id", pa.array([f"k{i // 2}" for i in range(t.num_rows)])),
                        DataContractError, ["expect_column_values_to_be_unique on column 'event_id'", "duplicates"]),
    "empty_partition": (lambda t: t.slice(0, 0), DataContractError,
                        ["retrain_row_count_vs_previous", "dt=2026-11-21 has 0 rows, -100.0%"]),
    "labels_outside_0_1": (lambda t: _every_third(t, "conversion", 2, pa.int64()), DataContractError,
                           ["expect_column_values_to_be_in_set on column 'conversion'", "not in [0, 1]", "e.g. [2]",
                            "retrain_binary_label_0_1 on column 'conversion'"]),
    "event_time_outside_partition_day": (
        lambda t: _set(t, "event_time", pa.array(t.column("event_time").to_pandas() - pd.Timedelta(days=2))),
        DataContractError, ["retrain_event_time_within_partition on column 'event_time'", "2026-11-19"]),
    "row_count_collapse": (lambda t: t.slice(0, t.num_rows // 4), DataContractError,
                           ["retrain_row_count_vs_previous", "-75.0%", "dt=2026-11-21"]),
    "shifted_distribution": (lambda t: generate_day(NEW, ROWS, shift=1.0), DataContractError,
                             ["retrain_psi_drift on column 'price'", "PSI", "block at 0.25"]),
    "truncated_parquet_file": ("truncate", DataReadError, ["part-00000.parquet", "not a readable parquet file"]),
    # 'mostly' over a long window dilutes this: the day alone is 100% null (caught per partition)
    "all_nulls_in_a_nullable_feature": (lambda t: _set(t, "user_tenure_days", pa.nulls(t.num_rows, pa.float64())),
                                        DataContractError,
                                        ["expect_column_values_to_not_be_null on column 'user_tenure_days'",
                                         "(at most 10% allowed)"]),
    "labels_missing": (lambda t: _every_third(t, "add_to_cart", None, pa.int64()), DataContractError,
                       ["retrain_labels_not_null", "rows have no label", "data.drop_unlabeled_rows"]),
    "infinite_values_in_a_feature": (lambda t: _every_third(t, "price", float("inf"), pa.float64()),
                                     DataContractError,
                                     ["retrain_numeric_values on column 'price'", "infinite values"]),
    # NaN, not null, as polars and Spark write a missing value: still a row without a label
    "nan_labels": (lambda t: _every_third(t, "add_to_cart", float("nan"), pa.float64()), DataContractError,
                   ["retrain_labels_not_null", "rows have no label"]),
    # an integer feature with nulls is read as a nullable Int64 column: its type check holds, its nulls are caught
    "nulls_in_an_integer_column": (lambda t: _every_third(t, "session_page_views", None, pa.int64()),
                                   DataContractError,
                                   ["expect_column_values_to_not_be_null on column 'session_page_views'"]),
}


@pytest.fixture(scope="module")
def loaded():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def reference(loaded):
    """The champion's reference statistics: the good data of the day before."""
    frame = generate_day(PREV, ROWS).to_pandas()
    return reference_stats(frame, loaded.spec.validation.drift.columns, loaded.spec.validation.drift.bins)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / 'state' / 'mlflow.db'))
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__catalogue")
    return tmp_path


def _snapshot(loaded, root: Path, new_table: pa.Table | None, truncate: bool = False,
              keep_previous: bool = False) -> dict:
    dataset = root / "data" / loaded.spec.data.location
    previous = dataset / f"dt={PREV}" if keep_previous else write_partition(generate_day(PREV, ROWS), dataset, PREV)
    folders = [previous,
               write_partition(new_table if new_table is not None else generate_day(NEW, ROWS), dataset, NEW)]
    files = [str(f / "part-00000.parquet") for f in folders]
    if truncate:
        raw = Path(files[-1]).read_bytes()
        Path(files[-1]).write_bytes(raw[: len(raw) // 2])
    return DataSnapshot(
        dataset=str(dataset), as_of=datetime(2026, 11, 22, tzinfo=UTC).isoformat(),
        partitions=[str(f) for f in folders], files=files, newest_partition=NEW.isoformat(),
        newest_rows=0, total_rows=0, fingerprint="catalogue",
    ).to_dict()


def test_catalogue_is_big_enough():
    assert len(CATALOGUE) >= 11


def test_a_column_nothing_reads_added_or_retyped_upstream_warns_and_goes_on(loaded, reference, env):
    # upstream's new day has a column more, and one that nothing reads turned from text into numbers
    dataset = env / "data" / loaded.spec.data.location
    write_partition(generate_day(PREV, ROWS).append_column("promo_code", pa.array(["A"] * ROWS)), dataset, PREV)
    new = generate_day(NEW, ROWS).append_column("promo_code", pa.array([1.5] * ROWS))
    snapshot = _snapshot(loaded, env, new.append_column("referrer_url", pa.array(["https://x"] * ROWS)),
                         keep_previous=True)
    result = validate_data(loaded, snapshot, reference=reference)
    assert result["success"], result
    (warning,) = [w for w in result["warnings"] if w["expectation"] == "retrain_schema_consistent"]
    assert "unexpected column(s) ['referrer_url']" in warning["observed"]
    assert "'promo_code' from string to double" in warning["observed"]
    assert "neither the spec nor the suite reads" in warning["observed"]
    # the same change in a column the model reads still blocks, naming it
    renamed = generate_day(NEW, ROWS).rename_columns(["device_type" if c == "device" else c
                                                      for c in generate_day(NEW, ROWS).column_names])
    with pytest.raises(DataContractError, match=r"missing column\(s\) \['device'\]"):
        validate_data(loaded, _snapshot(loaded, env / "renamed", renamed), reference=reference)


def test_the_good_partition_passes_and_carries_reference_stats(loaded, reference, env):
    result = validate_data(loaded, _snapshot(loaded, env, None), reference=reference)
    assert result["success"] and result["partition"] == "ecommerce/impressions dt=2026-11-20..dt=2026-11-21"
    assert max(result["drift"]["psi"].values()) < 0.1
    assert set(result["reference_stats"]) == set(loaded.spec.validation.drift.columns)
    assert Path(result["report_paths"]["json"]).is_file()
    assert "<html" in Path(result["report_paths"]["data_docs"]).read_text().lower()


def test_a_day_written_as_a_database_exports_it_passes_like_the_others(loaded, reference, env):
    """Money as decimal(12, 2), an integer column as double (pandas, on a day with nulls), text as a dictionary:
    the same columns, not drift; GX's ranges and PSI read the decimals as numbers."""
    day = generate_day(NEW, ROWS)
    day = _set(day, "price", pc.cast(pc.round(day.column("price"), 2), pa.decimal128(12, 2)))
    day = _set(day, "hour_of_day", pc.cast(day.column("hour_of_day"), pa.float64()))
    day = _set(day, "device", pc.dictionary_encode(day.column("device")))
    result = validate_data(loaded, _snapshot(loaded, env, day), reference=reference)
    assert result["success"] and max(result["drift"]["psi"].values()) < 0.1


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_bad_partition_is_caught_named_and_kept(case, loaded, reference, env):
    breaker, error_type, phrases = CATALOGUE[case]
    good = generate_day(NEW, ROWS)
    if breaker == "truncate":
        snapshot = _snapshot(loaded, env, good, truncate=True)
    else:
        snapshot = _snapshot(loaded, env, breaker(good))

    with pytest.raises(error_type) as caught:
        validate_data(loaded, snapshot, reference=reference)

    message = str(caught.value)
    assert isinstance(caught.value, DeterministicFailure)  # the retry policy fails it on the first try
    for phrase in phrases:
        assert phrase in message, f"{case}: {phrase!r} not in {message!r}"
    assert "to_be_in_type_list on column 'session_page_views'" not in message
    assert "Traceback" not in message and "pyarrow/" not in message
    if error_type is DataContractError:
        assert "ecommerce/impressions dt=2026-11-2" in message  # the partition, no absolute path
        assert str(env) not in message
    # The rejected partition's report is kept.
    kept = report_dir(loaded, DataSnapshot.from_dict(snapshot)) / "report.json"
    report = json.loads(kept.read_text())
    if error_type is DataContractError:
        assert report["success"] is False and report["failures"]
        assert (kept.parent / "data_docs" / "index.html").is_file()
        assert caught.value.data_docs_url == (kept.parent / "data_docs" / "index.html").as_uri()  # for the alert
    else:
        assert "part-00000.parquet" in report["error"]


# --- one corrupted day in a 28-day window -----------------------------------------------------------------
# The champion trained on the 27 days before NEW; NEW lands corrupted. Run over the window alone, 'mostly' and
# the share of bad values are fractions of 28 days; each day new since the champion is checked on its own.
LONG_DAYS = [date.fromordinal(NEW.toordinal() - 27 + i) for i in range(28)]
LONG_ROWS = 300


@pytest.fixture(scope="module")
def _long_window_once(loaded, tmp_path_factory):
    """27 good days and an MLflow database whose champion trained on them, built once for the module."""
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    root = tmp_path_factory.mktemp("long_window")
    folders = [write_partition(generate_day(day, LONG_ROWS), root / "days", day) for day in LONG_DAYS[:-1]]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(root / 'mlflow.db'))
        client = mlflow_store.connect(get_settings())
        run = client.create_run(client.create_experiment("catalogue"),
                                tags={"retrain.data_partitions": ",".join(f.name for f in folders)})
        name = loaded.spec.registered_model_name
        client.create_registered_model(name)
        version = client.create_model_version(name, str(root / "no-model"), run.info.run_id)
        client.set_registered_model_alias(name, "champion", version.version)
    return root, folders


@pytest.fixture
def long_window(loaded, env, _long_window_once):
    """This test's copy: the 27 days linked into its dataset folder, and its own copy of the registry."""
    import shutil

    root, good = _long_window_once
    dataset = env / "data" / loaded.spec.data.location
    dataset.mkdir(parents=True)
    for folder in good:
        (dataset / folder.name).symlink_to(folder, target_is_directory=True)
    (env / "state").mkdir(exist_ok=True)
    shutil.copy(root / "mlflow.db", env / "state" / "mlflow.db")
    return dataset, [dataset / f.name for f in good]


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_one_corrupted_day_in_a_28_day_window_is_blocked_and_named(case, loaded, reference, env, long_window):
    dataset, folders = long_window
    breaker, error_type, phrases = CATALOGUE[case]
    good = generate_day(NEW, LONG_ROWS)
    bad = generate_day(NEW, LONG_ROWS, shift=1.0) if case == "shifted_distribution" else (
        good if breaker == "truncate" else breaker(good))
    if case == "empty_partition":
        bad = good.slice(0, 0)
    folders = [*folders, write_partition(bad, dataset, NEW)]
    files = [str(f / "part-00000.parquet") for f in folders]
    if breaker == "truncate":
        raw = Path(files[-1]).read_bytes()
        Path(files[-1]).write_bytes(raw[: len(raw) // 2])
    snapshot = DataSnapshot(
        dataset=str(dataset), as_of=datetime(2026, 11, 22, tzinfo=UTC).isoformat(),
        partitions=[str(f) for f in folders], files=files, newest_partition=NEW.isoformat(),
        newest_rows=0, total_rows=0, fingerprint="catalogue-28",
    ).to_dict()

    with pytest.raises(error_type) as caught:
        validate_data(loaded, snapshot, reference=reference)

    message = str(caught.value)
    for phrase in phrases:
        assert phrase in message, f"{case}: {phrase!r} not in {message!r}"
    assert "dt=2026-11-21" in message
    if error_type is DataContractError:
        assert str(env) not in message
        report = json.loads((report_dir(loaded, DataSnapshot.from_dict(snapshot)) / "report.json").read_text())
        assert report["success"] is False
        if "retrain_schema_consistent" in message and "partitions_checked" not in report:
            return  # files that cannot be read together: the schema check names the file, nothing else runs
        assert caught.value.failures[0]["partition"].endswith("dt=2026-11-21")  # what the alert names
        assert list(report["partitions_checked"]) == ["dt=2026-11-21"]  # the champion's days were checked before


def test_a_diluted_bad_day_passes_the_window_alone(loaded, env, long_window):
    """Why per-partition checks: the nullable-feature flood passes when the window is checked as one frame."""
    from retrain.data.loading import read_table
    from retrain.validation import load_suite, validate_frame

    dataset, folders = long_window
    bad = _set(generate_day(NEW, LONG_ROWS), "user_tenure_days", pa.nulls(LONG_ROWS, pa.float64()))
    folders = [*folders, write_partition(bad, dataset, NEW)]
    frame = read_table([f / "part-00000.parquet" for f in folders]).to_pandas()
    suite = load_suite(ROOT / "include" / "expectations" / "ecommerce_impressions.yaml")
    assert validate_frame(frame, suite, partition="window").success


def test_unlabeled_rows_are_dropped_and_counted_per_partition_when_the_spec_asks(loaded, reference, env):
    import dataclasses

    from retrain.pipeline.training_stage import load_split

    spec = loaded.spec.model_copy(update={"data": loaded.spec.data.model_copy(update={"drop_unlabeled_rows": True})})
    dropping = dataclasses.replace(loaded, spec=spec)
    # every third row has no add_to_cart label; every sixth has neither label
    day = _every_third(generate_day(NEW, ROWS), "add_to_cart", None, pa.int64())
    conversion = day.column("conversion").to_pylist()
    day = _set(day, "conversion", pa.array([None if i % 6 == 0 else v for i, v in enumerate(conversion)], pa.int64()))
    snapshot = _snapshot(loaded, env, day)

    result = validate_data(dropping, snapshot, reference=reference)

    assert result["success"] and result["unlabeled_rows"] == {"dt=2026-11-21": ROWS // 6}  # the rows with none
    assert result["unlabeled_rows_dropped"] is True
    train, holdout = load_split(spec, DataSnapshot.from_dict(snapshot))
    assert train.num_rows + holdout.num_rows == 2 * ROWS - ROWS // 6
    # a row without its add_to_cart label still trains the conversion head
    assert holdout.column("add_to_cart").null_count + train.column("add_to_cart").null_count == ROWS // 3 - ROWS // 6
    assert holdout.column("conversion").null_count == train.column("conversion").null_count == 0


def test_a_check_across_two_labels_still_holds_on_the_rows_that_have_both(loaded, reference, env):
    """With some labels missing, the suite's funnel check (add_to_cart >= conversion) skips the rows missing one,
    and still fails on a row that has both and breaks it."""
    spec = loaded.spec.model_copy(update={"data": loaded.spec.data.model_copy(update={"drop_unlabeled_rows": True})})
    dropping = dataclasses.replace(loaded, spec=spec)
    day = _every_third(generate_day(NEW, ROWS), "add_to_cart", None, pa.int64())
    day = _set(day, "add_to_cart", pa.array([0 if i == 1 else v for i, v in enumerate(day.column("add_to_cart").to_pylist())],
                                            pa.int64()))
    day = _set(day, "conversion", pa.array([1 if i == 1 else v for i, v in enumerate(day.column("conversion").to_pylist())],
                                           pa.int64()))
    snapshot = _snapshot(dropping, env, day)
    with pytest.raises(DataContractError) as caught:
        validate_data(dropping, snapshot, reference=reference)
    message = str(caught.value)
    assert "column_pair_values_a_to_be_greater_than_b on columns 'add_to_cart' and 'conversion'" in message
    assert "could not be evaluated" not in message


def test_a_partition_re_landed_while_the_run_is_in_flight_is_neither_validated_nor_trained_on(loaded, reference, env):
    """check_freshness hashes each file of the snapshot; validate_data and train use those bytes or stop. A
    partition rewritten in between (an upstream correction, a backfill) would otherwise be trained on without
    its contract having seen it."""
    from retrain.data.freshness import select_snapshot
    from retrain.errors import DataChangedError
    from retrain.pipeline.training_stage import load_split

    _snapshot(loaded, env, None)  # two good partitions on disk
    dataset = env / "data" / loaded.spec.data.location
    snapshot = select_snapshot(loaded.spec.data, dataset, datetime(2026, 11, 22, tzinfo=UTC))
    assert validate_data(loaded, snapshot.to_dict(), reference=reference)["success"]

    write_partition(generate_day(NEW, ROWS, shift=1.0), dataset, NEW)  # re-landed after the snapshot
    for stage in (lambda: validate_data(loaded, snapshot.to_dict(), reference=reference),
                  lambda: load_split(loaded.spec, DataSnapshot.from_dict(snapshot.to_dict()))):
        with pytest.raises(DataChangedError) as caught:
            stage()
        message = str(caught.value)
        assert "1 file(s) changed after this run took its snapshot: dt=2026-11-21/part-00000.parquet (rewritten)" \
            in message and "the champion stays" in message


def test_a_window_where_no_row_has_a_label_yet_is_a_contract_failure_naming_the_labels(loaded, reference, env):
    """Every row unlabeled (labels not landed yet) and ``drop_unlabeled_rows``: nothing is left to train or judge
    on. Caught by the contract, naming the label columns, not by ``train`` with advice about holdout fractions."""
    spec = loaded.spec.model_copy(update={"data": loaded.spec.data.model_copy(update={"drop_unlabeled_rows": True})})
    dropping = dataclasses.replace(loaded, spec=spec)
    labels = [h.label for h in spec.heads]

    def unlabeled(day):
        table = generate_day(day, ROWS)
        for label in labels:
            table = _set(table, label, pa.nulls(ROWS, table.schema.field(label).type))
        return table

    write_partition(unlabeled(PREV), env / "data" / spec.data.location, PREV)
    snapshot = _snapshot(dropping, env, unlabeled(NEW), keep_previous=True)
    with pytest.raises(DataContractError) as caught:
        validate_data(dropping, snapshot, reference=reference)
    message = str(caught.value)
    assert "retrain_labeled_rows" in message
    for label in labels:  # each head's label named
        assert f"none of the window's {2 * ROWS:,} rows has a value in label column '{label}'" in message
    assert "dt=2026-11-20..dt=2026-11-21" in message and "wait for the labels to land" in message


def test_a_column_the_spec_reads_but_no_partition_has_is_a_contract_failure(loaded, reference, env):
    """A feature the suite does not mention, absent from every file (a spec typo, a column dropped upstream
    long ago): caught by the contract, before ``train`` takes a worker slot only to fail reading."""
    features = loaded.spec.features.model_copy(update={"numeric": [*loaded.spec.features.numeric, "basket_value"]})
    typo = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"features": features}))
    snapshot = _snapshot(typo, env, None)
    with pytest.raises(DataContractError) as caught:
        validate_data(typo, snapshot, reference=reference)
    message = str(caught.value)
    assert "retrain_spec_columns_present on column 'basket_value'" in message
    assert "the spec reads ['basket_value'], which the data does not have" in message
    report = json.loads((report_dir(typo, DataSnapshot.from_dict(snapshot)) / "report.json").read_text())
    assert report["success"] is False and report["failures"][-1]["column"] == "basket_value"


def test_numbers_written_as_text_with_a_missing_marker_lead_the_message_once(loaded, reference, env):
    """A table exported with "?" for a missing price (UCI style) in every partition: the message a person reads
    first is the cause, the "?" text, once; the suite's checks that could not run on text follow, each once with
    the partitions it failed on, not once a partition ahead of the cause."""
    def with_marker(day):
        table = generate_day(day, ROWS)
        prices = [("?" if i % 50 == 0 else f"{v:.2f}") for i, v in enumerate(table.column("price").to_pylist())]
        return _set(table, "price", pa.array(prices, pa.string()))

    write_partition(with_marker(PREV), env / "data" / loaded.spec.data.location, PREV)
    snapshot = _snapshot(loaded, env, with_marker(NEW), keep_previous=True)
    with pytest.raises(DataContractError) as caught:
        validate_data(loaded, snapshot, reference=reference)
    details = str(caught.value).split(": ", 1)[1]
    assert details.startswith("retrain_numeric_values on column 'price': column 'price' must be numeric: "
                              f"{2 * ROWS // 50} rows hold text that is not a number, e.g. ['?']"), details
    could_not = [f for f in caught.value.failures if "could not be evaluated" in f["observed"]]
    assert could_not and len({(f["expectation"], f["column"]) for f in could_not}) == len(could_not)
    assert all(f["partition"].endswith("dt=2026-11-20, dt=2026-11-21") for f in could_not), could_not
    assert caught.value.failures[0]["expectation"] == "retrain_numeric_values"


def test_a_feature_null_in_every_row_of_the_window_is_a_warning_that_names_it(loaded, reference, env):
    """A column that died upstream (present, every value null, on every day) and that the suite does not check:
    the run goes on, since the gate still judges the candidate against the champion, but the report and the
    log say the model learns nothing from it."""
    features = loaded.spec.features.model_copy(update={"numeric": [*loaded.spec.features.numeric, "promo_score"]})
    with_dead = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"features": features}))

    def dead_column(day):
        return generate_day(day, ROWS).append_column("promo_score", pa.nulls(ROWS, pa.float64()))

    write_partition(dead_column(PREV), env / "data" / loaded.spec.data.location, PREV)
    result = validate_data(with_dead, _snapshot(with_dead, env, dead_column(NEW), keep_previous=True),
                           reference=reference)
    assert result["success"], result["failures"]
    (warning,) = [w for w in result["warnings"] if w["expectation"] == "retrain_feature_has_values"]
    assert warning["column"] == "promo_score"
    assert f"feature 'promo_score' is null in all {2 * ROWS:,} rows of the window" in warning["observed"]
