from pathlib import Path

import pytest
import yaml
from retrain.config import BrokenSpec, LoadedSpec, discover_specs, load_spec
from retrain.errors import SpecError

SPECS = Path(__file__).resolve().parents[2] / "include" / "specs"


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _demo_spec() -> dict:
    return yaml.safe_load((SPECS / "ecommerce_esmm.yaml").read_text())


def test_shipped_specs_load():
    found = discover_specs(SPECS)
    assert found and all(isinstance(item, LoadedSpec) for item in found)
    esmm = next(item.spec for item in found if item.spec.name == "ecommerce_esmm")
    assert [h.name for h in esmm.heads] == ["atc", "ctcvr"]
    assert esmm.dag_id == "retrain_ecommerce_esmm"


def test_invalid_field_names_file_and_field(tmp_path):
    data = _demo_spec()
    data["training"]["learning_rate"] = -1
    path = _write(tmp_path, "bad.yaml", data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value)
    assert "training.learning_rate" in str(err.value)
    assert err.value.fields == ["training.learning_rate"]


def test_missing_required_section_is_named(tmp_path):
    data = _demo_spec()
    del data["data"]["freshness"]
    with pytest.raises(SpecError, match=r"data\.freshness"):
        load_spec(_write(tmp_path, "nofresh.yaml", data))


def test_unknown_gate_metric_is_rejected(tmp_path):
    data = _demo_spec()
    data["gate"]["heads"]["atc"]["thresholds"] = {"rmse": {"max": 1.0}}
    with pytest.raises(SpecError, match="unknown metric 'rmse' for a binary head"):
        load_spec(_write(tmp_path, "gate.yaml", data))


def test_gate_for_unknown_head_is_rejected(tmp_path):
    data = _demo_spec()
    data["gate"]["heads"]["ctr"] = {"thresholds": {"roc_auc": {"min": 0.5}}}
    with pytest.raises(SpecError, match="no head named 'ctr'"):
        load_spec(_write(tmp_path, "gate.yaml", data))


def test_label_used_as_feature_is_rejected(tmp_path):
    data = _demo_spec()
    data["features"]["numeric"].append("conversion")
    with pytest.raises(SpecError, match="field 'features': label columns also used as features") as caught:
        load_spec(_write(tmp_path, "leak.yaml", data))
    assert caught.value.fields == ["features"]  # the UI placeholder and the alert point at the field, not <root>


@pytest.mark.parametrize("thresholds, why", [
    ({"roc_auc": {"min": 0.9, "max": 0.1}}, r"field 'gate.heads.atc.thresholds.roc_auc': min 0.9 is above max 0.1"),
    ({"roc_auc": {"min": 1.5}}, r"field 'gate.heads.atc.thresholds.roc_auc': min 1.5 can never be met: roc_auc is at most 1"),
    ({"log_loss": {"max": -0.1}}, r"thresholds.log_loss': max -0.1 can never be met: log_loss is at least 0"),
])
def test_a_threshold_no_candidate_can_ever_meet_is_refused(tmp_path, thresholds, why):
    """Such a gate rejects every candidate forever while the runs look healthy."""
    data = _demo_spec()
    data["gate"]["heads"]["atc"]["thresholds"] = thresholds
    with pytest.raises(SpecError, match=why) as caught:
        load_spec(_write(tmp_path, "gate.yaml", data))
    metric = next(iter(thresholds))
    assert caught.value.fields == [f"gate.heads.atc.thresholds.{metric}"]  # the field, not '<root>'
    assert f"field 'gate.heads.atc.thresholds.{metric}': " in str(caught.value) and "Value error" not in str(caught.value)


@pytest.mark.parametrize("rule, hint", [("max_regression", "min_improvement"), ("min_improvement", "max_regression")])
def test_a_negative_margin_is_refused_pointing_at_the_rule_that_means_it(tmp_path, rule, hint):
    data = _demo_spec()
    data["gate"]["heads"]["atc"][rule] = {"roc_auc": -0.01}
    with pytest.raises(SpecError, match=rf"field 'gate.heads.atc.{rule}.roc_auc': -0.01 is negative.*{hint}"):
        load_spec(_write(tmp_path, "gate.yaml", data))


def test_a_feature_listed_twice_is_refused(tmp_path):
    data = _demo_spec()
    data["features"]["numeric"].append(data["features"]["numeric"][0])
    with pytest.raises(SpecError, match=rf"features listed more than once: \['{data['features']['numeric'][0]}'\]"):
        load_spec(_write(tmp_path, "twice.yaml", data))


