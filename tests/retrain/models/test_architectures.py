import pyarrow as pa
import torch
from retrain.data.encoding import FeatureEncoder
from retrain.models.base import HeadConfig, ModelConfig, build_model
from retrain.models.bundle import ModelBundle


def _config(arch: str, heads: list[HeadConfig]) -> ModelConfig:
    return ModelConfig(architecture=arch, n_numeric=3, cardinalities=[5, 4], heads=heads, hidden_units=[8])


def _inputs(rows: int = 16):
    return torch.randn(rows, 3), torch.randint(0, 4, (rows, 2))


def test_esmm_joint_head_never_exceeds_first_stage():
    model = build_model(_config("esmm", [HeadConfig("atc", "binary"), HeadConfig("ctcvr", "binary")]))
    out = model(*_inputs())
    assert set(out) == {"atc", "ctcvr"}
    assert torch.all(out["ctcvr"] <= out["atc"]) and torch.all((out["atc"] > 0) & (out["atc"] < 1))


def test_tabular_regression_head_is_in_label_units():
    heads = [HeadConfig("dwell", "regression", label_mean=100.0, label_std=1e-6), HeadConfig("click", "binary")]
    out = build_model(_config("tabular_mlp", heads))(*_inputs())
    assert torch.allclose(out["dwell"], torch.full((16,), 100.0), atol=1e-3)
    assert torch.all((out["click"] > 0) & (out["click"] < 1))


def test_bundle_weights_load_with_weights_only(tmp_path):
    config = _config("esmm", [HeadConfig("atc", "binary"), HeadConfig("ctcvr", "binary")])
    table = pa.table({"a": [1.0, 2.0], "b": [0.0, 1.0], "c": [3.0, 3.0], "d": ["x", "y"], "e": ["p", "q"]})
    encoder = FeatureEncoder.fit(table, ["a", "b", "c"], ["d", "e"])
    config = ModelConfig(**{**config.to_dict(), "heads": config.heads, "cardinalities": encoder.cardinalities})
    bundle = ModelBundle(config=config, encoder=encoder, model=build_model(config))
    bundle.save(tmp_path)
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = ModelBundle.load(tmp_path)
    before, after = bundle.predict_table(table), loaded.predict_table(table)
    assert all(torch.allclose(torch.from_numpy(before[k]), torch.from_numpy(after[k])) for k in before)
