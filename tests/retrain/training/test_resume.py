"""Resumable training: a checkpoint every epoch; a retry resumes and ends with the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from retrain.data.encoding import EncodedFeatures
from retrain.models.base import HeadConfig, ModelConfig, build_model
from retrain.training import checkpoints
from retrain.training.trainer import TrainingData, fit, set_seed

from tests.support import warm_process
from tests.support.mlflow_db import migrated_mlflow

HEADS = [HeadConfig("y", "binary")]


def _data() -> TrainingData:
    rng = np.random.default_rng(3)
    numeric = rng.normal(size=(3000, 3)).astype(np.float32)
    categorical = rng.integers(0, 4, size=(3000, 1)).astype(np.int64)
    y = (numeric[:, 0] - 0.3 * categorical[:, 0] + rng.normal(scale=0.5, size=3000) > 0).astype(np.float32)
    return TrainingData.from_arrays(EncodedFeatures(numeric, categorical), {"y": y}, torch.device("cpu"))


def _fit(data, epochs=4, checkpoint_dir=None, on_epoch=None):
    set_seed(11)
    # dropout consumes the torch CPU RNG, so resuming must restore it too
    model = build_model(ModelConfig("tabular_mlp", 3, [5], HEADS, hidden_units=[16, 8], dropout=0.2))
    history = fit(model, HEADS, data, epochs=epochs, batch_size=128, learning_rate=0.01, seed=11,
                  holdout=data, checkpoint_dir=checkpoint_dir, on_epoch=on_epoch)
    return model, history


class _Crash(Exception):
    pass


def test_interrupted_fit_resumes_to_identical_weights(tmp_path):
    data = _data()
    reference, reference_history = _fit(data)

    def crash_after_two(result):
        if result.epoch == 2:
            raise _Crash

    with pytest.raises(_Crash):
        _fit(data, checkpoint_dir=tmp_path, on_epoch=crash_after_two)
    state = checkpoints.load_checkpoint(tmp_path)
    assert state["epoch"] == 2 and set(state) >= {"model", "optimizer", "torch_rng", "permutation_rng", "best_metric"}
    seen = []
    resumed, history = _fit(data, checkpoint_dir=tmp_path, on_epoch=seen.append)
    assert [r.epoch for r in seen] == [3, 4]  # epochs 1-2 are not trained again
    assert [r.epoch for r in history] == [1, 2, 3, 4]
    assert [r.train_loss for r in history] == [r.train_loss for r in reference_history]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_checkpoint_write_is_atomic_and_weights_only(tmp_path):
    checkpoints.save_checkpoint(tmp_path, {"epoch": 1, "w": torch.ones(2)})
    checkpoints.save_checkpoint(tmp_path, {"epoch": 2, "w": torch.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary files left
    assert checkpoints.load_checkpoint(tmp_path)["epoch"] == 2
    assert checkpoints.load_checkpoint(tmp_path / "missing") is None
    # anything that is not plain data is refused at load time
    torch.save({"epoch": 3, "obj": _Crash()}, tmp_path / "last.pt")
    with pytest.raises(Exception, match="Weights only load failed"):
        checkpoints.load_checkpoint(tmp_path)


def test_checkpoint_folder_is_keyed_by_mlflow_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRAIN_CHECKPOINT_DIR", str(tmp_path))
    assert checkpoints.checkpoint_dir_for_run("abc123") == tmp_path / "abc123"


def _child(tmp: Path, state: str, airflow_run_id: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    out = tmp / f"out-{state}"
    out.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "RETRAIN_LOCAL_STATE": str(tmp / state),
        "RETRAIN_DATA_ROOT": str(tmp / "data"),
        "MLFLOW_TRACKING_URI": migrated_mlflow(tmp / state / "mlflow.db"),
        "PYTHONHASHSEED": "0",
    }
    env.pop("RETRAIN_CHECKPOINT_DIR", None)
    (tmp / state).mkdir(exist_ok=True)
    args = [Path(__file__).with_name("resume_child.py"), out, airflow_run_id]
    if kill_after is not None:
        args.append(kill_after)
    return warm_process.run(args, env=env, timeout=300)


@pytest.mark.slow
def test_sigkilled_training_task_resumes_in_the_same_mlflow_run(tmp_path):
    import mlflow

    whole = _child(tmp_path, "whole", "scheduled__2026-03-08")
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = _child(tmp_path, "killed", "scheduled__2026-03-08", kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    left = list((tmp_path / "killed" / "checkpoints").glob("*/last.pt"))
    assert len(left) == 1 and torch.load(left[0], weights_only=True)["epoch"] == 2

    retry = _child(tmp_path, "killed", "scheduled__2026-03-08")
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "resuming training after epoch 2 of 4" in retry.stderr

    expected = torch.load(tmp_path / "out-whole" / "weights.pt", weights_only=True)
    resumed = torch.load(tmp_path / "out-killed" / "weights.pt", weights_only=True)
    for name, tensor in expected.items():
        assert torch.equal(tensor, resumed[name]), name

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'killed' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    result = json.loads((tmp_path / "out-killed" / "result.json").read_text())
    assert result["run_id"] == runs[0].info.run_id
    steps = [m.step for m in client.get_metric_history(result["run_id"], "train_loss")]
    assert sorted(steps) == [1, 2, 3, 4]
    assert not (tmp_path / "killed" / "checkpoints" / result["run_id"]).exists()  # cleaned once the model is logged
