"""Where a spec's training task runs, the Airflow way: task attributes from ``resources``.

* CeleryExecutor: ``queue="gpu"``; only GPU workers consume it (``airflow celery worker --queues gpu``).
* KubernetesExecutor: ``executor_config={"pod_override": V1Pod}`` asking for ``nvidia.com/gpu``.
* LocalExecutor: the queue is ignored and the task runs locally.
* The ``gpu`` pool bounds how many GPU trainings run at once, whatever the executor. Create it once:
  ``airflow pools set gpu <number of GPUs> "GPU trainings"``. A task in a pool that does not exist is
  never scheduled, so create the pool before enabling a GPU spec.

Nothing heavy is imported: this runs at DAG parse time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from retrain.config import ModelSpec

GPU_QUEUE = "gpu"
GPU_POOL = "gpu"
GPU_RESOURCE = "nvidia.com/gpu"


def train_task_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Operator arguments for a training task: its timeout, and queue/pool/executor_config for GPU specs."""
    resources = spec.resources
    kwargs: dict[str, Any] = {"execution_timeout": train_timeout(spec)}
    if resources.gpu == "none":
        return kwargs
    kwargs.update({"queue": GPU_QUEUE, "pool": GPU_POOL, "pool_slots": resources.gpus})
    pod = gpu_pod_override(resources.gpus, resources.memory_gb)
    if pod is not None:
        kwargs["executor_config"] = {"pod_override": pod}
    return kwargs


def train_timeout(spec: ModelSpec) -> timedelta:
    """``RETRAIN_TRAIN_TIMEOUT_MINUTES``; with a time budget (``resources.max_minutes``, at which training stops
    at an epoch boundary) twice the budget plus 30 minutes, room for the last epoch and the upload."""
    from retrain.settings import get_settings

    budget = spec.resources.max_minutes
    return timedelta(minutes=2 * budget + 30) if budget else get_settings().train_timeout


def gpu_pod_override(gpus: int, memory_gb: float | None):
    """A V1Pod for KubernetesExecutor whose ``base`` container requests the GPUs (and memory). None when the
    kubernetes client is not installed: then no KubernetesExecutor can run here either, and the queue and
    pool still route the task under Celery."""
    try:
        from kubernetes.client import models as k8s
    except ImportError:  # kubernetes client not installed (it is not one of our dependencies)
        return None
    limits = {GPU_RESOURCE: str(gpus)}
    requests = {GPU_RESOURCE: str(gpus)}
    if memory_gb is not None:
        limits["memory"] = requests["memory"] = f"{memory_gb:g}Gi"
    return k8s.V1Pod(
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="base", resources=k8s.V1ResourceRequirements(limits=limits, requests=requests)
                )
            ],
            tolerations=[k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")],
        )
    )


def worker_queue(spec: ModelSpec) -> str:
    """The Celery queue the train task goes to, which is also the row of the price table it is charged at."""
    return spec.resources.worker_queue
