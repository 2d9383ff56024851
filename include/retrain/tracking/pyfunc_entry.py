"""MLflow "models from code" entry point: the logged model is this file plus the bundle, never a pickle."""

import mlflow.models

from retrain.tracking.pyfunc import RetrainModel

mlflow.models.set_model(RetrainModel())
