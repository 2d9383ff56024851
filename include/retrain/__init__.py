"""retrain: keep PyTorch models fresh. The logic behind the Airflow DAGs, testable without Airflow."""

__version__ = "0.1.0"
