"""GPU accounting without a GPU: a fake NVML library and fake CUDA memory readings, onto a SQLite MLflow run."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from retrain.training.usage import GPU_QUEUE, PriceTable, QueuePrice, ResourceMeter

from tests.support.mlflow_db import migrated_mlflow

PEAK_BYTES = 512 * 2**20


class FakeNVML:
    """The few ``pynvml`` calls the meter makes; utilisation readings in order, then an error if ``fail``."""

    def __init__(self, readings: list[float], fail: bool = False) -> None:
        self.readings = list(readings)
        self.fail = fail
        self.handles: list[int] = []

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        self.handles.append(index)
        return f"gpu{index}"

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        assert handle == "gpu0"
        if not self.readings:
            raise RuntimeError("NVML: GPU is lost")
        return SimpleNamespace(gpu=self.readings.pop(0), memory=0)


@pytest.fixture
def fake_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: PEAK_BYTES)
    return torch.device("cuda")


def _meter(device, monkeypatch, nvml: FakeNVML | None, epochs: int) -> ResourceMeter:
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # None: "no nvidia-ml-py" (import fails)
    meter = ResourceMeter(device, queue=GPU_QUEUE, gpus=2)
    for _ in range(epochs):
        meter.epoch_done(rows=1000)
    return meter


def test_gpu_seconds_memory_and_utilisation_land_on_the_run(fake_cuda, monkeypatch, tmp_path):
    import mlflow
    from retrain.tracking.costs import log_usage

    nvml = FakeNVML([40.0, 60.0, 80.0])
    meter = _meter(fake_cuda, monkeypatch, nvml, epochs=3)
    assert nvml.handles == [0]  # one handle for the run, not one per epoch
    prices = PriceTable({GPU_QUEUE: QueuePrice(cpu_hour=3.6, gpu_hour=36.0)})
    usage = meter.usage()
    assert usage.gpus == 2 and usage.gpu_seconds == pytest.approx(usage.wall_seconds * 2)

    client = mlflow.MlflowClient(migrated_mlflow(tmp_path / "mlflow.db"))
    experiment = client.create_experiment("gpu", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    cost = log_usage(client, run_id, usage, prices)
    m = client.get_run(run_id).data.metrics
    assert m["resources.gpu_seconds"] == pytest.approx(usage.gpu_seconds)
    assert m["resources.gpu_hours"] == pytest.approx(usage.gpu_seconds / 3600)
    assert m["resources.peak_gpu_memory_mb"] == 512
    assert m["resources.gpu_utilization_pct"] == pytest.approx(60.0)  # the mean of the epochs' readings
    assert m["resources.epochs"] == 3 and m["resources.rows"] == 1000
    assert m["cost_usd"] == pytest.approx(cost) == pytest.approx(
        usage.cpu_seconds * 0.001 + usage.gpu_seconds * 0.01)
    saved = mlflow.artifacts.load_dict(f"{client.get_run(run_id).info.artifact_uri}/costs/usage.json")
    assert saved["gpu_utilization_pct"] == pytest.approx(60.0) and saved["peak_gpu_memory_mb"] == 512
    assert saved["prices"] == {"cpu_hour": 3.6, "gpu_hour": 36.0}


def test_nvml_lost_mid_run_keeps_the_readings_so_far(fake_cuda, monkeypatch):
    meter = _meter(fake_cuda, monkeypatch, FakeNVML([30.0, 50.0]), epochs=4)
    usage = meter.usage()
    assert usage.gpu_utilization_pct == pytest.approx(40.0) and usage.epochs == 4
    assert usage.peak_gpu_memory_mb == 512


def test_without_nvidia_ml_py_there_is_no_utilisation_figure_but_the_rest(fake_cuda, monkeypatch):
    usage = _meter(fake_cuda, monkeypatch, None, epochs=2).usage()
    assert usage.gpu_utilization_pct is None and "resources.gpu_utilization_pct" not in usage.metrics(PriceTable())
    assert usage.gpu_seconds > 0 and usage.peak_gpu_memory_mb == 512


def test_a_cpu_worker_records_no_gpu_figures(monkeypatch):
    import torch

    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML([99.0]))
    meter = ResourceMeter(torch.device("cpu"), queue=GPU_QUEUE, gpus=2)
    meter.epoch_done(rows=10)
    usage = meter.usage()
    assert (usage.gpus, usage.gpu_seconds, usage.peak_gpu_memory_mb, usage.gpu_utilization_pct) == (0, 0.0, 0.0, None)
