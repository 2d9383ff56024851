"""The demo model's whole DAG, run by the real `airflow dags test`, against a real MLflow store and a
real local Slack-API stand-in. On tablets nobody ever adds to cart, so that evaluation slice's roc_auc is
undefined (NaN) in every run, as on real tables with a rare segment. Four runs: a first promotion, a retrain on the same data gated against that
champion (identical, so not promoted), a run
on a broken partition and one on a shifted distribution, which must fail fast, alert Slack and leave the
champion alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from retrain.data.landing import write_partition
from retrain_demo.data import DEMO_DATASET, generate_day

from tests.support import warm_process
from tests.support.airflow_db import migrated_sqlite
from tests.support.mlflow_db import migrated_mlflow
from tests.support.slack_standin import DEFAULT_TOKEN, SlackStandIn, slack_connection_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "retrain_ecommerce_esmm"
ROWS = 3_000  # a day of demo data; enough for both heads to clear the gate's roc_auc 0.6 (as in the arrival tests)


class Stack:
    """An isolated Airflow home, MLflow store and data root, plus the Slack stand-in."""

    def __init__(self, root: Path, slack: SlackStandIn) -> None:
        self.root, self.slack = root, slack
        self.run_states: dict[str, str] = {}  # the DAG run's own state, by Airflow run id
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "RETRAIN_LOCAL_STATE": str(root / "state"),
            "RETRAIN_DATA_ROOT": str(root / "data"),
            "MLFLOW_TRACKING_URI": migrated_mlflow(root / "state" / "mlflow.db"),
            "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection_json(slack.base_url),
            "RETRAIN_RETRY_DELAY_SECONDS": "1",
        }

    def airflow(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return warm_process.airflow(*args, env=self.env, timeout=timeout)

    def run_dag(self, logical_date: str) -> tuple[str, dict[str, dict]]:
        """Run the DAG for one logical date; returns its Airflow run id and each task's state.

        The run and its task states are read from Airflow's metadata database (SQLite) directly: the
        ``airflow dags list-runs`` / ``tasks states-for-dag-run`` commands cost 7 s each to start."""
        result = self.airflow("dags", "test", DAG_ID, logical_date)
        (self.root / f"dags-test-{logical_date}.log").write_text(result.stdout + result.stderr)
        with contextlib.closing(sqlite3.connect(self.root / "airflow" / "airflow.db")) as db:
            runs = [(run_id, state) for run_id, logical, state in db.execute(
                "SELECT run_id, logical_date, state FROM dag_run WHERE dag_id = ?", (DAG_ID,))
                if str(logical).startswith(logical_date[:19].replace("T", " "))]
            assert len(runs) == 1, f"expected one run for {logical_date}, log: {self.root}"
            run_id, self.run_states[run_id] = runs[0]
            rows = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                              (DAG_ID, run_id)).fetchall()
        return run_id, {task_id: {"task_id": task_id, "state": state} for task_id, state in rows}

    def mlflow(self):
        from mlflow import MlflowClient

        uri = self.env["MLFLOW_TRACKING_URI"]
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    for day in range(15, 22):
        write_partition(_no_tablet_ever_adds_to_cart(generate_day(date(2026, 11, day), ROWS, seed=7)),
                        root / "data" / DEMO_DATASET, date(2026, 11, day))
    with SlackStandIn() as slack:
        s = Stack(root, slack)
        migrated_sqlite(root / "airflow")  # a copy of a migrated metadata database (airflow db migrate: 10-20 s)
        yield s


def _no_tablet_ever_adds_to_cart(day: pa.Table) -> pa.Table:
    tablet = pc.equal(day.column("device"), "tablet")
    for label in ("add_to_cart", "conversion"):
        index = day.schema.get_field_index(label)
        zero = pa.scalar(0, day.schema.field(label).type)
        day = day.set_column(index, label, pc.if_else(tablet, zero, day.column(label)))
    return day


def _champion(client, name="ecommerce_esmm"):
    return client.get_model_version_by_alias(name, "champion")


def _python_script(stack, code: str, *args: str) -> subprocess.CompletedProcess:
    """``code`` run as a script with ``args`` in the stack's environment, by the warm process."""
    script = stack.root / "probe.py"
    script.write_text(code)
    return warm_process.run([script, *args], env=stack.env, timeout=120)


