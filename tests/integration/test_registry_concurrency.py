"""Champion moves against a real MLflow tracking server backed by this machine's PostgreSQL.

Several promotions race for the same model: exactly one wins, the others are refused with a clear
reason, and the champion, previous-champion and history agree. Rollback is recorded too.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from retrain.cli import main as cli_main
from retrain.tracking import registry
from retrain.tracking.lineage import file_sha256
from retrain.tracking.tags import ARTIFACT_SHA256
from retrain_demo.postgres import database_url, drop_database, psql

from tests.support.services import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    database = f"retrain_registry_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}")  # `make services` installs and starts PostgreSQL
    backend = database_url(database, driver="postgresql")
    try:
        with MlflowServer(backend, tmp_path_factory.mktemp("mlflow-server")) as server:
            yield server.url
    finally:
        drop_database(database)


@pytest.fixture
def client(mlflow_server, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


def _model_with_versions(client, count: int, files: Path) -> str:
    name = f"race_{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    experiment = client.create_experiment(name)
    for index in range(count):  # real files with their recorded digests: rollback verifies its target
        run = client.create_run(experiment)
        folder = files / f"{name}-{index}"
        folder.mkdir()
        (folder / "weights.pt").write_bytes(b"\x00weights" + bytes([index]))
        (folder / "model_config.json").write_text("{}")
        sums = {p.name: file_sha256(p) for p in folder.iterdir()}
        client.log_artifacts(run.info.run_id, str(folder), "model")
        client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                    tags={ARTIFACT_SHA256: json.dumps(sums)})
    return name


def test_concurrent_promotions_leave_one_consistent_champion(client, tmp_path):
    name = _model_with_versions(client, 6, tmp_path)
    registry.move_champion(client, name, "1", expected_current=None, actor="setup", reason="first")

    def contender(version: str) -> str:
        try:
            registry.move_champion(client, name, version, expected_current="1", actor=f"run-{version}",
                                   reason="beat version 1")
            return f"won:{version}"
        except registry.PromotionConflict as conflict:
            return f"refused:{conflict}"

    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(contender, ["2", "3", "4", "5", "6"]))

    winners = [o.split(":")[1] for o in outcomes if o.startswith("won:")]
    assert len(winners) == 1, outcomes
    assert all("champion moved to version" in o for o in outcomes if o.startswith("refused:"))
    assert client.get_model_version_by_alias(name, "champion").version == winners[0]
    assert client.get_model_version_by_alias(name, "previous-champion").version == "1"
    moves = registry.history(client, name)
    assert [(m.from_version, m.to_version) for m in moves] == [(None, "1"), ("1", winners[0])]
    assert moves[1].actor == f"run-{winners[0]}"
    # The lock is released: no "<name>--promotion-lock" model is left behind.
    assert not client.search_registered_models(f"name = '{name}{registry.LOCK_SUFFIX}'")


def test_rollback_and_history_from_the_cli(client, capsys, tmp_path):
    name = _model_with_versions(client, 3, tmp_path)
    registry.move_champion(client, name, "1", expected_current=None, actor="airflow:a", reason="first")
    registry.move_champion(client, name, "2", expected_current="1", actor="airflow:b", reason="better")

    assert cli_main(["rollback", name, "--reason", "bad predictions in prod"]) == 0
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version_by_alias(name, "previous-champion").version == "2"

    assert cli_main(["rollback", name, "--to", "3", "--reason", "hotfix"]) == 0
    assert client.get_model_version_by_alias(name, "champion").version == "3"
    assert "Downloading artifacts" not in capsys.readouterr().err  # no progress bar per verified download

    capsys.readouterr()
    assert cli_main(["history", name]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert "2 -> 1" in lines[2] and "rollback: bad predictions in prod" in lines[2] and "by cli:" in lines[2]
    assert "1 -> 3" in lines[3] and "rollback: hotfix" in lines[3]

    assert cli_main(["rollback", name, "--to", "99", "--reason", "typo"]) == 2
    assert client.get_model_version_by_alias(name, "champion").version == "3"


def test_stale_lock_is_taken_over(client, tmp_path):
    name = _model_with_versions(client, 2, tmp_path)
    client.create_registered_model(f"{name}{registry.LOCK_SUFFIX}", tags={"holder": "dead", "expires_at": "0"})
    move = registry.move_champion(client, name, "2", expected_current=None, actor="x", reason="after crash")
    assert move.to_version == "2"


def test_a_model_card_longer_than_the_registrys_description_column_still_lands(client, tmp_path):
    """MLflow keeps a version's description in a 5,000-character column, and PostgreSQL enforces it: a card with
    a slice table for 40 countries failed the promotion's write. The description now holds the card without
    the slice table (and says where it is); the run's model_card.md keeps all of it."""
    from mlflow.exceptions import MlflowException
    from retrain.tracking.model_card import SLICE_SECTION, set_card

    name = _model_with_versions(client, 1, tmp_path)
    slices = [f"| country={c:02d} | 120 | {head} | {metric} | 0.7{c:02d}0 |"
              for c in range(40) for head in ("atc", "ctcvr") for metric in ("roc_auc", "log_loss")]
    card = "\n".join(["# model, version 1", "", "## Gate decision", "", "promoted", "", SLICE_SECTION, "",
                      "| slice | rows | head | metric | value |", "| --- | --- | --- | --- | --- |", *slices, "",
                      "## Lineage", "", "data: dt=2026-11-01..dt=2026-11-28", ""])
    assert len(card) > 5000
    with pytest.raises(MlflowException):  # what the promotion met
        client.update_model_version(name, "1", description=card)

    set_card(client, name, "1", card)

    written = client.get_model_version(name, "1").description
    assert len(written) <= 5000 and written.startswith("# model, version 1\n\n## Gate decision")
    assert f"{SLICE_SECTION}\n\n160 rows, in the run's `model_card.md` and `evaluation/slices.json`." in written
    assert written.endswith("## Lineage\n\ndata: dt=2026-11-01..dt=2026-11-28\n")
    set_card(client, name, "1", "x\n" * 4000)  # no slice table to move: cut at a line, saying so
    assert client.get_model_version(name, "1").description.endswith("the whole card is the run's `model_card.md`._")


def test_a_long_reason_or_approver_note_is_shortened_in_the_history_not_lost_with_it(client, tmp_path):
    """A history entry is a registered model tag (5,000 characters in PostgreSQL). It is written after the alias
    moved, so an entry too long for the column would leave a champion that no history explains."""
    name = _model_with_versions(client, 2, tmp_path)
    registry.move_champion(client, name, "1", expected_current=None, actor="setup", reason="first")
    pasted = "the candidate's holdout looked fine to me; " * 150  # 6,300 characters
    registry.move_champion(client, name, "2", expected_current="1", reason="all thresholds met",
                           actor=f"ana (approved in the Airflow UI: {pasted}; airflow:retrain_m/manual__1)")

    assert client.get_model_version_by_alias(name, "champion").version == "2"
    moves = registry.history(client, name)
    assert [(m.from_version, m.to_version) for m in moves] == [(None, "1"), ("1", "2")]
    assert moves[1].actor.startswith("ana (approved in the Airflow UI: the candidate's") and moves[1].actor.endswith(" …")
    assert moves[1].reason == "all thresholds met" and registry.outside_move(client, name) is None
