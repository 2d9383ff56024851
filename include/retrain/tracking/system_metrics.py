"""MLflow's system metrics (``system/*``: CPU, memory, disk, network; GPUs through NVML) on a run.

``mlflow.start_run(log_system_metrics=True)`` with one fixed cost per run less: when the run ends, MLflow's
sampler thread reads the run back from the store (a new client and a query) before it looks at the stop
signal, and ``finish()`` waits for that. Here the thread stops as soon as it is signalled; the samples it
publishes are the same (docs/benchmarks.md, accounting overhead).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.tracking.client import MlflowClient

log = logging.getLogger(__name__)


class Monitor(SystemMetricsMonitor):
    def monitor(self) -> None:
        """MLflow 3.17's sampling loop, except that the stop signal ends it before the run is read back."""
        while not self._shutdown_event.is_set():
            for _ in range(self.samples_before_logging):
                self.collect_metrics()
                if self._shutdown_event.wait(self.sampling_interval):
                    return
                try:
                    run = MlflowClient(self._tracking_uri).get_run(self._run_id)
                except Exception as exc:
                    log.warning("Failed to get mlflow run: %s.", exc)
                    return
                if run.info.status != "RUNNING" or self._shutdown_event.is_set():
                    return
            try:
                self.publish_metrics(self.aggregate_metrics())
            except Exception as exc:
                log.warning("Failed to log system metrics: %s, this is expected if the run is already terminated.",
                            exc)
                return


@contextmanager
def system_metrics(run_id: str, resume: bool = False) -> Iterator[None]:
    """Sample the machine onto run ``run_id`` while the block runs, as ``log_system_metrics=True`` does
    (``resume``: continue the run's ``system/*`` steps). A monitor that cannot start is logged, not raised."""
    monitor: Monitor | None
    try:
        monitor = Monitor(run_id, resume_logging=resume)
        monitor.start()
    except Exception as exc:  # as MLflow: no reason to fail training
        log.error("Failed to start system metrics monitoring: %s.", exc)
        monitor = None
    try:
        yield
    finally:
        if monitor is not None:
            monitor.finish()
