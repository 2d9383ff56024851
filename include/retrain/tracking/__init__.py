"""MLflow: runs, the logged model, the registry and the promotion gate."""
