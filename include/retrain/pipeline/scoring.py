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
    return {head.name: class_probabilities(predictions, head, version) if head.kind == "multiclass"
            else predictions[head.name].to_numpy() for head in spec.heads}


def class_probabilities(predictions, head, version: str):
    """A multiclass head's (rows, classes) probabilities, in the order of the spec's classes."""
    import numpy as np

    from retrain.errors import UnusableModelError
    from retrain.models.base import probability_column

    columns = [probability_column(head.name, c) for c in head.classes]
    missing = [c for c, column in zip(head.classes, columns, strict=True) if column not in predictions.columns]
    if missing:  # trained before the spec's classes changed: it cannot be scored on the same terms
        raise UnusableModelError(f"version {version} predicts no probability for the classes {missing[:10]} of "
                                 f"head '{head.name}' (it was trained with other classes)")
    return np.column_stack([predictions[column].to_numpy(np.float64) for column in columns])


def head_scores(spec: ModelSpec, labels: dict, predictions: dict) -> dict[str, dict[str, float]]:
    from retrain.training.metrics import head_metrics

    return {h.name: head_metrics(h.kind, labels[h.name], predictions[h.name]) for h in spec.heads}