def test_first_run_trains_logs_and_promotes(stack):
    run_id, states = stack.run_dag("2026-11-22T03:00:00+00:00")
    failed = {t: s["state"] for t, s in states.items() if s["state"] not in ("success", "skipped")}
    assert failed == {}, f"tasks not successful: {failed}"
    assert stack.run_states[run_id] == "success"
    assert states["promote"]["state"] == "success" and states["reject"]["state"] == "skipped"

    client = stack.mlflow()
    champion = _champion(client)
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.data.tags["retrain.gate_decision"] == "promote"
    assert run.data.tags["airflow.dag_id"] == DAG_ID
    assert len(run.data.tags["retrain.data_fingerprint"]) == 64
    assert run.data.tags["mlflow.source.git.commit"]
    for head in ("atc", "ctcvr"):
        assert run.data.metrics[f"{head}.roc_auc"] > 0.6
    slices = json.loads(Path(client.download_artifacts(run.info.run_id, "evaluation/slices.json", stack.root)).read_text())
    assert math.isnan(slices["device"]["tablet"]["atc"]["roc_auc"])  # undefined, and the run still went on
    assert slices["device"]["mobile"]["atc"]["roc_auc"] > 0.5
    epochs = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in epochs] == [1, 2, 3, 4]

    summary = [m for m in stack.slack.messages if m.channel == "#ml-alerts" and "PROMOTED" in (m.text or "")]
    assert len(summary) == 1 and "Champion is now version 1" in summary[0].text

    # Lineage, packaging and the model card.
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | {
        a.path for d in ("lineage", "plots", "gate") for a in client.list_artifacts(run.info.run_id, d)
    }
    assert {"lineage/manifest.json", "plots/loss_curves.png", "plots/atc.png", "plots/ctcvr.png",
            "gate/decision.json", "model_card.md", "spec", "validation"} <= artifacts
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"ecommerce_esmm-training", "ecommerce_esmm-holdout"}
    assert run.data.tags["retrain.lockfile_sha256"] != "missing"
    version = client.get_model_version("ecommerce_esmm", "1")
    recorded = set(json.loads(version.tags["retrain.artifact_sha256"]))  # every file of the version, no code
    assert {"MLmodel", "data/bundle/weights.pt", "data/bundle/model_config.json", "data/bundle/encoder.json"} <= recorded
    assert not [f for f in recorded if f.endswith(".py")]
    assert version.tags["retrain.gate_decision"] == "promote"
    assert version.description.startswith("# ecommerce_esmm, version 1") and "## Gate decision" in version.description


