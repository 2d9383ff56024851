"""The MLflow pyfunc flavour of a ModelBundle, for batch prediction in any process.

The logged model holds no code: its ``MLmodel`` names this module as ``loader_module``, so
``mlflow.pyfunc.load_model`` imports it from the installed ``retrain`` package and calls ``_load_pyfunc``.
That checks the local copy against the digests its run recorded at training, and the bundle format
against this package, before reading a byte of the bundle. ``retrain.tracking.artifacts.load_verified_model``
also verifies ``MLmodel`` before MLflow reads it; use that for batch scoring (docs/security.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class BundlePredictor:
    """``predict(frame)`` returns one column per head, indexed like the input; a multiclass head's column is its
    likeliest class, beside ``<head>_probability_<class>`` columns."""

    def __init__(self, bundle) -> None:
        self.bundle = bundle

    def predict(self, model_input, params=None):
        import pandas as pd
        import pyarrow as pa

        from retrain.models.base import served_columns

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        table = pa.Table.from_pandas(frame[self.bundle.feature_columns], preserve_index=False)
        return pd.DataFrame(served_columns(self.bundle.config.heads, self.bundle.predict_table(table)),
                            index=frame.index)


def _model_root(data_path: Path) -> Path:
    for folder in (data_path, *data_path.parents):
        if (folder / "MLmodel").is_file():
            return folder
    raise FileNotFoundError(f"no MLmodel above {data_path}")


def _load_pyfunc(data_path: str, model_config: dict | None = None) -> BundlePredictor:
    from retrain.errors import UnusableModelError
    from retrain.models.bundle import ModelBundle
    from retrain.tracking.artifacts import (
        BUNDLE_FORMAT,
        check_mlmodel,
        is_verified_copy,
        package_version,
        verify_loaded_copy,
    )

    root = _model_root(Path(data_path))
    if not is_verified_copy(root):  # a plain mlflow.pyfunc.load_model: check it here
        verify_loaded_copy(root, check_mlmodel(root / "MLmodel", str(root)).get("run_id"))
    config = model_config or {}
    if str(config.get("bundle_format")) != str(BUNDLE_FORMAT):
        raise UnusableModelError(
            f"model bundle format {config.get('bundle_format')!r} was written by retrain "
            f"{config.get('retrain_version', 'unknown')}; this retrain {package_version()} reads format {BUNDLE_FORMAT}"
        )
    if config.get("retrain_version") != package_version():
        log.info("model trained with retrain %s, loaded by retrain %s (same bundle format %s)",
                 config.get("retrain_version"), package_version(), BUNDLE_FORMAT)
    return BundlePredictor(ModelBundle.load(data_path))
