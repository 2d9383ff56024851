import numpy as np
import pytest
import torch
from retrain.data.encoding import EncodedFeatures
from retrain.errors import GpuUnavailableError
from retrain.models.base import HeadConfig, ModelConfig, build_model
from retrain.training.devices import resolve_device
from retrain.training.metrics import head_metrics, roc_auc
from retrain.training.trainer import TrainingData, fit, predict, set_seed


def _problem(rows: int = 4000):
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(rows, 2)).astype(np.float32)
    categorical = rng.integers(0, 3, size=(rows, 1)).astype(np.int64)
    y = (numeric[:, 0] + 0.5 * categorical[:, 0] + rng.normal(scale=0.5, size=rows) > 0.5).astype(np.float32)
    return EncodedFeatures(numeric, categorical), {"y": y}


def _train(seed: int, epochs: int = 3):
    features, labels = _problem()
    heads = [HeadConfig("y", "binary")]
    set_seed(seed)
    model = build_model(ModelConfig("tabular_mlp", 2, [3], heads, hidden_units=[16]))
    data = TrainingData.from_arrays(features, labels, torch.device("cpu"))
    seen = []
    history = fit(model, heads, data, epochs=epochs, batch_size=256, learning_rate=0.01, seed=seed,
                  holdout=data, on_epoch=seen.append)
    return model, history, seen, features, labels


def test_training_learns_and_reports_every_epoch():
    model, history, seen, features, labels = _train(seed=1)
    assert [r.epoch for r in seen] == [1, 2, 3] and seen == history
    assert history[-1].train_loss < history[0].train_loss
    scores = predict(model, features, torch.device("cpu"))["y"]
    assert roc_auc(labels["y"], scores) > 0.8


def test_training_is_seeded():
    first, *_ = _train(seed=5, epochs=2)
    second, *_ = _train(seed=5, epochs=2)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_metrics_match_known_values():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))
    m = head_metrics("binary", np.array([0, 1]), np.array([0.5, 0.5]))
    assert m["log_loss"] == pytest.approx(np.log(2)) and m["accuracy"] == 0.5
    r = head_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert r["mae"] == pytest.approx(2 / 3) and r["rmse"] == pytest.approx(np.sqrt(4 / 3)) and r["r2"] == pytest.approx(-1.0)


def test_a_head_learns_only_from_the_rows_that_have_its_label():
    """Rows whose label is missing (NaN) for one head add nothing to that head's loss, and metrics skip them."""
    from retrain.training.trainer import head_loss, total_loss

    features, labels = _problem(rows=2000)
    partial = labels["y"].copy()
    partial[::3] = np.nan  # a third of the rows without this head's label
    data = TrainingData.from_arrays(features, {"y": labels["y"], "late": partial}, torch.device("cpu"))
    assert set(data.labeled) == {"late"} and not torch.isnan(data.labels["late"]).any()
    head = HeadConfig("late", "binary")
    prediction = torch.full((2000,), 0.3)
    have = ~np.isnan(partial)
    expected = head_loss(head, prediction[have], torch.from_numpy(partial[have]))
    assert float(head_loss(head, prediction, data.labels["late"], labeled=data.labeled["late"])) == pytest.approx(
        float(expected))
    none_labeled = torch.zeros(2000)
    assert float(head_loss(head, prediction, data.labels["late"], labeled=none_labeled)) == 0.0

    heads = [HeadConfig("y", "binary"), head]
    set_seed(3)
    model = build_model(ModelConfig("tabular_mlp", 2, [3], heads, hidden_units=[16]))
    history = fit(model, heads, data, epochs=3, batch_size=256, learning_rate=0.01, holdout=data)
    assert all(np.isfinite([h.train_loss, h.holdout_loss]).all() for h in history)
    assert history[-1].train_loss < history[0].train_loss
    with torch.no_grad():
        assert float(total_loss(heads, model(data.numeric, data.categorical), data.labels, {}, data.labeled)) > 0
    scores = predict(model, features, torch.device("cpu"))["late"]
    metrics = head_metrics("binary", partial, scores)
    assert metrics["labeled_rows"] == int(have.sum()) and metrics["roc_auc"] == pytest.approx(
        roc_auc(partial[have], scores[have]))
    assert "labeled_rows" not in head_metrics("binary", labels["y"], scores)


def test_multiclass_metrics_on_rows_a_person_can_check():
    from retrain.training.metrics import too_good_to_be_true

    labels = np.array([0, 1, 2, 2, np.nan])  # the last row has no label: left out
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [1, 0, 0]])
    scores = head_metrics("multiclass", labels, probabilities)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["log_loss"] == pytest.approx(-np.log([0.8, 0.7, 0.7, 0.1]).mean())
    # F1: class 0 (1 right of 2 predicted, 1 true) 2/3, class 1 1.0, class 2 (1 right of 1 predicted, 2 true) 2/3
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert scores["labeled_rows"] == 4
    assert too_good_to_be_true("multiclass", {"accuracy": 1.0, "macro_f1": 1.0}) == "accuracy=1.0000"


def test_a_multiclass_head_learns_its_classes_beside_a_binary_head_with_missing_labels():
    """One probability per class, summing to 1; rows without the multiclass label train only the binary head."""
    features, labels = _problem(rows=3000)
    tier = np.digitize(features.numeric[:, 1], [-0.5, 0.5]).astype(np.float32)  # 3 classes from a feature
    tier[::4] = np.nan
    heads = [HeadConfig("y", "binary"), HeadConfig("tier", "multiclass", classes=["a", "b", "c"])]
    data = TrainingData.from_arrays(features, {"y": labels["y"], "tier": tier}, torch.device("cpu"))
    set_seed(2)
    model = build_model(ModelConfig("tabular_mlp", 2, [3], heads, hidden_units=[16]))
    history = fit(model, heads, data, epochs=4, batch_size=256, learning_rate=0.02, holdout=data)
    assert history[-1].train_loss < history[0].train_loss and np.isfinite(history[-1].holdout_loss)
    probabilities = predict(model, features, torch.device("cpu"))["tier"]
    assert probabilities.shape == (3000, 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    scores = head_metrics("multiclass", tier, probabilities)
    assert scores["labeled_rows"] == int((~np.isnan(tier)).sum()) and scores["accuracy"] > 0.8, scores


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(GpuUnavailableError, match="requires a GPU"):
            resolve_device("cuda")
