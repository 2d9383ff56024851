"""One spec file can take no other model's DAG down or over, and reads nothing outside its roots.

Each test writes the attacking or careless file next to a valid spec and checks what Airflow would get:
the valid DAG unchanged, and a placeholder DAG (tag ``invalid-spec``) whose description names the file(s)
and the field. Catalogue: docs/security.md, "Model specs".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from retrain.config import BrokenSpec, LoadedSpec, discover_specs, load_spec
from retrain.errors import DeterministicFailure, PathNotAllowedError, SpecError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "include" / "specs" / "ecommerce_esmm.yaml"


def _spec(**changes) -> dict:
    data = yaml.safe_load(DEMO.read_text())
    data.update(changes)
    return data


def _write(folder: Path, file_name: str, data: dict | str) -> Path:
    path = folder / file_name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _build(folder: Path, monkeypatch) -> dict:
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(folder))
    from retrain.orchestration.dag_factory import build_all

    return build_all()


def _serialize_all(dags: dict) -> None:
    """What the dag-processor does with each DAG; one failure there marks the whole DAG file broken."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dags.values():
        DagSerialization.to_dict(dag)


def _placeholder(dags: dict, dag_id: str):
    dag = dags[dag_id]
    assert "invalid-spec" in dag.tags, f"{dag_id} is not a placeholder"
    return dag


# -- schedules: checked at load, not when Airflow serializes the DAG -----------------------------------------


@pytest.mark.parametrize(
    "schedule, field",
    [
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "schedule.timezone"),
        ({"cron": "0 3 * * *", "timezone": "../../etc/passwd"}, "schedule.timezone"),
        ({"cron": "99 * * * *"}, "schedule.cron"),
        ({"cron": "0 3 * * 8"}, "schedule.cron"),
        ({"cron": "0 3 31 2 *"}, "schedule.cron"),  # February 31st: never fires
        ({"cron": "@fortnightly"}, "schedule.cron"),
        ({"cron": "0 3 * * *", "start_date": "2026-13-45"}, "schedule.start_date"),
    ],
    ids=["unknown-tz", "tz-path", "minute-99", "weekday-8", "feb-31", "unknown-preset", "bad-start-date"],
)
def test_bad_schedule_is_that_specs_placeholder_only(tmp_path, monkeypatch, schedule, field):
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    _write(tmp_path, "mars.yaml", _spec(name="mars", schedule=schedule))
    dags = _build(tmp_path, monkeypatch)
    _serialize_all(dags)  # raised SerializationError for the whole file before
    assert len(dags["retrain_ecommerce_esmm"].tasks) == 11
    broken = _placeholder(dags, "retrain_mars")
    assert "mars.yaml" in broken.description and field in broken.description


def test_presets_and_real_timezones_still_load(tmp_path):
    for cron, tz in [("@daily", "Europe/Berlin"), ("@quarterly", "UTC"), ("30 2 * * 1-5", "America/New_York")]:
        path = _write(tmp_path, "ok.yaml", _spec(schedule={"cron": cron, "timezone": tz}))
        assert load_spec(path).spec.schedule.timezone == tz


# -- DAG id clashes: no file silently replaces another's DAG --------------------------------------------------


def test_two_specs_with_one_name_run_neither_and_name_both_files(tmp_path, monkeypatch):
    _write(tmp_path, "a.yaml", _spec(name="churn"))
    _write(tmp_path, "b.yaml", _spec(name="churn", owner="someone-else"))
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    dags = _build(tmp_path, monkeypatch)
    _serialize_all(dags)
    clash = _placeholder(dags, "retrain_churn")
    assert "a.yaml" in clash.description and "b.yaml" in clash.description
    assert len(dags["retrain_ecommerce_esmm"].tasks) == 11


