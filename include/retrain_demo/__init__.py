"""The demos and the development harness, outside the product package ``retrain``.

``data`` generates the deterministic demo impressions, ``demo`` is `make demo`, ``demo_events`` is
`make demo-events`, and ``local_airflow`` starts a real Airflow on this machine for the demos, the
integration tests and the benchmarks. Nothing in ``retrain`` imports this package (tests/test_layers.py).
"""
