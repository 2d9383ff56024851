"""MLflow tag names that one module writes and another reads (run tags unless noted)."""

MODEL = "retrain.model"
MODEL_URI = "retrain.model_uri"  # the logged model; a retry of the train task reuses it
ARTIFACT_SHA256 = "retrain.artifact_sha256"  # run and model version: sha256 of the model's files
DATA_FINGERPRINT = "retrain.data_fingerprint"
SPEC_SHA256 = "retrain.spec_sha256"
GATE_DECISION = "retrain.gate_decision"  # run and model version: promote | reject
CHALLENGER_VERSION = "retrain.challenger_version"
SEGMENT = "retrain.segment"
DATA_WARNINGS = "retrain.data_warnings"  # the data contract's warnings (JSON list of lines)
TRAINING_NOTE = "retrain.training_note"  # why a candidate may have learnt little (too few optimizer steps)
EVALUATION_NOTE = "retrain.evaluation_note"  # a holdout score too good to be true (a feature may carry the label)