def test_copy_of_a_spec_cannot_take_over_the_model_named_after_its_file(tmp_path, monkeypatch):
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    _write(tmp_path, "aaa_takeover.yaml", _spec(owner="attacker", description="hijacked"))  # sorts first
    dags = _build(tmp_path, monkeypatch)
    _serialize_all(dags)
    real = dags["retrain_ecommerce_esmm"]
    assert "invalid-spec" not in real.tags and real.owner != "attacker" and "hijacked" not in real.doc_md
    clash = _placeholder(dags, "retrain_aaa_takeover.yaml")
    assert "aaa_takeover.yaml" in clash.description and "ecommerce_esmm.yaml" in clash.description


def test_broken_yml_beside_valid_yaml_keeps_the_valid_dag(tmp_path, monkeypatch):
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    _write(tmp_path, "ecommerce_esmm.yml", "name: [unclosed\n")
    dags = _build(tmp_path, monkeypatch)
    _serialize_all(dags)
    assert "invalid-spec" not in dags["retrain_ecommerce_esmm"].tags
    assert len(dags["retrain_ecommerce_esmm"].tasks) == 11
    broken = _placeholder(dags, "retrain_ecommerce_esmm.yml")
    assert "ecommerce_esmm.yml" in broken.description and "ecommerce_esmm.yaml" in broken.description
    assert "not valid YAML" in broken.description


def test_broken_spec_named_like_another_models_file_does_not_hide_it(tmp_path, monkeypatch):
    # valid churn_v2.yaml defines model "churn"; a broken churn.yaml used to overwrite retrain_churn
    _write(tmp_path, "churn_v2.yaml", _spec(name="churn"))
    _write(tmp_path, "churn.yaml", _spec(name="churn", heads=[]))
    dags = _build(tmp_path, monkeypatch)
    _serialize_all(dags)
    assert "invalid-spec" not in dags["retrain_churn"].tags and len(dags["retrain_churn"].tasks) == 11
    broken = _placeholder(dags, "retrain_churn.yaml")
    assert "churn.yaml" in broken.description and "churn_v2.yaml" in broken.description
    assert "heads" in broken.description


def test_broken_copy_with_a_new_file_name_names_the_model_it_clashes_with(tmp_path, monkeypatch):
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    _write(tmp_path, "esmm_next.yaml", _spec(training={"epochs": "many"}))
    dags = _build(tmp_path, monkeypatch)
    assert "invalid-spec" not in dags["retrain_ecommerce_esmm"].tags
    broken = _placeholder(dags, "retrain_esmm_next")
    assert "training.epochs" in broken.description and "ecommerce_esmm.yaml" in broken.description


def test_spec_cannot_take_over_a_landing_dag(tmp_path, monkeypatch):
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    _write(tmp_path, "land.yaml", _spec(name="land_ecommerce_impressions"))
    found = discover_specs(tmp_path)
    broken = [item for item in found if isinstance(item, BrokenSpec)]
    assert [b.path.name for b in broken] == ["land.yaml"] and "reserved for landing DAGs" in str(broken[0].error)


@pytest.mark.parametrize(
    "name",
    ["churn; rm -rf /", "../churn", "Churn", "churn\nowner: x", "x" * 80, "retrain.churn", "<script>"],
)
def test_names_that_would_inject_into_dag_ids_are_refused(tmp_path, name):
    with pytest.raises(SpecError, match=r"field 'name'"):
        load_spec(_write(tmp_path, "x.yaml", _spec(name=name)))


# -- paths: data and suites stay inside their roots ------------------------------------------------------------


def _data_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "data"
    (root / "ecommerce" / "impressions").mkdir(parents=True)
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(root))
    return root


@pytest.mark.parametrize("location", ["../../outside", "ecommerce/../../outside", "/etc", "/tmp"])
def test_data_location_outside_the_data_root_is_a_spec_error(tmp_path, monkeypatch, location):
    _data_root(tmp_path, monkeypatch)
    data = _spec()
    data["data"] = {**data["data"], "location": location}
    with pytest.raises(SpecError, match=r"field 'data.location'.*outside the allowed folders"):
        load_spec(_write(tmp_path, "x.yaml", data))