def test_a_holdout_key_on_a_label_is_refused(tmp_path):
    """Hashing the label puts all rows of one label value on the same side: a holdout of one class."""
    data = _demo_spec()
    data["data"]["holdout_key"] = ["conversion"]
    with pytest.raises(SpecError, match=r"field 'data.holdout_key': \['conversion'\] is a label"):
        load_spec(_write(tmp_path, "key.yaml", data))


def test_a_positive_label_value_is_text_and_only_for_binary_heads(tmp_path):
    data = _demo_spec()
    data["heads"][0]["positive"] = 2  # a 1/2 code
    assert load_spec(_write(tmp_path, "code.yaml", data)).spec.heads[0].positive == "2"
    text = _write(tmp_path, "yes.yaml", data).read_text().replace("positive: 2", "positive: yes")  # unquoted
    (tmp_path / "yes.yaml").write_text(text)
    with pytest.raises(SpecError, match=r"field 'heads\[0\]\.positive'.*write it in quotes"):
        load_spec(tmp_path / "yes.yaml")
    data = yaml.safe_load((SPECS / "ecommerce_dwell_time.yaml").read_text())
    data["heads"][0]["positive"] = "long"  # the regression head
    with pytest.raises(SpecError, match="only a binary head has a positive value"):
        load_spec(_write(tmp_path, "regression.yaml", data))


def test_a_multiclass_head_lists_its_classes_as_text(tmp_path):
    data = yaml.safe_load((SPECS / "ecommerce_dwell_time.yaml").read_text())
    data["gate"]["heads"].pop(data["heads"][0]["name"], None)
    data.pop("tuning", None)
    data["heads"][0] = {"name": "tier", "label": "plan", "kind": "multiclass", "classes": [1, " 2", "gold"]}
    data["gate"]["heads"]["tier"] = {"thresholds": {"macro_f1": {"min": 0.3}}, "max_regression": {"log_loss": 0.01}}
    head = load_spec(_write(tmp_path, "tier.yaml", data)).spec.heads[0]
    assert head.classes == ["1", "2", "gold"]  # compared as trimmed text, as the label column is read
    for classes, message in ((None, "a multiclass head lists its label's values in classes"),
                             (["a", "a ", "b"], r"listed twice \(as trimmed text\): \['a'\]"),
                             (["a", " "], "one is blank"),
                             (["a", "b\x1b[2J"], "printable text of at most 200 characters"),
                             (["only"], "at least 2 items"),
                             (["a", True], "write yes/no/true/false in quotes")):
        data["heads"][0]["classes"] = classes
        with pytest.raises(SpecError, match=r"field 'heads\[0\]"):
            load_spec(_write(tmp_path, "tier.yaml", data))
        with pytest.raises(SpecError, match=message):
            load_spec(_write(tmp_path, "tier.yaml", data))
    data["heads"][0]["classes"] = ["a", "b", "c"]
    data["gate"]["heads"]["tier"] = {"thresholds": {"roc_auc": {"min": 0.7}}}
    with pytest.raises(SpecError, match=r"unknown metric 'roc_auc' for a multiclass head \(known: \['accuracy', "
                                        r"'log_loss', 'macro_f1'\]\)"):
        load_spec(_write(tmp_path, "tier.yaml", data))
    data["gate"]["heads"] = {}
    data["heads"][1] = {"name": "tier_probability_a", "label": "click", "kind": "binary"}
    with pytest.raises(SpecError, match=r"served predictions would hold \['tier_probability_a'\] twice"):
        load_spec(_write(tmp_path, "tier.yaml", data))
    data = _demo_spec()
    data["heads"][0]["classes"] = ["0", "1"]  # a binary head
    with pytest.raises(SpecError, match="only a multiclass head has classes"):
        load_spec(_write(tmp_path, "binary.yaml", data))


def test_typo_in_key_is_rejected(tmp_path):
    data = _demo_spec()
    data["trainig"] = data.pop("training")
    with pytest.raises(SpecError, match="trainig"):
        load_spec(_write(tmp_path, "typo.yaml", data))


