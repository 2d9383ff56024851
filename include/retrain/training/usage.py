"""What a training run used and what it cost: a meter read at start, at epoch boundaries and at the end.

Reading the meter costs a few system calls (``time.process_time``, ``getrusage``), never a sampling thread,
so accounting stays far below 1% of training time (``python -m bench accounting``). MLflow's system metrics
(psutil, and nvidia-ml-py on a GPU worker) sample the machine on their own thread beside it.

Prices come from the settings' price table (``RETRAIN_PRICES``): per worker queue, a price per CPU-hour
(CPU seconds the process used) and per GPU-hour (wall time on the GPUs it held). See docs/costs.md.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"


@dataclass(frozen=True)
class QueuePrice:
    cpu_hour: float = 0.0
    gpu_hour: float = 0.0


@dataclass(frozen=True)
class PriceTable:
    """USD per CPU-hour and per GPU-hour for each worker queue. An unknown queue is priced as ``default``."""

    queues: dict[str, QueuePrice] = field(default_factory=lambda: {
        DEFAULT_QUEUE: QueuePrice(cpu_hour=0.04),
        GPU_QUEUE: QueuePrice(cpu_hour=0.04, gpu_hour=2.50),
    })

    def for_queue(self, queue: str) -> QueuePrice:
        return self.queues.get(queue) or self.queues.get(DEFAULT_QUEUE) or QueuePrice()

    @classmethod
    def parse(cls, raw: str | None) -> PriceTable:
        """From ``RETRAIN_PRICES``: inline JSON or the path of a JSON/YAML file,
        ``{"default": {"cpu_hour": 0.04}, "gpu": {"cpu_hour": 0.04, "gpu_hour": 2.5}}``. Empty: the defaults."""
        if not raw or not raw.strip():
            return cls()
        text = raw if raw.lstrip().startswith("{") else Path(raw).read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            import yaml

            data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"RETRAIN_PRICES: expected a mapping of queue -> prices, got {type(data).__name__}")
        queues = {}
        for queue, prices in data.items():
            unknown = set(prices) - {"cpu_hour", "gpu_hour"}
            if unknown:
                raise ValueError(f"RETRAIN_PRICES: queue {queue!r} has unknown keys {sorted(unknown)} "
                                 "(known: cpu_hour, gpu_hour)")
            queues[str(queue)] = QueuePrice(**{k: float(v) for k, v in prices.items()})
        return cls(queues)


@dataclass(frozen=True)
class Usage:
    """Resources one training run used. GPU figures are zero on a CPU worker."""

    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    rows: int
    epochs: int
    queue: str = DEFAULT_QUEUE
    gpus: int = 0
    gpu_seconds: float = 0.0
    peak_gpu_memory_mb: float = 0.0
    gpu_utilization_pct: float | None = None

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600

    def cost_usd(self, prices: PriceTable) -> float:
        price = prices.for_queue(self.queue)
        return self.cpu_seconds / 3600 * price.cpu_hour + self.gpu_hours * price.gpu_hour

    def metrics(self, prices: PriceTable) -> dict[str, float]:
        """MLflow metrics: ``resources.*`` and ``cost_usd``."""
        out = {f"resources.{k}": float(v) for k, v in asdict(self).items()
               if k not in ("queue", "gpus") and v is not None}
        out["resources.gpu_hours"] = self.gpu_hours
        out["cost_usd"] = self.cost_usd(prices)
        return out


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (getrusage: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class ResourceMeter:
    """Wall time, CPU seconds and peak memory from ``start()`` on; on CUDA also GPU time, peak GPU memory
    and the GPU's utilisation, sampled at each ``epoch_done()`` through NVML (when nvidia-ml-py is there)."""

    def __init__(self, device=None, queue: str = DEFAULT_QUEUE, gpus: int = 1) -> None:
        self.cuda = device is not None and getattr(device, "type", str(device)) == "cuda"
        self.queue = queue
        self.gpus = gpus if self.cuda else 0
        self.epochs = 0
        self.rows = 0
        self._utilization: list[float] = []
        self._nvml_handle = None
        self.start()

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
            self._nvml_handle = _nvml_handle()

    def elapsed_seconds(self) -> float:
        return time.perf_counter() - self._wall0

    def epoch_done(self, rows: int) -> None:
        self.epochs += 1
        self.rows = rows
        if self._nvml_handle is not None:
            try:
                import pynvml

                self._utilization.append(float(pynvml.nvmlDeviceGetUtilizationRates(self._nvml_handle).gpu))
            except Exception:  # NVML gone mid-run: utilisation is simply not reported
                self._nvml_handle = None

    def usage(self) -> Usage:
        wall = self.elapsed_seconds()
        gpu_memory = 0.0
        if self.cuda:
            import torch

            gpu_memory = torch.cuda.max_memory_allocated() / 2**20
        return Usage(
            wall_seconds=wall,
            cpu_seconds=time.process_time() - self._cpu0,
            peak_memory_mb=_peak_rss_mb(),
            rows=self.rows,
            epochs=self.epochs,
            queue=self.queue,
            gpus=self.gpus,
            gpu_seconds=wall * self.gpus,
            peak_gpu_memory_mb=gpu_memory,
            gpu_utilization_pct=sum(self._utilization) / len(self._utilization) if self._utilization else None,
        )


def _nvml_handle():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no nvidia-ml-py or no driver: no utilisation figure
        return None


@dataclass(frozen=True)
class Budget:
    """``resources.max_minutes`` and ``resources.max_cost_usd`` of one run."""

    max_minutes: float | None
    max_cost_usd: float | None
    prices: PriceTable

    def exceeded(self, meter: ResourceMeter, epochs_left: int) -> str | None:
        """Why training must stop now, at this epoch boundary, or None. It stops when the budget is spent or
        when one more epoch, at the mean cost of the epochs so far, would overrun it."""
        if epochs_left <= 0 or (self.max_minutes is None and self.max_cost_usd is None):
            return None
        usage = meter.usage()
        per_epoch = 1 / max(meter.epochs, 1)
        if self.max_minutes is not None:
            spent = usage.wall_seconds / 60
            if spent + spent * per_epoch > self.max_minutes:
                return (f"over budget: {spent:.2f} of resources.max_minutes {self.max_minutes:g} minutes spent "
                        f"after {meter.epochs} epochs; the next epoch would exceed it")
        if self.max_cost_usd is not None:
            cost = usage.cost_usd(self.prices)
            if cost + cost * per_epoch > self.max_cost_usd:
                return (f"over budget: ${cost:.6f} of resources.max_cost_usd ${self.max_cost_usd:g} spent "
                        f"after {meter.epochs} epochs; the next epoch would exceed it")
        return None
