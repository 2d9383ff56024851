"""The MLflow pyfunc flavour of a ModelBundle, for batch prediction in any process.

``mlflow.pyfunc.load_model("models:/<name>@champion").predict(frame)`` returns one column per head.
"""

from __future__ import annotations

import mlflow.pyfunc


class RetrainModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from retrain.models.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None):
        import pandas as pd
        import pyarrow as pa

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        table = pa.Table.from_pandas(frame[self.bundle.feature_columns], preserve_index=False)
        predictions = self.bundle.predict_table(table)
        return pd.DataFrame(predictions, index=frame.index)
