"""Which specs a parse of the DAG file must build.

The dag-processor builds every spec's DAG. A task process parses the same file only to find its own task:
Airflow sets ``get_parsing_context().dag_id`` then (Airflow docs, "Dynamic DAG generation: optimizing DAG
parsing delays during execution"), and building the other DAGs would cost every task start 9-19 ms per
spec in the folder (docs/benchmarks.md, "Parsing"). So for a task only the spec of that DAG is loaded:
first the file whose name gives the DAG id (``<name>.yaml`` for ``retrain_<name>``, the convention of
include/specs/), and only when that file is missing or names another model, every spec as before.
"""

from __future__ import annotations

from pathlib import Path

from retrain.config import BrokenSpec, LoadedSpec, discover_specs, load_spec
from retrain.errors import SpecError


def parsing_dag_id() -> str | None:
    """The DAG a task process parses for; None in the dag-processor and elsewhere (build every DAG)."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def dag_id_of(item: LoadedSpec | BrokenSpec) -> str:
    return item.dag_id if isinstance(item, BrokenSpec) else item.spec.dag_id


def specs_to_build(specs_dir: str | Path, dag_id: str | None = None) -> list[LoadedSpec | BrokenSpec]:
    """Every spec, or, for a task of DAG ``dag_id`` (the parsing context's by default), only its spec."""
    dag_id = dag_id if dag_id is not None else parsing_dag_id()
    if not dag_id:
        return discover_specs(specs_dir)
    candidates = _candidates(Path(specs_dir), dag_id)
    if len(candidates) == 1:  # x.yaml beside x.yml is a clash: only the full parse settles it
        try:
            item = load_spec(candidates[0])
        except SpecError:
            item = None  # a broken file may lose its id to a valid one: the full parse decides
        if item is not None and item.spec.dag_id == dag_id:
            return [item]
    everything = discover_specs(specs_dir)  # the file name does not follow the model name: look at all
    return [item for item in everything if dag_id_of(item) == dag_id] or everything


def _candidates(specs_dir: Path, dag_id: str) -> list[Path]:
    stem = dag_id.removeprefix("retrain_")
    return [path for path in (specs_dir / f"{stem}.yaml", specs_dir / f"{stem}.yml") if path.is_file()]