def test_bad_yaml_and_bad_cron(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(broken)
    data = _demo_spec()
    data["schedule"]["cron"] = "every day"
    with pytest.raises(SpecError, match=r"schedule\.cron"):
        load_spec(_write(tmp_path, "cron.yaml", data))


def test_one_broken_spec_does_not_hide_the_others(tmp_path):
    _write(tmp_path, "good.yaml", _demo_spec())
    bad = _demo_spec()
    bad["heads"] = []
    _write(tmp_path, "bad_model.yaml", bad)
    found = discover_specs(tmp_path)
    assert [type(item) for item in found] == [BrokenSpec, LoadedSpec]
    assert found[0].dag_id == "retrain_bad_model"
    assert "heads" in str(found[0].error)


def test_alerts_notifiers_default_to_the_deployment_and_take_the_known_names(tmp_path):
    assert load_spec(SPECS / "ecommerce_esmm.yaml").spec.alerts.notifiers is None  # RETRAIN_NOTIFIERS decides
    data = _demo_spec()
    data["alerts"]["notifiers"] = ["log", "slack"]
    assert load_spec(_write(tmp_path, "both.yaml", data)).spec.alerts.notifiers == ["log", "slack"]


@pytest.mark.parametrize("names", [["log", "pigeon"], []], ids=["unknown", "empty"])
def test_an_unknown_or_empty_notifier_list_is_a_spec_error_naming_the_field(tmp_path, names):
    data = _demo_spec()
    data["alerts"]["notifiers"] = names
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, "pigeon.yaml", data))
    assert "alerts.notifiers" in str(err.value)
    if names:
        assert err.value.fields == ["alerts.notifiers[1]"] and "'slack' or 'log'" in str(err.value)


def test_the_spec_knows_every_notifier_and_no_other():
    import typing

    from retrain.alerts.notifiers import NOTIFIERS
    from retrain.config import AlertSpec

    [listed, _none] = typing.get_args(AlertSpec.model_fields["notifiers"].annotation)
    assert set(typing.get_args(typing.get_args(listed)[0])) == set(NOTIFIERS)


def test_a_tag_airflow_cannot_store_is_named_when_the_spec_loads(tmp_path):
    """Airflow refuses DAG tags over 100 characters (its dag_tag column); the spec names the field instead of the
    DAG build failing with "tag cannot be longer than 100 characters" and no field."""
    data = _demo_spec()
    data["tags"] = ["demo", "owned-by-" + "growth-" * 20]
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, "long_tag.yaml", data))
    assert err.value.fields == ["tags[1]"] and "at most 100 characters" in str(err.value)


def test_segment_values_written_as_numbers_name_the_segments_the_data_gives(tmp_path):
    """Store codes written as YAML numbers (``values: [10000, 10001]``) were refused with "Input should be a valid
    string"; they mean the segments an integer (or whole-number double) column gives, which are named '10000'."""
    data = _demo_spec()
    data["segments"] = {"column": "hour_of_day", "values": [7, 8.0, True, "DE"]}
    spec = load_spec(_write(tmp_path, "seg.yaml", data)).spec
    assert spec.segments.values == ["7", "8", "true", "DE"]
    data["segments"]["values"] = [7, 7.0]
    with pytest.raises(SpecError, match=r"segments.values.*'7' twice"):
        load_spec(_write(tmp_path, "twice.yaml", data))


def test_a_key_written_twice_is_refused_naming_it_and_both_lines(tmp_path):
    """YAML keeps the last of two equal keys: a second ``gate:`` (an edit appended below the first) silently
    dropped the thresholds above it, and the model was promoted on the defaults."""
    text = (SPECS / "ecommerce_esmm.yaml").read_text() + "gate:\n  approval: never\n"
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("gate:"))
    last = len(text.splitlines()) - 1
    with pytest.raises(SpecError, match=rf"key 'gate' appears twice \(lines {first} and {last}\)"):
        load_spec(path)
    nested = tmp_path / "nested.yaml"
    nested.write_text(text.replace("gate:\n  approval: never\n", "").replace(
        "training:\n", "training:\n  epochs: 3\n  epochs: 4\n", 1))
    with pytest.raises(SpecError, match=r"key 'epochs' appears twice"):
        load_spec(nested)


def test_merge_keys_still_let_a_mapping_override_what_it_merges(tmp_path):
    text = (SPECS / "ecommerce_esmm.yaml").read_text().replace(
        "training:\n  epochs: 4\n", "training:\n  <<: {epochs: 2, weight_decay: 0.5}\n  epochs: 4\n", 1)
    path = tmp_path / "merge.yaml"
    path.write_text(text)
    training = load_spec(path).spec.training
    assert (training.epochs, training.weight_decay) == (4, 0.5)
