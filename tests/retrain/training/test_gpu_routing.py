"""GPU routing: a spec's resources decide the train task's queue, pool and pod, and the device it trains on."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import pytest
import torch
from retrain.config import load_spec
from retrain.errors import GpuUnavailableError
from retrain.orchestration import resources
from retrain.training.devices import resolve_device
from retrain.training.trainer import autocast_dtype

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"


def _loaded(**resources_):
    loaded = load_spec(SPEC)
    spec = loaded.spec.model_copy(update={"resources": loaded.spec.resources.model_copy(update=resources_)})
    return dataclasses.replace(loaded, spec=spec)


def _train_task(loaded):
    from retrain.orchestration.dag_factory import build_dag

    return build_dag(loaded).get_task("train")


def test_cpu_spec_keeps_the_default_queue_and_pool():
    task = _train_task(_loaded())
    assert task.queue == "default" and task.pool == "default_pool" and not task.executor_config


@pytest.mark.parametrize("gpu", ["preferred", "required"])
def test_gpu_spec_goes_to_the_gpu_queue_and_pool(gpu):
    task = _train_task(_loaded(gpu=gpu, gpus=2, memory_gb=24))
    assert (task.queue, task.pool, task.pool_slots) == ("gpu", "gpu", 2)
    # only the train task moves; the data checks stay on ordinary workers
    dag = task.dag
    assert dag.get_task("evaluate").queue == "default" and dag.get_task("evaluate").pool == "default_pool"


def test_a_training_budget_bounds_the_train_task(monkeypatch):
    """With resources.max_minutes, training stops at an epoch boundary before the budget; the task's timeout
    leaves room for the last epoch and the upload, and catches a run that hangs instead."""
    from datetime import timedelta

    assert _train_task(_loaded(max_minutes=20)).execution_timeout == timedelta(minutes=70)
    monkeypatch.setenv("RETRAIN_TRAIN_TIMEOUT_MINUTES", "90")
    assert _train_task(_loaded()).execution_timeout == timedelta(minutes=90)
    assert _train_task(_loaded(max_minutes=600)).execution_timeout == timedelta(minutes=1230)


def test_kubernetes_pod_override_requests_the_gpu(monkeypatch):
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        # not a dependency of ours: without the client, no pod override (and no KubernetesExecutor either)
        assert resources.gpu_pod_override(1, 8) is None
        assert "executor_config" not in resources.train_task_kwargs(_loaded(gpu="required").spec)
        return
    pod = resources.gpu_pod_override(1, 8)
    container = pod.spec.containers[0]
    assert container.name == "base" and container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests["memory"] == "8Gi"


def test_pod_override_is_built_when_the_kubernetes_client_exists(monkeypatch):
    """With a stand-in kubernetes client module, the pod asks for nvidia.com/gpu in the base container."""
    import types

    class _Model:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    models = types.SimpleNamespace(**{name: type(name, (_Model,), {}) for name in
                                      ["V1Pod", "V1PodSpec", "V1Container", "V1ResourceRequirements", "V1Toleration"]})
    client = types.ModuleType("kubernetes.client")
    client.models = models
    package = types.ModuleType("kubernetes")
    package.client = client
    monkeypatch.setitem(sys.modules, "kubernetes", package)
    monkeypatch.setitem(sys.modules, "kubernetes.client", client)
    kwargs = resources.train_task_kwargs(_loaded(gpu="required", gpus=1, memory_gb=16).spec)
    container = kwargs["executor_config"]["pod_override"].spec.containers[0]
    assert container.name == "base"
    assert container.resources.limits == {"nvidia.com/gpu": "1", "memory": "16Gi"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour of a worker without a GPU")
def test_device_choice_without_cuda(caplog):
    with pytest.raises(GpuUnavailableError, match="requires a GPU.*'gpu' queue"):
        resolve_device("auto", gpu="required")
    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto", gpu="preferred").type == "cpu"
    assert "training on the CPU" in caplog.text
    assert resolve_device("auto", gpu="none").type == "cpu"
    assert autocast_dtype(torch.device("cpu")) is None  # full precision on the CPU


def test_contradictory_settings_are_refused():
    with pytest.raises(ValueError, match="contradicts"):
        resolve_device("cpu", gpu="required")


def test_mixed_precision_dtype_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(torch.device("cuda")) == torch.float16
