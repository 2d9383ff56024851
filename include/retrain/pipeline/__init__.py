"""The pipeline's stages as plain functions. Each Airflow task calls exactly one of them.

Stages pass small JSON-friendly dicts (a snapshot, an MLflow run id, a version), never data or models.
"""
