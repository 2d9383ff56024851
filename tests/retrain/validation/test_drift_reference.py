"""Drift turned on for a champion that stored no reference: computed from the partitions it trained on, or
reported loudly as not checked; a reference that was not used is never named."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from retrain.config import load_spec
from retrain.data.freshness import DataSnapshot
from retrain.data.landing import write_partition
from retrain.errors import DataContractError
from retrain.pipeline.data_stages import validate_data
from retrain_demo.data import generate_day

from tests.support.mlflow_db import migrated_mlflow

ROOT = Path(__file__).resolve().parents[3]
NEW = date(2026, 11, 21)
DAYS = [NEW - timedelta(days=i) for i in (3, 2, 1)]
ROWS = 1000

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Three days a champion trained on, registered without a validation/report.json (trained before drift)."""
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / 'state' / 'mlflow.db'))
    loaded = load_spec(ROOT / "include" / "specs" / "ecommerce_esmm.yaml")
    dataset = tmp_path / "data" / loaded.spec.data.location
    folders = [write_partition(generate_day(day, ROWS), dataset, day) for day in DAYS]
    client = mlflow_store.connect(get_settings())
    run = client.create_run(client.create_experiment("old"),
                            tags={"retrain.data_partitions": ",".join(f.name for f in folders)})
    client.create_registered_model(loaded.spec.registered_model_name)
    version = client.create_model_version(loaded.spec.registered_model_name, str(tmp_path / "m"), run.info.run_id)
    client.set_registered_model_alias(loaded.spec.registered_model_name, "champion", version.version)
    return loaded, dataset, folders


def _snapshot(dataset: Path, folders: list[Path]) -> dict:
    return DataSnapshot(
        dataset=str(dataset), as_of=datetime(2026, 11, 22, tzinfo=UTC).isoformat(),
        partitions=[str(f) for f in folders], files=[str(f / "part-00000.parquet") for f in folders],
        newest_partition=NEW.isoformat(), newest_rows=ROWS, total_rows=ROWS * len(folders), fingerprint="drift",
    ).to_dict()


def test_reference_is_computed_from_the_champions_training_partitions(setup):
    loaded, dataset, folders = setup
    shifted = write_partition(generate_day(NEW, ROWS, shift=1.0), dataset, NEW)

    with pytest.raises(DataContractError) as caught:
        validate_data(loaded, _snapshot(dataset, [*folders[1:], shifted]))

    message = str(caught.value)
    assert "retrain_psi_drift on column 'price'" in message
    assert "computed from the partitions it trained on (dt=2026-11-18..dt=2026-11-20)" in message


def test_without_stored_reference_or_partitions_drift_is_reported_as_not_checked(setup, caplog):
    loaded, dataset, folders = setup
    new = write_partition(generate_day(NEW, ROWS), dataset, NEW)
    shutil.rmtree(folders[0])  # the champion's oldest day is gone: its reference cannot be rebuilt

    result = validate_data(loaded, _snapshot(dataset, [*folders[1:], new]))

    drift = result["drift"]
    assert drift["checked"] is False and drift["reference"] is None and drift["psi"] == {}
    assert "not checked: champion version 1 has no stored reference and its training partitions are gone" in (
        drift["not_checked"])
    warning = [w for w in result["warnings"] if w["expectation"] == "retrain_drift_not_checked"]
    assert warning and "drift not checked for price" in warning[0]["observed"]
    assert "drift not checked" in caplog.text
    report = json.loads(Path(result["report_paths"]["json"]).read_text())
    assert report["drift"]["reference"] is None


def test_the_slack_summary_says_drift_was_not_checked():
    from retrain.alerts.run_messages import decision_message

    alert = decision_message(model_name="m", run_id="r", outcome={"promoted": True, "version": "2"},
                             evaluation={"notes": ["Drift NOT checked: no champion yet"]})
    assert "Drift NOT checked: no champion yet" in json.dumps(alert.blocks)


def test_a_stored_reference_changed_after_training_is_not_used(setup, caplog):
    """The drift reference is a run artifact anyone with write access to the store can replace: rewritten to
    the statistics of the shifted day, it made that shift invisible. It is used only while it matches the
    digest recorded at training (``retrain.lineage_sha256``); otherwise it is rebuilt from the champion's data."""
    import pyarrow.parquet as pq
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store
    from retrain.tracking.lineage import LINEAGE_DIGEST_TAG, VALIDATION_PATH, content_sha256
    from retrain.validation.drift import reference_stats

    loaded, dataset, folders = setup
    drift = loaded.spec.validation.drift
    client = mlflow_store.connect(get_settings())
    champion = client.get_model_version_by_alias(loaded.spec.registered_model_name, "champion")
    honest_frame = pq.read_table([f / "part-00000.parquet" for f in folders]).to_pandas()
    honest = {"reference_stats": reference_stats(honest_frame, drift.columns, drift.bins)}
    client.log_dict(champion.run_id, honest, VALIDATION_PATH)
    client.set_tag(champion.run_id, LINEAGE_DIGEST_TAG, json.dumps({VALIDATION_PATH: content_sha256(honest)}))
    shifted = write_partition(generate_day(NEW, ROWS, shift=1.0), dataset, NEW)
    with pytest.raises(DataContractError) as caught:  # the stored reference, verified, is used
        validate_data(loaded, _snapshot(dataset, [*folders[1:], shifted]))
    assert f"trained champion version 1 (run {champion.run_id}) (" in str(caught.value)
    assert "computed from the partitions" not in str(caught.value)

    forged = {"reference_stats": reference_stats(pq.read_table(shifted).to_pandas(), drift.columns, drift.bins)}
    client.log_dict(champion.run_id, forged, VALIDATION_PATH)
    with pytest.raises(DataContractError) as caught:
        validate_data(loaded, _snapshot(dataset, [*folders[1:], shifted]))
    message = str(caught.value)
    assert "retrain_psi_drift on column 'price'" in message
    assert "computed from the partitions it trained on (dt=2026-11-18..dt=2026-11-20)" in message
    assert "validation/report.json changed since training" in caplog.text
