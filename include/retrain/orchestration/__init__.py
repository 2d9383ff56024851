"""Airflow glue: the DAG factory, retry policy and callbacks. The only part of the package that imports Airflow."""