def test_champion_loads_for_batch_prediction_in_a_fresh_process(stack):
    code = (
        "import mlflow.pyfunc, pandas as pd, pyarrow.parquet as pq, sys;"
        "frame = pq.read_table(sys.argv[1]).to_pandas().head(50);"
        "out = mlflow.pyfunc.load_model('models:/ecommerce_esmm@champion').predict(frame);"
        "print(list(out.columns), len(out), bool(((out >= 0) & (out <= 1)).all().all()))"
    )
    part = Path(stack.env["RETRAIN_DATA_ROOT"]) / "ecommerce/impressions/dt=2026-11-21/part-00000.parquet"
    env = {k: v for k, v in stack.env.items() if not k.startswith("PYTHONPATH")}
    result = subprocess.run([sys.executable, "-c", code, str(part)], env=env, cwd=stack.root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "['atc', 'ctcvr'] 50 True"


def test_reproduce_gives_the_same_metrics(stack):
    client = stack.mlflow()
    run_id = _champion(client).run_id
    retrain = str(Path(sys.executable).parent / "retrain")
    result = warm_process.run([retrain, "reproduce", run_id], env=stack.env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"run {run_id}: REPRODUCED" in result.stdout and "atc.roc_auc" in result.stdout


def test_second_run_is_gated_against_the_champion(stack):
    run_id, states = stack.run_dag("2026-11-22T04:00:00+00:00")
    assert states["gate"]["state"] == "success"
    client = stack.mlflow()
    runs = client.search_runs(
        [client.get_experiment_by_name("ecommerce_esmm").experiment_id],
        f"tags.`airflow.run_id` = '{run_id}'",
    )
    assert len(runs) == 1
    metrics = runs[0].data.metrics
    # Same data, same seed: the candidate reproduces the champion's holdout scores exactly, on rows neither
    # trained on. Identical to the champion (spec, data, metrics), it does not replace it (docs/evaluation.md).
    assert metrics["champion.atc.roc_auc"] == pytest.approx(metrics["atc.roc_auc"])
    assert metrics["gate.champion_seen_holdout_rows"] == 0
    assert runs[0].data.tags["retrain.compared_with_champion_version"] == "1"
    assert states["promote"]["state"] == "skipped" and states["reject"]["state"] == "success"
    assert "candidate is identical to the champion" in runs[0].data.tags["retrain.gate_reasons"]
    assert str(_champion(client).version) == "1"
    assert str(client.get_model_version_by_alias("ecommerce_esmm", "challenger").version) == "2"
    history = warm_process.run([Path(sys.executable).parent / "retrain", "history", "ecommerce_esmm", "--json"],
                               env=stack.env, timeout=120)
    moves = json.loads(history.stdout)
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(None, "1")]

    # The plugin's extra links resolve, from the Airflow metadata DB, to this run's MLflow run and version.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from retrain_links import MlflowRunLink, ModelVersionLink\n"
        "from airflow.models.taskinstancekey import TaskInstanceKey\n"
        f"key = TaskInstanceKey('{DAG_ID}', 'evaluate', sys.argv[2], 1)\n"
        "print(MlflowRunLink().get_link(None, ti_key=key)); print(ModelVersionLink().get_link(None, ti_key=key))\n"
    )
    links = _python_script(stack, code, str(ROOT / "plugins"), run_id)
    run_link, version_link = links.stdout.strip().splitlines()[-2:]
    assert run_link.endswith(f"/runs/{runs[0].info.run_id}") and "/#/experiments/" in run_link
    assert version_link.endswith("/#/models/ecommerce_esmm/versions/2")


def test_broken_data_fails_fast_alerts_slack_and_keeps_the_champion(stack):
    client = stack.mlflow()
    champion_before = _champion(client).version
    experiment = client.get_experiment_by_name("ecommerce_esmm").experiment_id
    runs_before = len(client.search_runs([experiment], "tags.`retrain.run_kind` = 'train'"))
    day = date(2026, 11, 22)
    table = generate_day(day, ROWS)
    bad_labels = pa.array([2] * 10 + table.column("conversion").to_pylist()[10:], type=pa.int64())
    table = table.set_column(table.schema.get_field_index("conversion"), "conversion", bad_labels)
    write_partition(table, Path(stack.env["RETRAIN_DATA_ROOT"]) / "ecommerce/impressions", day)
    stack.slack.reset()

    run_id, states = stack.run_dag("2026-11-23T03:00:00+00:00")

    assert stack.run_states[run_id] == "failed"
    assert states["check_freshness"]["state"] == "success"
    assert states["validate_data"]["state"] == "failed"
    assert states["train"]["state"] == "upstream_failed"
    assert _champion(client).version == champion_before
    assert len(client.search_runs([experiment], "tags.`retrain.run_kind` = 'train'")) == runs_before  # no training
    # only the record of the training run the contract saved (docs/costs.md), no airflow.* tags on it
    [avoided] = client.search_runs([experiment], f"tags.`retrain.avoided.airflow_run_id` = '{run_id}'")
    assert avoided.data.tags["retrain.avoided_reason"] == "data_contract"
    assert avoided.data.metrics["cost_avoided_usd"] > 0

    alerts = stack.slack.wait_for_messages(1, timeout=10)
    text = json.dumps([{"text": m.text, "blocks": m.blocks} for m in alerts])
    assert DAG_ID in text and "validate_data" in text
    assert "Data contract failed for ecommerce_esmm" in text
    assert "conversion" in text  # the column whose labels broke the contract
    assert "not retried" in text  # a broken contract fails on its first try
    assert "data_docs/index.html" in text  # the Data Docs of the rejected partition, one click away


