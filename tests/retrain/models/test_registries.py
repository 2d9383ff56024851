"""Architectures and metrics are registries: one entry makes a new one usable by specs, training and the gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from retrain.config import LoadedSpec, load_spec
from retrain.errors import SpecError
from retrain.models.base import ARCHITECTURES, Architecture, ModelConfig, build_model
from retrain.tracking.gate import decide
from retrain.training.metrics import METRICS, head_metrics

from tests.retrain.test_config import SPECS, _write


class TinyLinear(torch.nn.Module):
    """An architecture defined outside the package: one linear layer per head on the numeric inputs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleDict({h.name: torch.nn.Linear(config.n_numeric, 1) for h in config.heads})

    def forward(self, numeric, categorical):
        return {name: layer(numeric).squeeze(-1) for name, layer in self.heads.items()}


def _spec(tmp_path, architecture: str) -> LoadedSpec:
    data = yaml.safe_load((SPECS / "ecommerce_dwell_time.yaml").read_text())
    data["architecture"]["type"] = architecture
    return load_spec(_write(tmp_path, "dwell.yaml", data))


def test_one_registry_entry_makes_a_new_architecture_usable(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match=r"architecture\.type': unknown 'tiny_linear' \(known: \['esmm', 'tabular_mlp'\]\)"):
        _spec(tmp_path, "tiny_linear")
    monkeypatch.setitem(ARCHITECTURES, "tiny_linear", Architecture(f"{__name__}:TinyLinear"))
    spec = _spec(tmp_path, "tiny_linear").spec
    config = ModelConfig("tiny_linear", n_numeric=len(spec.features.numeric), cardinalities=[], heads=[])
    assert isinstance(build_model(config), TinyLinear)


def test_an_architecture_states_the_heads_it_needs(tmp_path):
    with pytest.raises(SpecError, match=r"architecture esmm needs heads of kinds \['binary', 'binary'\]"):
        _spec(tmp_path, "esmm")  # the dwell-time spec has a regression head


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, metrics in METRICS.items() for n in metrics])
def test_every_registered_metric_is_reported_and_gated_in_its_direction(kind, name):
    from retrain.config import GateSpec, HeadGate, HeadSpec

    labels, predictions = np.array([0.0, 1.0, 1.0, 0.0, 1.0]), np.array([0.2, 0.9, 0.6, 0.4, 0.3])
    if kind == "multiclass":  # one probability per class
        predictions = np.column_stack([1 - predictions, predictions])
    assert np.isfinite(head_metrics(kind, labels, predictions)[name])
    head = HeadSpec(name="hd", label="y", kind=kind, classes=["no", "yes"] if kind == "multiclass" else None)
    gate = GateSpec(heads={"hd": HeadGate(max_regression={name: 0.0})})
    better = 1.0 if METRICS[kind][name].direction == "higher" else -1.0
    champion = {"hd": {name: 0.5}}
    assert decide(gate, [head], {"hd": {name: 0.5 + 0.1 * better}}, champion, "1").promote is True
    assert decide(gate, [head], {"hd": {name: 0.5 - 0.1 * better}}, champion, "1").promote is False