def test_symlink_out_of_the_data_root_is_refused(tmp_path, monkeypatch):
    root = _data_root(tmp_path, monkeypatch)
    outside = tmp_path / "secret-data"
    outside.mkdir()
    (root / "ecommerce" / "leak").symlink_to(outside, target_is_directory=True)
    data = _spec()
    data["data"] = {**data["data"], "location": "ecommerce/leak"}
    with pytest.raises(SpecError, match=r"data.location.*outside"):
        load_spec(_write(tmp_path, "x.yaml", data))
    # and at run time, should the link appear after the spec loaded
    from retrain.settings import get_settings

    with pytest.raises(PathNotAllowedError) as caught:
        get_settings().resolve_data_path("ecommerce/leak")
    assert isinstance(caught.value, DeterministicFailure)  # fails fast, not retried


def test_an_operator_can_allow_an_extra_data_root(tmp_path, monkeypatch):
    _data_root(tmp_path, monkeypatch)
    shared = tmp_path / "nfs" / "impressions"
    shared.mkdir(parents=True)
    data = _spec()
    data["data"] = {**data["data"], "location": str(shared)}
    path = _write(tmp_path, "x.yaml", data)
    with pytest.raises(SpecError):
        load_spec(path)
    monkeypatch.setenv("RETRAIN_EXTRA_DATA_ROOTS", os.pathsep.join(["/nonexistent", str(tmp_path / "nfs")]))
    assert load_spec(path).spec.data.location == str(shared)


@pytest.mark.parametrize(
    "suite", ["/etc/passwd", "../../../etc/passwd", "expectations/../../pyproject.toml", "specs/ecommerce_esmm.yaml"]
)
def test_suite_outside_the_expectations_folder_is_a_spec_error(tmp_path, suite):
    data = _spec()
    data["validation"] = {**data["validation"], "suite": suite}
    with pytest.raises(SpecError, match=r"field 'validation.suite'.*outside the allowed folders"):
        load_spec(_write(tmp_path, "x.yaml", data))


def test_missing_suite_is_a_spec_error_at_load(tmp_path, monkeypatch):
    data = _spec()
    data["validation"] = {**data["validation"], "suite": "expectations/nope.yaml"}
    _write(tmp_path, "nosuite.yaml", data)
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    found = discover_specs(tmp_path)
    assert [type(i) for i in found] == [LoadedSpec, BrokenSpec]
    assert "validation.suite" in str(found[1].error) and "no expectation suite file" in str(found[1].error)


# -- hostile YAML ---------------------------------------------------------------------------------------------


def test_python_object_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = DEMO.read_text() + f'\nowner: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(_write(tmp_path, "evil.yaml", text))
    assert not marker.exists()


def test_alias_bomb_is_refused_without_expanding_it(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["name: bomb", "tags: *a8"]  # 10^9 strings once expanded
    with pytest.raises(SpecError, match="expands to more than"):
        load_spec(_write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))


def test_huge_spec_file_is_refused_before_parsing(tmp_path):
    text = DEMO.read_text() + "description: |\n" + ("  " + "x" * 1000 + "\n") * 1000
    with pytest.raises(SpecError, match="bytes, more than"):
        load_spec(_write(tmp_path, "huge.yaml", text))


def test_unknown_fields_are_refused(tmp_path):
    with pytest.raises(SpecError, match=r"field 'run_as_root'"):
        load_spec(_write(tmp_path, "x.yaml", _spec(run_as_root=True)))


def test_a_partition_outside_the_data_root_is_never_announced(tmp_path, monkeypatch, capsys):
    from datetime import date

    import pyarrow as pa
    from retrain.data.landing import write_partition
    from retrain.orchestration import announce

    _data_root(tmp_path, monkeypatch)
    write_partition(pa.table({"x": [1]}), tmp_path / "outside", date(2026, 11, 21))  # complete, with marker
    posted = []

    class RecordingApi:  # stands in for the Airflow REST API: must never be called
        def post_asset_event(self, uri, extra):
            posted.append((uri, extra))
            return {}

    with pytest.raises(PathNotAllowedError, match="outside the allowed folders"):
        announce.announce_partition(RecordingApi(), "../outside", date(2026, 11, 21))
    monkeypatch.setattr(announce.AirflowApi, "login", classmethod(lambda cls, *a: RecordingApi()))
    assert announce.main(["../outside", "2026-11-21", "--password", "x"]) == 2
    assert "not announced" in capsys.readouterr().err and posted == []