def test_shifted_distribution_is_blocked_by_drift_against_the_champion(stack):
    """PSI of the newest partition against the champion's training data, found through the registry
    (champion alias -> run -> validation/report.json), blocks the run; the Data Docs link resolves."""
    client = stack.mlflow()
    champion = _champion(client)
    logged = json.loads(Path(client.download_artifacts(champion.run_id, "validation/report.json",
                                                       str(stack.root))).read_text())
    assert "price" in logged["reference_stats"]  # the champion carries its reference statistics
    dataset = Path(stack.env["RETRAIN_DATA_ROOT"]) / "ecommerce/impressions"
    write_partition(generate_day(date(2026, 11, 22), ROWS), dataset, date(2026, 11, 22))  # good again
    write_partition(generate_day(date(2026, 11, 23), ROWS, shift=1.0), dataset, date(2026, 11, 23))
    stack.slack.reset()

    run_id, states = stack.run_dag("2026-11-24T03:00:00+00:00")

    assert stack.run_states[run_id] == "failed"
    assert states["validate_data"]["state"] == "failed" and states["train"]["state"] == "upstream_failed"
    assert _champion(client).version == champion.version
    alerts = json.dumps([{"text": m.text, "blocks": m.blocks} for m in stack.slack.wait_for_messages(1, timeout=10)])
    assert "retrain_psi_drift" in alerts and "price" in alerts
    kept = Path(stack.env["RETRAIN_LOCAL_STATE"]) / "reports" / "ecommerce_esmm"
    [report] = [json.loads(p.read_text()) for p in kept.glob("*/dt=2026-11-23/report.json")]
    assert report["success"] is False
    assert report["drift"]["reference"].startswith(f"champion version {champion.version}")
    assert "computed from" not in report["drift"]["reference"]  # the stored reference, its digest verified
    assert report["drift"]["psi"]["price"] >= 0.25

    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from retrain_links import DataDocsLink\n"
        "from airflow.models.taskinstancekey import TaskInstanceKey\n"
        f"print(DataDocsLink().get_link(None, ti_key=TaskInstanceKey('{DAG_ID}', 'validate_data', sys.argv[2], 1)))\n"
    )
    link = _python_script(stack, code, str(ROOT / "plugins"), run_id)
    assert link.stdout.strip().splitlines()[-1].endswith("/dt%3D2026-11-23/data_docs/index.html"), link.stderr[-2000:]


def test_the_slack_token_is_in_no_mlflow_record_or_artifact(stack):
    """After a promotion, a gated retrain and a rejected partition (with alerts sent through the connection
    that holds the token), nothing MLflow keeps, neither the store nor an artifact, contains the token."""
    token = DEFAULT_TOKEN.encode()
    state = Path(stack.env["RETRAIN_LOCAL_STATE"])
    scanned = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in scanned) and any(p.name == "MLmodel" for p in scanned)
    assert [str(p) for p in scanned if token in p.read_bytes()] == []
