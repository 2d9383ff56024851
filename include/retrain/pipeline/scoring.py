"""Scoring registered versions on held-out rows: shared by the gate's evaluation and shadow mode."""

from __future__ import annotations

from retrain.config import ModelSpec


def predict_version(client, name: str, version: str, table, spec: ModelSpec, loaded_models: dict | None = None):
    """Predictions of one registered version per head, loaded only after every file matched its recorded
    digest. ``loaded_models`` (version -> model) lets a caller that scores many tables load each version once."""
    from retrain.tracking.artifacts import load_verified

    model = (loaded_models or {}).get(version)
    if model is None:
        model = load_verified(client, name, version)
        if loaded_models is not None:
            loaded_models[version] = model
    predictions = model.predict(table.select(spec.features.columns).to_pandas())
    return {head.name: predictions[head.name].to_numpy() for head in spec.heads}


def head_scores(spec: ModelSpec, labels: dict, predictions: dict) -> dict[str, dict[str, float]]:
    from retrain.training.metrics import head_metrics

    return {h.name: head_metrics(h.kind, labels[h.name], predictions[h.name]) for h in spec.heads}