def test_a_dag_that_fails_to_build_keeps_its_own_id_and_hides_no_other(tmp_path, monkeypatch):
    # churn_v2.yaml defines model churn, other.yaml a model named churn_v2: the stem-based id was taken
    _write(tmp_path, "churn_v2.yaml", _spec(name="churn"))
    _write(tmp_path, "other.yaml", _spec(name="churn_v2"))
    from retrain.orchestration import dag_factory

    real_build = dag_factory.build_dag

    def build(loaded):
        if loaded.spec.name == "churn":
            raise RuntimeError("operator import failed")
        return real_build(loaded)

    monkeypatch.setattr(dag_factory, "build_dag", build)
    dags = _build(tmp_path, monkeypatch)
    assert "invalid-spec" not in dags["retrain_churn_v2"].tags and len(dags["retrain_churn_v2"].tasks) == 11
    broken = _placeholder(dags, "retrain_churn")
    assert "churn_v2.yaml" in broken.description and "operator import failed" in broken.description


def test_a_spec_cannot_take_over_a_segment_model_or_the_segments_experiment(tmp_path, monkeypatch):
    # a segmented spec 'stores' registers 'stores__ny' for value 'ny' and logs to experiment 'stores__segments';
    # a spec named either would share its registry history, its champion and its runs
    _write(tmp_path, "ecommerce_esmm.yaml", _spec())
    for name in ("ecommerce_esmm__de", "ecommerce_esmm__segments"):
        _write(tmp_path, f"{name}.yaml", _spec(name=name))
    broken = sorted((b for b in discover_specs(tmp_path) if isinstance(b, BrokenSpec)), key=lambda b: b.path.name)
    assert [b.path.name for b in broken] == ["ecommerce_esmm__de.yaml", "ecommerce_esmm__segments.yaml"]
    assert all("'__' is reserved" in str(b.error) and "field 'name'" in str(b.error) for b in broken)


def test_an_expectation_suite_alias_bomb_is_refused_without_expanding_it(tmp_path):
    from retrain.validation.suite import load_suite

    # the suite is read by validate_data on a worker: walking 10^9 aliased values would hold that worker
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["name: bomb", "expectations:",
              "  - {expect: column_values_to_be_in_set, column: store, value_set: *a8}"]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError, match=r"bomb\.yaml: expectation suite expands to more than 1000000 values"):
        load_suite(tmp_path / "bomb.yaml")
    stores = "[" + ", ".join(str(i) for i in range(20_000)) + "]"  # a real value set of 20,000 ids still loads
    (tmp_path / "stores.yaml").write_text(
        f"name: stores\nexpectations:\n  - {{expect: column_values_to_be_in_set, column: store, value_set: {stores}}}\n")
    assert len(load_suite(tmp_path / "stores.yaml").expectations[0].kwargs["value_set"]) == 20_000


@pytest.mark.parametrize("output, why", [
    ("../../outside", r"field 'scoring.output'.*outside the allowed folders"),
    ("ecommerce/impressions", r"field 'scoring.output'.*overlaps the model's own input data \(data.location: "),
    ("ecommerce", r"field 'scoring.output'.*overlaps the model's own input data \(data.location: "),
])
def test_a_scoring_output_outside_the_data_root_or_over_the_input_is_a_spec_error(tmp_path, monkeypatch, output, why):
    """Checked only when the scoring task ran before; the input case would have landed predictions as the
    newest input partition's part-00000.parquet."""
    _data_root(tmp_path, monkeypatch)
    data = _spec(scoring={"output": output})
    with pytest.raises(SpecError, match=why) as caught:
        load_spec(_write(tmp_path, "x.yaml", data))
    assert caught.value.fields == ["scoring.output"]
    assert load_spec(_write(tmp_path, "y.yaml", _spec(scoring={"output": "predictions/esmm"}))).spec.scoring
